// pop3/posix/listener.hpp: the standalone (-D) accept loop with popa3d's flood limits.
//
// Binds the listening sockets, optionally detaches into the background, and forks one
// child per accepted connection; the child runs `session(fd, peer)` and exits with its
// result. popa3d's standalone.c limits are kept: at most `max_sessions` sessions and
// `max_per_source` per client address, where a session counts for at least `min_delay`
// after it started, so a client cannot get around the limit by reconnecting quickly.
//
//   pop3::posix::ListenerOptions opts;   opts.addresses = {"127.0.0.1"};   opts.port = "1110";
//   auto session = [](int fd, std::string_view peer) { /* dup2 fd to 0 and 1, serve */ return 0; };
//   return pop3::posix::run_listener(opts, session, log);   // returns 0 after SIGTERM or SIGINT
//
// With `tls_port` set, each address also gets a socket on that port, whose sessions are told
// to start with the TLS handshake (Connection::implicit_tls); the limits count both kinds.
// With `proxy_from` set, a connection from a listed proxy waits in the poll set (never in a
// blocking read) until its PROXY header is in, at most proxy_header_timeout and at most
// max_sessions of them at once; only then are the limits applied, to the client's address.
// With `inherited` sockets (systemd's, systemd_sockets.hpp) nothing is bound: those are served.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pop3/detail/unique_fd.hpp"
#include "pop3/log.hpp"
#include "pop3/posix/cidr_list.hpp"
#include "pop3/posix/proxy_reader.hpp"
#include "pop3/posix/systemd_sockets.hpp"

namespace pop3::posix {

struct ListenerOptions {
  // Numeric addresses or host names to listen on; empty = every address, i.e. "0.0.0.0"
  // and "::" (the IPv6 socket is IPV6_V6ONLY, so both can bind the same port).
  std::vector<std::string> addresses;
  // Port number or service name. "0" picks a free port for the first socket, which the
  // other sockets then share; `on_listening` reports it.
  std::string port = "110";
  // A second port on the same addresses for implicit TLS (995); empty: none.
  std::string tls_port;
  unsigned max_sessions = 500;   // popa3d MAX_SESSIONS; 1 to 65536
  unsigned max_per_source = 50;  // popa3d MAX_SESSIONS_PER_SOURCE
  // popa3d MIN_DELAY: a session occupies its slot for at least this long, and each refusal
  // log line is repeated at most this often.
  std::chrono::seconds min_delay{10};
  int backlog = 5;  // popa3d MAX_BACKLOG
  // false: fork, the parent exits 0 and the child starts a new session (popa3d's -D).
  bool foreground = false;
  // Optional: called once every socket listens (after detaching), with the bound port.
  std::function<void(std::uint16_t port)> on_listening;
  // Optional: called in this process before each session is forked, so that state the
  // sessions inherit can be brought up to date first (CryptAuth::refresh re-reads a changed
  // users file once here, not once in every session).
  std::function<void()> before_fork;
  // Connections from these networks must begin with a PROXY protocol header within
  // proxy_header_timeout; their sessions and limits are the header's client address (LOCAL,
  // a health check: the proxy's). Connections from elsewhere are served as ever.
  CidrList proxy_from;
  // Sockets that already listen (passed by systemd): when any are given they are served instead
  // of binding `addresses`, `port` and `tls_port`, and the listener closes them when it stops.
  std::vector<ListeningSocket> inherited;
  // Optional: called once when SIGTERM or SIGINT stops the loop, with the number of sessions
  // still running, which the listener then waits for.
  std::function<void(unsigned running)> on_stopping;
};

// One accepted connection, as a session is given it.
struct Connection {
  int fd = -1;
  std::string_view peer;      // the client's address
  bool implicit_tls = false;  // accepted on ListenerOptions::tls_port
};

// Internals of run_listener, in their own namespace: other posix headers have detail helpers.
namespace detail::listener {

// At most this many listening sockets: a host name resolving to more is a configuration error.
inline constexpr std::size_t max_listen_sockets = 32;
static_assert(max_systemd_sockets <= max_listen_sockets);
// The slot table is scanned on every accept and each session is a process: far beyond any
// real fork-per-connection server, and it keeps the table at a few MiB.
inline constexpr unsigned max_slots = 65536;

// Write end of the self-pipe; a signal handler may touch nothing but this and errno.
inline volatile sig_atomic_t signal_fd = -1;

extern "C" inline void on_signal(int signo) {
  const int saved_errno = errno;
  const int fd = signal_fd;
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signo);
    // The pipe is non-blocking: when it is full a wake-up is pending anyway.
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

// A client address as compared for the per-source limit: family and raw address bytes.
struct PeerKey {
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> bytes{};
  friend bool operator==(const PeerKey&, const PeerKey&) = default;
};

struct Peer {
  PeerKey key;
  std::string text;  // inet_ntop form, without the port, as popa3d's inet_ntoa
};

inline Peer describe_peer(const sockaddr_storage& ss) {
  Peer peer;
  char text[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    peer.key.family = AF_INET;
    std::memcpy(peer.key.bytes.data(), &sin->sin_addr, sizeof sin->sin_addr);
    ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
  } else if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    peer.key.family = AF_INET6;
    std::memcpy(peer.key.bytes.data(), &sin6->sin6_addr, sizeof sin6->sin6_addr);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
  }
  peer.text = text;
  return peer;
}

// One entry of popa3d's sessions[] table.
struct Slot {
  pid_t pid = 0;  // 0: no session running in this slot
  std::optional<std::chrono::steady_clock::time_point> start;  // when the last session began
  std::optional<std::chrono::steady_clock::time_point> logged;  // last per-source log line
  PeerKey peer;
};

// A connection from a listed proxy whose PROXY header is not all in yet.
struct PendingProxy {
  pop3::detail::UniqueFd fd;
  sockaddr_storage proxy{};
  bool implicit_tls = false;
  std::chrono::steady_clock::time_point deadline;
  std::unique_ptr<ProxyHeaderReader> reader = std::make_unique<ProxyHeaderReader>();
};

inline std::string errno_text(int err) { return std::strerror(err); }

inline int log_failure(const LogSink& log, const char* call, int err) {
  log_line(log, LogPriority::crit, std::string(call) + ": " + errno_text(err));
  return 1;
}

// The signals the loop handles, their previous dispositions restored on exit and in children.
class SignalGuard {
 public:
  static constexpr std::array<int, 3> signals{SIGCHLD, SIGTERM, SIGINT};

