// A worker in C that keeps the whole worker contract (docs/worker-contract.md), for apps that are
// not Node and for measuring the supervisor with a worker that needs no warm-up: a compiled
// program serves at full speed from its first request, where a JIT runtime spends its first
// seconds compiling.
//
//   supervisor config:  command: [/path/to/build/Release/hello-worker]   socket: reuseport or shared
//
// It serves the listening sockets handed over at fds 3.. (LISTEN_FDS, LISTEN_PID), says READY=1 on
// NOTIFY_SOCKET, answers every request with a short text, and drains on SUPERVISOR_DRAIN_SIGNAL:
// close the listeners, answer each connection's next request with "Connection: close" (from a
// moment drawn within SUPERVISOR_DRAIN_SPREAD_MS), leave idle keep-alive connections open, exit 0
// when the last one is gone or just before SUPERVISOR_DRAIN_TIMEOUT_MS.
//
//   GET /         -> hello from pid <pid>, version <APP_VERSION or "dev">, generation <gen>
//   GET /healthz  -> ok
//
// One thread and epoll, like one Node process. Requests may carry a Content-Length body (read
// and ignored); chunked request bodies are refused with 411.
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define MAX_LISTENERS 16
#define MAX_EVENTS 128
#define IN_CAPACITY 16384
#define ACCEPTS_PER_WAKE 64 // bounded so that one busy listener does not starve the connections

struct connection {
  int fd;
  char in[IN_CAPACITY];
  size_t in_length;
  char *out; // unsent response bytes (only when a write would block)
  size_t out_length;
  size_t out_sent;
  int64_t close_after_ms; // draining: responses from this moment on say "Connection: close"
  int closing; // the last response said "Connection: close": close once it is sent
};

static const char *version;
static const char *generation;
static int epoll_fd;
static int listeners[MAX_LISTENERS];
static int listener_count;
static int open_connections;
static int draining;
static int64_t drain_started_ms;
static int64_t drain_deadline_ms;
static int64_t drain_spread_ms;

static void fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("hello-worker: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t env_ms(const char *name, int64_t fallback) {
  const char *text = getenv(name);
  if (!text || !*text) return fallback;
  char *end;
  long long value = strtoll(text, &end, 10);
  if (*end || value < 0) fail("%s=%s is not a whole number of milliseconds; unset it or fix the supervisor config", name, text);
  return value;
}

static int signal_number(const char *name) {
  static const struct { const char *name; int number; } known[] = {
    {"SIGTERM", SIGTERM}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT}, {"SIGHUP", SIGHUP},
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGWINCH", SIGWINCH},
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(name, known[i].name) == 0) return known[i].number;
  }
  fail("SUPERVISOR_DRAIN_SIGNAL=%s is not one this worker handles (SIGTERM SIGINT SIGQUIT SIGHUP SIGUSR1 SIGUSR2 SIGWINCH); change drain.signal", name);
  return -1;
}

// sd_notify: one datagram to NOTIFY_SOCKET; a leading '@' names the abstract namespace.
static void notify_ready(void) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  size_t length = strlen(path);
  if (length >= sizeof address.sun_path) fail("NOTIFY_SOCKET is longer than a unix socket path can be");
  memcpy(address.sun_path, path, length);
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket(AF_UNIX) for READY=1: %s", strerror(errno));
  static const char message[] = "READY=1";
  if (sendto(fd, message, sizeof message - 1, 0, (struct sockaddr *)&address,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length)) < 0) {
    fail("cannot send READY=1 to NOTIFY_SOCKET %s: %s", path, strerror(errno));
  }
  close(fd);
}

static void take_listeners(void) {
  const char *fds = getenv("LISTEN_FDS");
  const char *pid = getenv("LISTEN_PID");
  if (!fds || !pid || atol(pid) != (long)getpid()) {
    fail("no listening sockets handed over (LISTEN_FDS=%s LISTEN_PID=%s, pid %ld): run it under the supervisor with socket: reuseport or shared",
         fds ? fds : "unset", pid ? pid : "unset", (long)getpid());
  }
  listener_count = atoi(fds);
  if (listener_count < 1 || listener_count > MAX_LISTENERS) fail("LISTEN_FDS=%s: expected 1..%d sockets", fds, MAX_LISTENERS);
  // A child of ours must not inherit the sockets (contract: unset them, mark them close-on-exec).
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  for (int i = 0; i < listener_count; i++) {
    int fd = 3 + i;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
      fail("fd %d from LISTEN_FDS is not usable: %s", fd, strerror(errno));
    }
    listeners[i] = fd;
    // Listeners (and the signalfd) carry their fd with the top bit set; connections a pointer.
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = ((uint64_t)1 << 63) | (uint64_t)fd};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) fail("epoll_ctl(listener %d): %s", fd, strerror(errno));
  }
}

