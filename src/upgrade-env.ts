/**
 * The environment variable that names the fd of the state `supervisor upgrade` hands to the
 * program it execs (src/daemon/upgrade/). Here, apart, so the CLI can tell an exec'd daemon from a
 * fresh one before it loads the daemon.
 */
export const HANDOVER_FD_ENV = 'SUPERVISOR_UPGRADE_STATE_FD';