  explicit SignalGuard(int write_fd) {
    signal_fd = write_fd;
    struct sigaction sa {};
    sa.sa_handler = &on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    for (std::size_t i = 0; i < signals.size(); ++i) ::sigaction(signals[i], &sa, &old_[i]);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
  ~SignalGuard() { restore(); }

  void restore() noexcept {
    if (restored_) return;
    for (std::size_t i = 0; i < signals.size(); ++i) ::sigaction(signals[i], &old_[i], nullptr);
    signal_fd = -1;
    restored_ = true;
  }

  // Blocks the handled signals (around fork, so a child never runs our handler).
  static sigset_t block() noexcept {
    sigset_t set, old;
    sigemptyset(&set);
    for (int s : signals) sigaddset(&set, s);
    ::sigprocmask(SIG_BLOCK, &set, &old);
    return old;
  }
  static void unblock(const sigset_t& old) noexcept { ::sigprocmask(SIG_SETMASK, &old, nullptr); }

 private:
  std::array<struct sigaction, signals.size()> old_{};
  bool restored_ = false;
};

// Opens, binds and listens on every address; returns 0 or an exit status after logging.
inline int open_listeners(const ListenerOptions& options, std::string port,
                          std::vector<pop3::detail::UniqueFd>& listeners, const LogSink& log,
                          std::uint16_t& bound_port) {
  const bool implicit = options.addresses.empty();
  const std::vector<std::string> addresses =
      implicit ? std::vector<std::string>{"0.0.0.0", "::"} : options.addresses;
  for (const std::string& address : addresses) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(address.c_str(), port.c_str(), &hints, &found); rc != 0) {
      log_line(log, LogPriority::crit, "getaddrinfo(" + address + "): " + ::gai_strerror(rc));
      return 1;
    }
    for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      if (listeners.size() >= max_listen_sockets) {
        ::freeaddrinfo(found);
        log_line(log, LogPriority::crit, "too many listening addresses");
        return 1;
      }
      pop3::detail::UniqueFd socket{::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                             ai->ai_protocol)};
      const int fd = socket.get();
      if (!socket) {
        const int err = errno;
        // An IPv4-only host cannot open the implicit "::" socket; 0.0.0.0 still serves.
        if (implicit && ai->ai_family == AF_INET6 && err == EAFNOSUPPORT) continue;
        ::freeaddrinfo(found);
        return log_failure(log, "socket", err);
      }
      const int one = 1;
      bool ok = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
      // Without V6ONLY a "::" socket would also take IPv4 and the "0.0.0.0" bind would fail.
      if (ok && ai->ai_family == AF_INET6)
        ok = ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
      const char* call = ok ? "bind" : "setsockopt";
      if (ok) ok = ::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
      if (ok) call = "listen";
      if (ok) ok = ::listen(fd, options.backlog) == 0;
      if (!ok) {
        const int err = errno;
        socket.reset();
        if (implicit && ai->ai_family == AF_INET6 && err == EADDRNOTAVAIL) continue;
        ::freeaddrinfo(found);
        return log_failure(log, call, err);
      }
      listeners.push_back(std::move(socket));
      if (bound_port == 0) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
          if (ss.ss_family == AF_INET)
            bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
          else if (ss.ss_family == AF_INET6)
            bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
        }
        // With port "0" the remaining sockets take the port the first one got.
        if (bound_port != 0) port = std::to_string(bound_port);
      }
    }
    ::freeaddrinfo(found);
  }
  if (listeners.empty()) {
    log_line(log, LogPriority::crit, "no address to listen on");
    return 1;
  }
  return 0;
}

