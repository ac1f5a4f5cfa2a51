/*
 * supervisor-shim COMMAND [ARGS...]
 *
 * Every worker starts through this shim, which then execs the worker in place (same pid):
 * - sd_listen_fds() in systemd, Go and Python accepts the inherited fds only if LISTEN_PID equals
 *   its own pid, which a Node parent cannot know before spawning. The shim knows: it sets
 *   LISTEN_PID to getpid() and execs, so the worker sees its own pid.
 * - PR_SET_PDEATHSIG(SIGKILL) survives exec, so a worker dies with the supervisor instead of
 *   holding the port as an orphan nobody supervises.
 *
 * Exit codes: 127 the command was not found (126: found but not executable), like a shell;
 * 1 the supervisor died before the shim armed PDEATHSIG; 100 usage. No output on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *errno_name(int error) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(error);
  if (name != NULL) return name;
#endif
  switch (error) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case ENOEXEC: return "ENOEXEC";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case ETXTBSY: return "ETXTBSY";
    default: return "unknown errno";
  }
}

/* The parent may have died between fork and prctl; then no signal will ever come. */
static int parent_is_gone(void) {
  const char *expected = getenv("SUPERVISOR_PID");
  if (expected == NULL || *expected == '\0') return 0;
  char *end = NULL;
  long pid = strtol(expected, &end, 10);
  if (*end != '\0' || pid <= 0) return 0; /* not a pid: nothing to compare against */
  return (long)getppid() != pid;
}

static void set_listen_pid(void) {
  char pid[24];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  if (setenv("LISTEN_PID", pid, 1) != 0) {
    fprintf(stderr, "supervisor-shim: cannot set LISTEN_PID: %s (%s)\n", strerror(errno),
            errno_name(errno));
    _exit(111);
  }
}

/* SUPERVISOR_NICE: a worker warms up at lower CPU priority, so its start-up does not take CPU from
 * the workers serving; the supervisor restores every thread to 0 once it is ready. Set before exec
 * so every thread the program starts inherits it. Best effort: a failure leaves the nice value. */
static void apply_warmup_nice(void) {
  const char *text = getenv("SUPERVISOR_NICE");
  if (text == NULL) return;
  int nice_value = atoi(text);
  unsetenv("SUPERVISOR_NICE");
  if (nice_value > 0 && nice_value < 20) setpriority(PRIO_PROCESS, 0, nice_value);
}

/* SUPERVISOR_AUTOGROUP_NICE: with the kernel's autogroup on, the worker's session (a group of its own)
 * is ranked by the group's nice, not by thread nice values. Written here, before exec, the program's
 * start-up runs at the warming priority from its first instruction; the supervisor raises it step
 * by step from there. Best effort: without CAP_SYS_ADMIN the kernel takes one such write per 100 ms
 * (EAGAIN), and the supervisor's own write follows anyway. */
static void apply_autogroup_nice(void) {
  const char *text = getenv("SUPERVISOR_AUTOGROUP_NICE");
  if (text == NULL) return;
  int nice_value = atoi(text);
  unsetenv("SUPERVISOR_AUTOGROUP_NICE");
  if (nice_value <= 0 || nice_value >= 20) return;
  int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  char value[8];
  int length = snprintf(value, sizeof value, "%d", nice_value);
  if (write(fd, value, (size_t)length) < 0) { /* best effort */ }
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: supervisor-shim COMMAND [ARGS...]\n", stderr);
    return 100;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    fprintf(stderr, "supervisor-shim: prctl(PR_SET_PDEATHSIG) failed: %s (%s)\n", strerror(errno),
            errno_name(errno));
    _exit(111);
  }
  if (parent_is_gone()) _exit(1);
  if (getenv("LISTEN_FDS") != NULL) set_listen_pid();
  apply_warmup_nice();
  apply_autogroup_nice();

  execvp(argv[1], argv + 1);

  int error = errno;
  fprintf(stderr, "supervisor-shim: cannot execute '%s': %s (%s)\n", argv[1], strerror(error),
          errno_name(error));
  _exit(error == EACCES || error == ENOEXEC ? 126 : 127);
}