static void close_connection(struct connection *connection) {
  close(connection->fd); // also leaves the epoll set
  free(connection->out);
  free(connection);
  open_connections--;
}

// Each connection's own moment within the spread, counted from the drain signal.
static int64_t draw_close_moment(void) {
  if (drain_spread_ms <= 0) return drain_started_ms;
  return drain_started_ms + (int64_t)(random() % (drain_spread_ms + 1));
}

// Flushes what is queued; returns -1 when the connection is gone.
static int flush(struct connection *connection) {
  while (connection->out_sent < connection->out_length) {
    ssize_t n = write(connection->fd, connection->out + connection->out_sent, connection->out_length - connection->out_sent);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = connection};
      epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &event);
      return 0;
    }
    if (n <= 0) {
      close_connection(connection);
      return -1;
    }
    connection->out_sent += (size_t)n;
  }
  free(connection->out);
  connection->out = NULL;
  connection->out_length = connection->out_sent = 0;
  struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = connection};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &event);
  if (connection->closing) {
    close_connection(connection);
    return -1;
  }
  return 0;
}

static void queue(struct connection *connection, const char *bytes, size_t length) {
  char *grown = realloc(connection->out, connection->out_length + length);
  if (!grown) fail("out of memory queueing a response");
  memcpy(grown + connection->out_length, bytes, length);
  connection->out = grown;
  connection->out_length += length;
}

static void respond(struct connection *connection, int status, const char *reason, const char *body, int close_after) {
  char head[512];
  int length = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %zu\r\n"
                        "x-version: %s\r\nx-pid: %ld\r\n%s\r\n",
                        status, reason, strlen(body), version, (long)getpid(), close_after ? "connection: close\r\n" : "");
  queue(connection, head, (size_t)length);
  queue(connection, body, strlen(body));
  if (close_after) connection->closing = 1;
}

// The value of header `name` in the head [start, end), or NULL; sets *length.
static const char *header_value(const char *start, const char *end, const char *name, size_t *length) {
  size_t name_length = strlen(name);
  for (const char *line = memchr(start, '\n', (size_t)(end - start)); line && line + 1 < end;
       line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
    const char *field = line + 1;
    if ((size_t)(end - field) > name_length && strncasecmp(field, name, name_length) == 0 && field[name_length] == ':') {
      const char *value = field + name_length + 1;
      while (value < end && (*value == ' ' || *value == '\t')) value++;
      const char *stop = value;
      while (stop < end && *stop != '\r' && *stop != '\n') stop++;
      *length = (size_t)(stop - value);
      return value;
    }
  }
  return NULL;
}

static int value_has(const char *value, size_t length, const char *token) {
  size_t token_length = strlen(token);
  for (size_t i = 0; i + token_length <= length; i++) {
    if (strncasecmp(value + i, token, token_length) == 0) return 1;
  }
  return 0;
}

// Answers every complete request in the input buffer; returns -1 when the connection is gone.
static int serve(struct connection *connection) {
  for (;;) {
    if (connection->closing) return 0; // a "Connection: close" answer went out: read nothing more
    char *head_end = memmem(connection->in, connection->in_length, "\r\n\r\n", 4);
    if (!head_end) {
      if (connection->in_length == IN_CAPACITY) {
        respond(connection, 431, "Request Header Fields Too Large", "request head too large\n", 1);
      }
      return 0;
    }
    size_t head_length = (size_t)(head_end - connection->in) + 4;
    size_t value_length = 0;
    size_t body_length = 0;
    const char *value = header_value(connection->in, head_end + 2, "content-length", &value_length);
    if (value) body_length = strtoul(value, NULL, 10);
    if (header_value(connection->in, head_end + 2, "transfer-encoding", &value_length)) {
      respond(connection, 411, "Length Required", "chunked request bodies are not supported; send content-length\n", 1);
      return 0;
    }
    if (head_length + body_length > IN_CAPACITY) {
      respond(connection, 413, "Content Too Large", "request body too large\n", 1);
      return 0;
    }
    if (connection->in_length < head_length + body_length) return 0; // the body is still coming

    int http10 = memmem(connection->in, head_length, " HTTP/1.0\r\n", 11) != NULL;
    value = header_value(connection->in, head_end + 2, "connection", &value_length);
    int client_closes = value ? value_has(value, value_length, "close") : http10;
    if (http10 && value && value_has(value, value_length, "keep-alive")) client_closes = 0;
    int close_after = client_closes || (draining && now_ms() >= connection->close_after_ms);

    // The request line: "GET /path?query HTTP/1.1"; the path ends at '?' or ' '.
    const char *path = memchr(connection->in, ' ', head_length);
    size_t path_length = 0;
    if (path) {
      path++;
      while (path + path_length < head_end && path[path_length] != ' ' && path[path_length] != '?') path_length++;
    }
    if (strncmp(connection->in, "GET ", 4) != 0) {
      respond(connection, 405, "Method Not Allowed", "only GET is served\n", close_after);
    } else if (path_length == 8 && strncmp(path, "/healthz", 8) == 0) {
      respond(connection, 200, "OK", "ok\n", close_after);
    } else if (path_length == 1 && path[0] == '/') {
      char body[160];
      snprintf(body, sizeof body, "hello from pid %ld, version %s, generation %s\n", (long)getpid(), version, generation);
      respond(connection, 200, "OK", body, close_after);
    } else {
      respond(connection, 404, "Not Found", "not found\n", close_after);
    }
    size_t used = head_length + body_length;
    memmove(connection->in, connection->in + used, connection->in_length - used);
    connection->in_length -= used;
    if (flush(connection) < 0) return -1;
  }
}