inline int run(const ListenerOptions& options, const std::function<int(const Connection&)>& session,
               const LogSink& log) {
  using Clock = std::chrono::steady_clock;
  if (options.max_sessions == 0 || options.max_per_source == 0 ||
      options.max_sessions > max_slots) {
    log_line(log, LogPriority::crit,
                 "session limits must be between 1 and " + std::to_string(max_slots));
    return 1;
  }

  std::vector<pop3::detail::UniqueFd> listeners;
  std::uint16_t port = 0;
  std::size_t first_tls = 0;  // listeners[i] is a TLS socket when i >= first_tls
  if (options.inherited.empty()) {
    if (const int rc = open_listeners(options, options.port, listeners, log, port); rc != 0) return rc;
  }
  // Passed sockets are owned from here, so that every return closes them; plain ones first.
  for (const bool tls : {false, true}) {
    for (const ListeningSocket& s : options.inherited)
      if (s.implicit_tls == tls) listeners.emplace_back(s.fd);
    if (!tls) first_tls = listeners.size();
  }
  if (options.inherited.empty() && !options.tls_port.empty()) {
    std::vector<pop3::detail::UniqueFd> tls_listeners;
    std::uint16_t tls_port = 0;
    if (const int rc = open_listeners(options, options.tls_port, tls_listeners, log, tls_port); rc != 0) return rc;
    if (listeners.size() + tls_listeners.size() > max_listen_sockets) {
      log_line(log, LogPriority::crit, "too many listening addresses");
      return 1;
    }
    for (pop3::detail::UniqueFd& fd : tls_listeners) listeners.push_back(std::move(fd));
  }
  if (::chdir("/") != 0) return log_failure(log, "chdir", errno);

  if (!options.foreground) {
    std::fflush(nullptr);  // so buffered output is not written twice
    const pid_t pid = ::fork();
    if (pid < 0) return log_failure(log, "fork", errno);
    if (pid > 0) ::_exit(0);
    ::setsid();
    // Detached, the caller's terminal or pipes are no business of ours or of any session.
    pop3::detail::UniqueFd null_fd{::open("/dev/null", O_RDWR | O_CLOEXEC)};
    if (!null_fd) return log_failure(log, "open /dev/null", errno);
    for (int fd = 0; fd <= 2; ++fd) {
      if (fd != null_fd.get() && ::dup2(null_fd.get(), fd) < 0) return log_failure(log, "dup2", errno);
    }
    // Opened as 0, 1 or 2, it is one of the three it was opened for.
    if (null_fd.get() <= 2) (void)null_fd.release();
  }

  // The self-pipe turns SIGCHLD/SIGTERM/SIGINT into a readable descriptor for poll().
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return log_failure(log, "pipe", errno);
  pop3::detail::UniqueFd signal_read{pipe_fds[0]};
  pop3::detail::UniqueFd signal_write{pipe_fds[1]};
  SignalGuard signals(signal_write.get());

  if (options.on_listening) options.on_listening(port);

  std::vector<Slot> slots(options.max_sessions);
  std::optional<Clock::time_point> global_logged;
  std::vector<PendingProxy> pending;  // at most max_sessions

  const auto reap = [&] {
    // Bounded: each iteration collects one child, and there are at most max_sessions.
    for (unsigned i = 0; i <= options.max_sessions; ++i) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      for (auto& slot : slots) {
        if (slot.pid == pid) {
          slot.pid = 0;  // the start time stays: the slot counts until min_delay has passed
          break;
        }
      }
    }
  };

  // Takes the accepted socket; the parent closes it on every path out.
  const auto handle = [&](pop3::detail::UniqueFd fd, const sockaddr_storage& ss, bool implicit_tls) {
    const Peer peer = describe_peer(ss);
    const Clock::time_point now = Clock::now();
    const auto recent = [&](const std::optional<Clock::time_point>& t) {
      return t && now - *t < options.min_delay;
    };
    // popa3d's scan: count active slots from this address, remember the first free one.
    std::size_t free_slot = slots.size();
    unsigned same_source = 0;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot& slot = slots[i];
      if (slot.pid != 0 || recent(slot.start)) {
        if (slot.peer == peer.key && ++same_source >= options.max_per_source) {
          if (!recent(slot.logged)) {
            log_line(log, LogPriority::notice, peer.text + ": per source limit reached");
            slot.logged = now;
          }
          return;
        }
      } else if (free_slot == slots.size()) {
        free_slot = i;
      }
    }
    if (free_slot == slots.size()) {
      if (!recent(global_logged)) {
        log_line(log, LogPriority::notice, peer.text + ": sessions limit reached");
        global_logged = now;
      }
      return;
    }

    if (options.before_fork) options.before_fork();
    // Blocked across fork: the child must never run the parent's handler, and a child that
    // exits at once must find its slot recorded before SIGCHLD is looked at.
    const sigset_t old_mask = SignalGuard::block();
    const pid_t pid = ::fork();
    if (pid == 0) {
      signals.restore();
      signal_read.reset();
      signal_write.reset();
      listeners.clear();
      pending.clear();
      SignalGuard::unblock(old_mask);
      int status = 1;
      try {
        log_line(log, LogPriority::info, "Session from " + peer.text);
        status = session(Connection{fd.get(), peer.text, implicit_tls});
      } catch (...) {
        // An exception must not unwind into the accept loop's copy in this child.
        status = 1;
      }
      ::_exit(status);
    }
    const int fork_errno = errno;
    if (pid < 0) {
      log_line(log, LogPriority::crit,
                       peer.text + ": fork: " + errno_text(fork_errno));
    } else {
      Slot& slot = slots[free_slot];
      slot.pid = pid;
      slot.start = now;
      slot.logged.reset();
      slot.peer = peer.key;
    }
    SignalGuard::unblock(old_mask);
  };

  // One round of a pending proxy connection that may be readable: true when it is over (its
  // session started, or it was closed), false when it waits on.
  const auto advance = [&](PendingProxy& p) {
    const ProxyStep step = p.reader->step(p.fd.get());
    if (step == ProxyStep::need_more) return false;
    // A health check that is over already (LOCAL, then a reset) is closed without a session.
    const bool check_over = step == ProxyStep::complete && !p.reader->header().proxied && peer_gone(p.fd.get());
    if (step == ProxyStep::complete && !check_over) {
      reap();
      handle(std::move(p.fd), proxied_peer(p.reader->header(), p.proxy), p.implicit_tls);
    } else if (const std::string why = proxy_failure(step, *p.reader); !why.empty()) {
      log_line(log, LogPriority::notice, describe_peer(p.proxy).text + why);
    }
    return true;
  };

  // A round for each pending proxy connection that poll() found readable, and the end of
  // those whose time is up.
  const auto serve_pending = [&](const std::vector<pollfd>& polled, std::size_t first) {
    const Clock::time_point now = Clock::now();
    std::size_t kept = 0;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      PendingProxy& p = pending[k];
      const bool ready = first + k < polled.size() && (polled[first + k].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
      bool done = ready && advance(p);
      if (!done && now >= p.deadline) {
        log_line(log, LogPriority::notice, describe_peer(p.proxy).text + proxy_failure(ProxyStep::need_more, *p.reader));
        done = true;
      }
      if (!done) {
        if (kept != k) pending[kept] = std::move(p);
        ++kept;
      }
    }
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(kept), pending.end());
  };

  // A connection from a listed proxy waits for its header; any other is served now.
  const auto accepted = [&](pop3::detail::UniqueFd fd, const sockaddr_storage& ss, bool implicit_tls) {
    if (!options.proxy_from.contains(ss)) return handle(std::move(fd), ss, implicit_tls);
    if (pending.size() >= options.max_sessions) {
      const Clock::time_point now = Clock::now();
      if (!global_logged || now - *global_logged >= options.min_delay) {
        log_line(log, LogPriority::notice, describe_peer(ss).text + ": sessions limit reached");
        global_logged = now;
      }
      return;
    }
    // Tried at once: a proxy sends its header with the connection, so it is usually in, and
    // a round of poll() (a wake-up more, on a busy machine) is saved.
    PendingProxy p{std::move(fd), ss, implicit_tls, Clock::now() + proxy_header_timeout};
    if (!advance(p)) pending.push_back(std::move(p));
  };

  std::vector<pollfd> pfds;
  pfds.reserve(listeners.size() + 1);
  pfds.push_back({signal_read.get(), POLLIN, 0});
  for (const pop3::detail::UniqueFd& fd : listeners) pfds.push_back({fd.get(), POLLIN, 0});
  const std::size_t first_pending = pfds.size();

  bool stop = false;
  bool backoff = false;
  while (!stop) {
    // Out of descriptors or memory, a pending connection stays queued and would wake poll()
    // at once forever: watch only the signal pipe for a second instead.
    pfds.resize(first_pending);
    for (const PendingProxy& p : pending) pfds.push_back({p.fd.get(), POLLIN, 0});
    const nfds_t watched = backoff ? 1 : pfds.size();
    for (pollfd& p : pfds) p.revents = 0;  // entries not watched this round must read as idle
    int timeout_ms = backoff ? 1000 : -1;
    for (const PendingProxy& p : pending) {
      // Rounded up, so that the deadline has passed when poll() returns.
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(p.deadline - Clock::now()).count();
      const int ms = left < 0 ? 0 : static_cast<int>(left);
      if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = ms;
    }
    backoff = false;
    if (::poll(pfds.data(), watched, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      return log_failure(log, "poll", errno);
    }
    if (pfds[0].revents & POLLIN) {
      std::array<unsigned char, 64> buf;
      // Bounded: the pipe is non-blocking and each read removes up to 64 pending signals.
      for (int i = 0; i < 64; ++i) {
        const ssize_t n = ::read(signal_read.get(), buf.data(), buf.size());
        if (n <= 0) break;
        for (ssize_t k = 0; k < n; ++k)
          if (buf[k] == SIGTERM || buf[k] == SIGINT) stop = true;
      }
    }
    reap();
    if (stop) break;
    serve_pending(pfds, first_pending);
    // One accept per ready socket per wake-up keeps every socket served in turn.
    for (std::size_t i = 1; i < first_pending; ++i) {
      if (!(pfds[i].revents & POLLIN)) continue;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      pop3::detail::UniqueFd fd{::accept4(pfds[i].fd, reinterpret_cast<sockaddr*>(&ss), &len, 0)};
      if (!fd) {
        // Otherwise the client went away (ECONNABORTED) or it was spurious: poll again.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          log_failure(log, "accept", errno);
          backoff = true;
        }
        continue;
      }
      reap();
      accepted(std::move(fd), ss, i - 1 >= first_tls);
    }
  }

  // Stop: no new connections; let the running sessions end on their own (their idle timeout
  // bounds the wait), then leave.
  listeners.clear();
  if (options.on_stopping)
    options.on_stopping(static_cast<unsigned>(
        std::count_if(slots.begin(), slots.end(), [](const Slot& slot) { return slot.pid != 0; })));
  for (auto& slot : slots) {
    if (slot.pid == 0) continue;
    int status = 0;
    while (::waitpid(slot.pid, &status, 0) < 0 && errno == EINTR) {
    }
    slot.pid = 0;
  }
  return 0;
}

}  // namespace detail::listener

// Runs the standalone server until SIGTERM or SIGINT. Returns 0 after a signal-requested
// stop (once every running session has ended), 1 after a setup failure (logged at crit).
// Without options.foreground the calling process exits 0 once the sockets listen, and a
// detached child carries on. `session` runs in a forked child with the accepted socket;
// its return value becomes the child's exit status. `peer` is the client's address.
inline int run_listener(const ListenerOptions& options, const std::function<int(const Connection&)>& session,
                        LogSink log) {
  try {
    return detail::listener::run(options, session, log);
  } catch (const std::exception& e) {
    // Only allocation can throw here; the sockets and handlers were released on the way out.
    log_line(log, LogPriority::crit, std::string("listener: ") + e.what());
    return 1;
  }
}

// The same, for a session that needs only the socket and the peer's address.
inline int run_listener(const ListenerOptions& options,
                        const std::function<int(int fd, std::string_view peer)>& session, LogSink log) {
  return run_listener(
      options, [&session](const Connection& c) { return session(c.fd, c.peer); }, std::move(log));
}

}  // namespace pop3::posix
