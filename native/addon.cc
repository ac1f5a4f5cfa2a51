// Thin, syscall-shaped bindings for reuseport-supervisor.
//
// Contract (the TypeScript layer in src/native/index.ts relies on it):
// - every function returns an fd, a number, a plain object (or null where documented), or a
//   NEGATIVE errno when the system call fails; it never throws for a syscall failure, so the
//   TypeScript side can name the syscall, the address and the fix in one place;
// - only wrong JavaScript argument types throw (TypeError), because those are programming errors;
// - every fd created here is close-on-exec: a worker must receive only the fds the supervisor hands
//   it on purpose (stdio and fd 3), never the notify socket or another generation's listener.

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/filter.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// Argument checking: the only place that throws.

[[noreturn]] void ThrowArg(const Napi::CallbackInfo& info, const char* fn, size_t index,
                           const char* expected) {
  throw Napi::TypeError::New(info.Env(), std::string(fn) + ": argument " +
                                             std::to_string(index + 1) + " must be " + expected);
}

int32_t ArgInt(const Napi::CallbackInfo& info, const char* fn, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsNumber()) ThrowArg(info, fn, index, what);
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (value != static_cast<double>(static_cast<int32_t>(value))) ThrowArg(info, fn, index, what);
  return static_cast<int32_t>(value);
}

int ArgFd(const Napi::CallbackInfo& info, const char* fn, size_t index) {
  return ArgInt(info, fn, index, "a file descriptor (integer)");
}

std::string ArgString(const Napi::CallbackInfo& info, const char* fn, size_t index,
                      const char* what) {
  if (info.Length() <= index || !info[index].IsString()) ThrowArg(info, fn, index, what);
  return info[index].As<Napi::String>().Utf8Value();
}

bool ArgBool(const Napi::CallbackInfo& info, const char* fn, size_t index) {
  if (info.Length() <= index || !info[index].IsBoolean()) ThrowArg(info, fn, index, "a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

// ---------------------------------------------------------------------------------------------
// Result helpers. errno is read right after the failing call, before anything can clobber it.

Napi::Number Errno(Napi::Env env, int error) { return Napi::Number::New(env, -error); }

// rc >= 0 is returned as is (an fd or 0); rc < 0 becomes -errno.
Napi::Number Result(Napi::Env env, int rc) {
  return rc < 0 ? Errno(env, errno) : Napi::Number::New(env, rc);
}

int SetIntOption(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

// ---------------------------------------------------------------------------------------------
// TCP listeners.

Napi::Value TcpSocket(const Napi::CallbackInfo& info) {
  int family = ArgInt(info, "tcpSocket", 0, "4 or 6");
  if (family != 4 && family != 6) ThrowArg(info, "tcpSocket", 0, "4 or 6");
  // Blocking on purpose: a worker may use the fd as is; libuv makes its own copy nonblocking.
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  return Result(info.Env(), fd);
}

Napi::Value SetReusePort(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "setReusePort", 0);
  return Result(info.Env(), SetIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1));
}

Napi::Value SetV6Only(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "setV6Only", 0);
  bool on = ArgBool(info, "setV6Only", 1);
  return Result(info.Env(), SetIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, on ? 1 : 0));
}

// Parses "1.2.3.4", "::1" or "fe80::1%eth0" into addr. Returns 0 or -errno (EINVAL: not an IP
// literal, ENODEV: unknown interface in the scope).
int ParseInetAddress(const std::string& host, int port, sockaddr_storage* addr, socklen_t* len) {
  memset(addr, 0, sizeof *addr);
  if (host.find(':') == std::string::npos) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(addr);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) return -EINVAL;
    *len = sizeof *in4;
    return 0;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(addr);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(static_cast<uint16_t>(port));
  std::string literal = host;
  size_t percent = host.find('%');
  if (percent != std::string::npos) {
    literal = host.substr(0, percent);
    std::string scope = host.substr(percent + 1);
    char* end = nullptr;
    unsigned long numeric = strtoul(scope.c_str(), &end, 10);
    unsigned int index = (!scope.empty() && *end == '\0') ? static_cast<unsigned int>(numeric)
                                                          : if_nametoindex(scope.c_str());
    if (index == 0) return -ENODEV;
    in6->sin6_scope_id = index;
  }
  if (inet_pton(AF_INET6, literal.c_str(), &in6->sin6_addr) != 1) return -EINVAL;
  *len = sizeof *in6;
  return 0;
}