static void on_readable(struct connection *connection) {
  for (;;) {
    if (connection->in_length == IN_CAPACITY) break;
    ssize_t n = read(connection->fd, connection->in + connection->in_length, IN_CAPACITY - connection->in_length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) { // the client hung up (or reset): nothing to answer
      close_connection(connection);
      return;
    }
    connection->in_length += (size_t)n;
  }
  if (connection->out_length == 0) serve(connection); // pipelined requests wait for the previous answer
}

static void accept_from(int listener) {
  for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE) {
        fprintf(stderr, "hello-worker: accept: %s (raise the open-files limit)\n", strerror(errno));
        return;
      }
      fail("accept on fd %d: %s", listener, strerror(errno));
    }
    struct connection *connection = calloc(1, sizeof *connection);
    if (!connection) fail("out of memory accepting a connection");
    connection->fd = fd;
    connection->close_after_ms = INT64_MAX; // accepting means not draining: listeners close at the drain signal
    struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = connection};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) fail("epoll_ctl(connection): %s", strerror(errno));
    open_connections++;
  }
}

// The drain signal: stop accepting; each connection closes after its first answer from its own
// moment within the spread; the loop ends when the last connection does (or at the deadline).
static void start_drain(void) {
  if (draining) return;
  draining = 1;
  drain_started_ms = now_ms();
  for (int i = 0; i < listener_count; i++) close(listeners[i]);
  listener_count = 0;
  int64_t timeout_ms = env_ms("SUPERVISOR_DRAIN_TIMEOUT_MS", 30000);
  drain_deadline_ms = drain_started_ms + (timeout_ms > 500 ? timeout_ms - 500 : 0);
  // Connections are reachable only through epoll, so each draws its moment on its next event.
}

int main(void) {
  version = getenv("APP_VERSION");
  if (!version || !*version) version = "dev";
  generation = getenv("SUPERVISOR_GENERATION");
  if (!generation || !*generation) generation = "none";
  drain_spread_ms = env_ms("SUPERVISOR_DRAIN_SPREAD_MS", 0);
  const char *signal_name = getenv("SUPERVISOR_DRAIN_SIGNAL");
  int drain_signal = signal_number(signal_name && *signal_name ? signal_name : "SIGTERM");
  srandom((unsigned)(getpid() ^ now_ms()));

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, drain_signal);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) fail("signalfd: %s", strerror(errno));

  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) fail("epoll_create1: %s", strerror(errno));
  struct epoll_event signal_event = {.events = EPOLLIN, .data.u64 = ((uint64_t)1 << 63) | (uint64_t)signal_fd};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &signal_event);
  take_listeners();
  notify_ready();

  struct epoll_event events[MAX_EVENTS];
  while (!draining || open_connections > 0) {
    int timeout = -1;
    if (draining) {
      int64_t left = drain_deadline_ms - now_ms();
      if (left <= 0) break; // the deadline: close what is left ourselves, exit 0 before SIGKILL
      timeout = (int)(left < 100 ? left : 100);
    }
    int n = epoll_wait(epoll_fd, events, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      uint64_t tag = events[i].data.u64;
      if (tag >> 63) {
        int fd = (int)(tag & 0xffffffff);
        if (fd == signal_fd) {
          struct signalfd_siginfo info;
          while (read(signal_fd, &info, sizeof info) == sizeof info) start_drain();
        } else if (!draining) {
          accept_from(fd);
        }
        continue;
      }
      struct connection *connection = events[i].data.ptr;
      if (draining && connection->close_after_ms == INT64_MAX) connection->close_after_ms = draw_close_moment();
      if (events[i].events & EPOLLOUT) {
        if (flush(connection) < 0) continue;
        if (connection->out_length == 0 && serve(connection) < 0) continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(connection);
    }
  }
  return 0;
}
