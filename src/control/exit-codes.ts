// Exit codes are API: scripts, systemd (RestartPreventExitStatus) and fleet tools branch on them.
// They belong to the control protocol: the daemon answers with them and the CLI exits with them.
// docs/operations.md holds the same table.
export const ExitCode = {
  ok: 0,
  failed: 1, // the daemon refused or rolled back what was asked (reload), or the operation failed
  notRunning: 3, // no daemon answers on the control socket
  denied: 4, // the daemon refused this user
  stillRunning: 5, // reload --timeout: stopped waiting; the reload goes on in the daemon (a timeout is never success)
  usage: 100, // bad command line or invalid config (`supervisor check` says so): retrying will not help
  unfit: 101, // a valid config this host or unit cannot run as written (socket activation passed other sockets, a lossless mode the kernel lacks, a permission refuses a port or path): retrying will not help
  system: 111, // the system refused something for now (port in use, address not up yet, out of resources): may pass later
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

// The codes that mean "starting again will fail the same way": the units' RestartPreventExitStatus=
// lists exactly these, so systemd does not restart into the same error forever.
export const PERMANENT_EXIT_CODES: readonly ExitCodeValue[] = [ExitCode.usage, ExitCode.unfit];
