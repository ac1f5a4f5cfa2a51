// Exit codes are API: scripts, systemd (RestartPreventExitStatus) and fleet tools branch on them.
// They belong to the control protocol: the daemon answers with them and the CLI exits with them.
// docs/operations.md holds the same table.
export const ExitCode = {
  ok: 0,
  failed: 1, // the daemon refused or rolled back what was asked (reload), or the operation failed
  notRunning: 3, // no daemon answers on the control socket
  denied: 4, // the daemon refused this user
  stillRunning: 5, // reload --timeout: stopped waiting; the reload goes on in the daemon (a timeout is never success)
  usage: 100, // bad command line or invalid config: retrying will not help
  system: 111, // the system refused something (port in use, socket not creatable): may pass later
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