Napi::Value BindTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "bindTcp", 0);
  std::string host = ArgString(info, "bindTcp", 1, "an IP address literal (string)");
  int port = ArgInt(info, "bindTcp", 2, "a port number (0-65535)");
  if (port < 0 || port > 65535) ThrowArg(info, "bindTcp", 2, "a port number (0-65535)");
  sockaddr_storage addr;
  socklen_t len = 0;
  int parsed = ParseInetAddress(host, port, &addr, &len);
  if (parsed < 0) return Napi::Number::New(env, parsed);
  // SO_REUSEADDR lets a restarted supervisor rebind while old connections sit in TIME_WAIT; it
  // does not let two listeners share the port (that is SO_REUSEPORT's job).
  if (SetIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0) return Errno(env, errno);
  return Result(env, bind(fd, reinterpret_cast<sockaddr*>(&addr), len));
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "listen", 0);
  int backlog = ArgInt(info, "listen", 1, "a backlog (integer)");
  return Result(info.Env(), listen(fd, backlog));
}

Napi::Value GetSockName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "getsockname", 0);
  sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return Errno(env, errno);
  char text[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  int family = 0;
  if (addr.ss_family == AF_INET) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
    port = ntohs(in4->sin_port);
    family = 4;
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
    family = 6;
  } else {
    return Errno(env, EAFNOSUPPORT);  // not an IP socket: the caller passed the wrong fd
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("host", Napi::String::New(env, text));
  result.Set("port", Napi::Number::New(env, port));
  result.Set("family", Napi::Number::New(env, family));
  return result;
}

// TCP_INFO on a listener: tcpi_unacked is the accept queue length, tcpi_sacked the backlog.
Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "tcpInfo", 0);
  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) return Errno(env, errno);
  Napi::Object result = Napi::Object::New(env);
  result.Set("state", Napi::Number::New(env, ti.tcpi_state));
  result.Set("unacked", Napi::Number::New(env, ti.tcpi_unacked));
  result.Set("sacked", Napi::Number::New(env, ti.tcpi_sacked));
  return result;
}

// Attaches a classic BPF program to the socket's reuseport group. program is a Buffer of
// struct sock_filter (8 bytes each, host byte order: u16 code, u8 jt, u8 jf, u32 k). The program
// belongs to the group, not the socket: it stays when this socket closes; attach again to replace.
Napi::Value AttachReuseportCbpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "attachReuseportCbpf", 0);
  if (info.Length() < 2 || !info[1].IsBuffer())
    ThrowArg(info, "attachReuseportCbpf", 1, "a Buffer of struct sock_filter (8 bytes each)");
  Napi::Buffer<uint8_t> program = info[1].As<Napi::Buffer<uint8_t>>();
  size_t count = program.Length() / sizeof(sock_filter);
  if (count == 0 || program.Length() % sizeof(sock_filter) != 0 || count > BPF_MAXINSNS)
    ThrowArg(info, "attachReuseportCbpf", 1, "1..4096 instructions of 8 bytes each");
  // Copy so the instructions are aligned whatever the Buffer's offset in its ArrayBuffer.
  std::unique_ptr<sock_filter[]> filter(new sock_filter[count]);
  memcpy(filter.get(), program.Data(), count * sizeof(sock_filter));
  sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(count);
  fprog.filter = filter.get();
  return Result(env, setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog));
}

Napi::Value DetachReuseportBpf(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "detachReuseportBpf", 0);
  return Result(info.Env(), SetIntOption(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0));
}

// ---------------------------------------------------------------------------------------------
// Plain fds.

Napi::Value DupCloexec(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "dupCloexec", 0);
  // Minimum 3 so a duplicate can never land on stdio.
  return Result(info.Env(), fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "close", 0);
  int rc = close(fd);
  // On Linux the fd is released even when close() reports EINTR; retrying could close an fd
  // another thread just opened, so EINTR counts as success.
  if (rc < 0 && errno == EINTR) rc = 0;
  return Result(info.Env(), rc);
}

// ---------------------------------------------------------------------------------------------
// Reaping orphans (PID 1 in a container, or a child subreaper).

// waitpid(pid, WNOHANG) for ONE pid, never -1: libuv waits for the children Node spawned by pid,
// and a wait for any child would steal their exit statuses. Returns {pid, code, signal} when pid
// had exited (it is reaped now), null while it still runs, or -errno (ECHILD: not our child).
Napi::Value WaitPidNoHang(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = ArgInt(info, "waitpidNoHang", 0, "a pid (integer > 0)");
  if (pid <= 0) ThrowArg(info, "waitpidNoHang", 0, "a pid (integer > 0)");
  int status = 0;
  pid_t rc;
  do {
    rc = waitpid(pid, &status, WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return Errno(env, errno);
  if (rc == 0) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, rc));
  result.Set("code", WIFEXITED(status) ? Napi::Number::New(env, WEXITSTATUS(status)) : env.Null());
  result.Set("signal", WIFSIGNALED(status) ? Napi::Number::New(env, WTERMSIG(status)) : env.Null());
  return result;
}

// ---------------------------------------------------------------------------------------------
// Replacing the program in place (supervisor upgrade).

// fcntl(F_SETFD): whether fd closes on exec. Returns 0 or -errno.
Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, "setCloexec", 0);
  bool on = ArgBool(info, "setCloexec", 1);
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return Errno(info.Env(), errno);
  return Result(info.Env(), fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)));
}

// memfd_create without MFD_CLOEXEC: an anonymous file the next program inherits. Returns the fd
// or -errno.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, "memfdCreate", 0, "a name (string)");
  return Result(info.Env(), static_cast<int>(syscall(SYS_memfd_create, name.c_str(), 0u)));
}

// What kind of socket fd is: {domain, type, listening}, or -errno (ENOTSOCK: not a socket).
Napi::Value SocketKind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "socketKind", 0);
  int domain = 0, type = 0, listening = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return Errno(env, errno);
  len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return Errno(env, errno);
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) return Errno(env, errno);
  Napi::Object result = Napi::Object::New(env);
  result.Set("domain", Napi::String::New(env, domain == AF_INET ? "inet" : domain == AF_INET6 ? "inet6" : domain == AF_UNIX ? "unix" : "other"));
  result.Set("type", Napi::String::New(env, type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : "other"));
  result.Set("listening", Napi::Boolean::New(env, listening != 0));
  return result;
}

// execve(2) on the calling (main) thread: the pid, the children and every fd without
// FD_CLOEXEC stay. Returns -errno only when the exec failed (the program goes on as it was).
Napi::Value Execve(const Napi::CallbackInfo& info) {
  std::string file = ArgString(info, "execve", 0, "a file path (string)");
  std::vector<std::string> strings[2];
  for (size_t index = 1; index <= 2; index++) {
    if (info.Length() <= index || !info[index].IsArray()) ThrowArg(info, "execve", index, "an array of strings");
    Napi::Array array = info[index].As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) {
      Napi::Value item = array.Get(i);
      if (!item.IsString()) ThrowArg(info, "execve", index, "an array of strings");
      strings[index - 1].push_back(item.As<Napi::String>().Utf8Value());
    }
  }
  std::vector<char*> argv, envp;
  for (auto& text : strings[0]) argv.push_back(const_cast<char*>(text.c_str()));
  for (auto& text : strings[1]) envp.push_back(const_cast<char*>(text.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  execve(file.c_str(), argv.data(), envp.data());
  return Errno(info.Env(), errno);
}

// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process instead of
// to init. Returns 0 or -errno.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  bool on = ArgBool(info, "setChildSubreaper", 0);
  return Result(info.Env(), prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0));
}

// prctl(PR_GET_CHILD_SUBREAPER): 1 or 0, or -errno.
Napi::Value GetChildSubreaper(const Napi::CallbackInfo& info) {
  int value = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) < 0) return Errno(info.Env(), errno);
  return Napi::Number::New(info.Env(), value != 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// Unix sockets: sd_notify datagrams and peer credentials.

// "@name" is an abstract name (leading NUL, exact length, no trailing NUL, as systemd does); any
// other string is a filesystem path. Returns 0 or -errno.
int UnixAddress(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.empty()) return -EINVAL;
  if (path[0] == '@') {
    if (path.size() > sizeof addr->sun_path) return -ENAMETOOLONG;
    memcpy(addr->sun_path + 1, path.data() + 1, path.size() - 1);
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    return 0;
  }
  if (path.find('\0') != std::string::npos) return -EINVAL;
  if (path.size() >= sizeof addr->sun_path) return -ENAMETOOLONG;
  memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return 0;
}

Napi::Value NotifySend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, "notifySend", 0, "a socket path or @abstract name");
  std::string message = ArgString(info, "notifySend", 1, "a message (string)");
  sockaddr_un addr;
  socklen_t len = 0;
  int parsed = UnixAddress(path, &addr, &len);
  if (parsed < 0) return Napi::Number::New(env, parsed);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(env, errno);
  // MSG_DONTWAIT: the daemon's event loop must never block on a receiver that stopped reading;
  // a full queue comes back as EAGAIN instead.
  ssize_t sent = sendto(fd, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                        reinterpret_cast<sockaddr*>(&addr), len);
  int error = errno;
  close(fd);
  return sent < 0 ? Errno(env, error) : Napi::Number::New(env, 0);
}

Napi::Value NotifyBind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, "notifyBind", 0, "a socket path or @abstract name");
  sockaddr_un addr;
  socklen_t len = 0;
  int parsed = UnixAddress(path, &addr, &len);
  if (parsed < 0) return Napi::Number::New(env, parsed);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(env, errno);
  // SO_PASSCRED before bind: a datagram queued before the option is set carries no credentials,
  // and the sender's pid is how a READY=1 is matched to its worker.
  if (SetIntOption(fd, SOL_SOCKET, SO_PASSCRED, 1) < 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    int error = errno;
    close(fd);
    return Errno(env, error);
  }
  return Napi::Number::New(env, fd);
}

// Closes fds a sender attached with SCM_RIGHTS (systemd's FDSTORE=1): the supervisor does not
// keep them, and they must not leak into the daemon.
void ClosePassedFds(cmsghdr* c) {
  size_t bytes = c->cmsg_len - CMSG_LEN(0);
  int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
  for (size_t i = 0; i < bytes / sizeof(int); i++) close(fds[i]);
}

// One datagram: {pid, uid, gid, text, truncated}, null when none is waiting, or -errno.
Napi::Value NotifyRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "notifyRecv", 0);
  char data[4096];
  union {
    cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 64)];
  } control;
  iovec iov = {data, sizeof data};
  msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buffer;
  msg.msg_controllen = sizeof control.buffer;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? env.Null() : Errno(env, errno);

  ucred cred = {0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof cred))
      memcpy(&cred, CMSG_DATA(c), sizeof cred);
    else if (c->cmsg_type == SCM_RIGHTS)
      ClosePassedFds(c);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, static_cast<int32_t>(cred.uid)));
  result.Set("gid", Napi::Number::New(env, static_cast<int32_t>(cred.gid)));
  result.Set("text", Napi::String::New(env, data, static_cast<size_t>(n)));
  result.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & MSG_TRUNC) != 0));
  return result;
}

Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "peerCredentials", 0);
  ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return Errno(env, errno);
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

// ---------------------------------------------------------------------------------------------
// Readability watches: a libuv poll handle per fd that calls back on the main JS thread. Node has
// no unix datagram sockets, so this is how the daemon learns that a notify datagram is waiting.
// An active watch keeps the event loop alive (the daemon wants that); unwatch releases it.

struct Watch {
  uv_poll_t poll;
  uint32_t id = 0;
  napi_env env = nullptr;
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> context;
};

struct AddonState {
  uint32_t nextId = 1;
  std::map<uint32_t, Watch*> watches;
};

void FreeWatch(uv_handle_t* handle) { delete static_cast<Watch*>(handle->data); }

// Stops polling and hands the handle to uv_close, which frees it once libuv is done with it.
// The JS references are dropped here, on the JS thread, while the env is certainly alive.
void Retire(Watch* watch) {
  uv_poll_stop(&watch->poll);
  watch->callback.Reset();
  watch->context.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), FreeWatch);
}

void OnReadable(uv_poll_t* handle, int status, int events) {
  Watch* watch = static_cast<Watch*>(handle->data);
  if (watch->callback.IsEmpty()) return;
  Napi::Env env(watch->env);
  Napi::HandleScope scope(env);
  try {
    // status < 0 (a poll error) is passed on so the JS side can read the fd and see the errno.
    watch->callback.MakeCallback(env.Global(), {Napi::Number::New(env, status)}, *watch->context);
  } catch (const Napi::Error& error) {
    // No JS frame to throw into from a libuv callback: report it the way an event emitter's
    // throwing listener is reported, through process 'uncaughtException'.
    napi_fatal_exception(watch->env, error.Value());
  }
  // watch may be retired by now (the callback may have called unwatch); do not touch it.
}

AddonState* State(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

Napi::Value WatchReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, "watchReadable", 0);
  if (info.Length() < 2 || !info[1].IsFunction()) ThrowArg(info, "watchReadable", 1, "a function");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr)
    throw Napi::Error::New(env, "watchReadable: cannot get the libuv event loop");

  Watch* watch = new Watch();
  watch->env = env;
  watch->poll.data = watch;
  int rc = uv_poll_init(loop, &watch->poll, fd);  // libuv errors are -errno on Linux
  if (rc < 0) {
    delete watch;  // uv_poll_init failed before registering the handle
    return Napi::Number::New(env, rc);
  }
  rc = uv_poll_start(&watch->poll, UV_READABLE, OnReadable);
  if (rc < 0) {
    Retire(watch);
    return Napi::Number::New(env, rc);
  }
  watch->callback = Napi::Persistent(info[1].As<Napi::Function>());
  watch->context = std::make_unique<Napi::AsyncContext>(env, "reuseport-supervisor.watchReadable");
  AddonState* state = State(env);
  watch->id = state->nextId++;
  state->watches[watch->id] = watch;
  return Napi::Number::New(env, watch->id);
}

Napi::Value Unwatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgInt(info, "unwatch", 0, "a watch id (integer)");
  AddonState* state = State(env);
  auto found = state->watches.find(static_cast<uint32_t>(id));
  if (found == state->watches.end()) return Errno(env, ENOENT);
  Watch* watch = found->second;
  state->watches.erase(found);
  Retire(watch);
  return Napi::Number::New(env, 0);
}

// At env teardown (process exit, worker thread end) retire the watches still running.
void RetireAll(AddonState* state) {
  for (auto& entry : state->watches) Retire(entry.second);
  state->watches.clear();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonState* state = new AddonState();
  env.SetInstanceData(state);  // deleted by node-addon-api's default finalizer
  env.AddCleanupHook(RetireAll, state);

  exports.Set("tcpSocket", Napi::Function::New(env, TcpSocket));
  exports.Set("setReusePort", Napi::Function::New(env, SetReusePort));
  exports.Set("setV6Only", Napi::Function::New(env, SetV6Only));
  exports.Set("bindTcp", Napi::Function::New(env, BindTcp));
  exports.Set("listen", Napi::Function::New(env, Listen));
  exports.Set("getsockname", Napi::Function::New(env, GetSockName));
  exports.Set("tcpInfo", Napi::Function::New(env, TcpInfo));
  exports.Set("attachReuseportCbpf", Napi::Function::New(env, AttachReuseportCbpf));
  exports.Set("detachReuseportBpf", Napi::Function::New(env, DetachReuseportBpf));
  exports.Set("dupCloexec", Napi::Function::New(env, DupCloexec));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("waitpidNoHang", Napi::Function::New(env, WaitPidNoHang));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("getChildSubreaper", Napi::Function::New(env, GetChildSubreaper));
  exports.Set("notifySend", Napi::Function::New(env, NotifySend));
  exports.Set("notifyBind", Napi::Function::New(env, NotifyBind));
  exports.Set("notifyRecv", Napi::Function::New(env, NotifyRecv));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("watchReadable", Napi::Function::New(env, WatchReadable));
  exports.Set("unwatch", Napi::Function::New(env, Unwatch));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("socketKind", Napi::Function::New(env, SocketKind));
  exports.Set("execve", Napi::Function::New(env, Execve));
  return exports;
}

}  // namespace

NODE_API_MODULE(reuseport_supervisor, Init)
