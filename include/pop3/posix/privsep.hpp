// pop3/posix/privsep.hpp: popa3d's process model: AUTHORIZATION in an unprivileged chrooted
// child, the password check in root, TRANSACTION as the account (spec section 2).
//
//   std::string error;
//   auto privsep = pop3::posix::prepare_privsep({.user = "popa3d", .chroot_dir = "/var/empty"}, error);
//   return pop3::posix::run_privsep_session(server, *privsep, log);   // server: a Pop3Server
//
// As root, one session is two processes:
//   1. root makes a pipe and forks. The child chroots into the empty directory, drops to the
//      pre-auth user (groups, then GID, then UID; it checks it cannot get root back), runs
//      server.authorize(), writes the credentials and the unread client bytes to the pipe, and
//      exits. A compromised child holds no privilege, no file and no password hash.
//   2. root reads at most Limits::auth_buffer bytes of user and password (popa3d's
//      AUTH_BUFFER_SIZE) and the pending bytes, and reaps the child. It forks again: that child,
//      still root, calls the Auth policy (account lookup, crypt, account checks), writes back a
//      small typed result (status, UID, GID, mailbox, user) and exits, so that no hash, no
//      line of /etc/shadow and no library buffer that held one outlives the check (popa3d
//      does its lookup and crypt in a child too). root trusts only a well-formed result from
//      a child that exited 0.
//   3. On success it drops to the account for good (UID 0 is refused once more) and runs
//      server.transact(), which finds the maildrop with the server's MailboxLocator. On
//      failure it drops as the child did, waits the failure delay, and sends
//      server.refuse_login().
// With TLS (a SessionTls with a relay, and a transport like OpenSslTransport) the child also
// does the handshake (before the greeting for implicit TLS; on STLS the engine starts it).
// When it holds a TLS session at login it says so in the handoff and stays, relaying the
// client's TLS to a socketpair made before the fork (tls_relay.hpp); root moves its end onto
// descriptors 0 and 1, which closes its copies of the client's socket, and lets go of the TLS
// context, so the session process (the account) holds neither the socket nor any TLS state.
// Started as an ordinary user there is no separation (run_unprivileged_session): the whole
// session runs as that user through serve_phases(), the path Pop3Server::serve() takes, with
// TLS in the same process.
// Nothing here uses signals for control flow (popa3d's siglongjmp would skip destructors).
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/detail/unique_fd.hpp"
#include "pop3/error.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/posix/handoff.hpp"
#include "pop3/protocol/line.hpp"
#include "pop3/session/login.hpp"

namespace pop3::posix {

// How long a refused login waits before its -ERR, as Debian's PAM build (pam_unix's delay) and
// Dovecot's auth_failure_delay do: it slows down password guessing on one connection.
inline constexpr std::chrono::milliseconds default_failure_delay{2000};

struct PrivsepOptions {
  std::string user = "popa3d";            // the pre-auth pseudo-user (popa3d's POP_USER)
  std::string chroot_dir = "/var/empty";  // an empty root-owned directory (popa3d's POP_CHROOT)
  // popa3d's AUTH_BUFFER_SIZE: "user\0password\0" from the child fits in this many bytes.
  std::size_t auth_buffer = Limits{}.auth_buffer;
  // The most client bytes the engine can hold unread after PASS: its input buffer.
  std::size_t max_pending = input_buffer_size;
  std::chrono::milliseconds failure_delay = default_failure_delay;  // 0: none
};

// A session's TLS, for a transport that has it (a TlsEndpoint): without a relay there is none.
struct SessionTls {
  bool implicit = false;  // the handshake comes before the greeting (port 995, --tls-implicit)
  // Relays the pre-auth child's TLS session to `session_fd` until either side closes, and
  // returns the child's exit status (tls_relay.hpp). Empty: no TLS.
  std::function<int(int session_fd)> relay;
};

/// TlsEndpoint: a TlsTransport that the process model can also close and strip of its key.
///   t.close_notify(ec) : sends TLS close_notify, when TLS is active
///   t.forget_context() : drops this process's reference to the TLS context (and the key)
template <class T>
concept TlsEndpoint = TlsTransport<T> && requires(T& t, std::error_code& ec) {
  t.close_notify(ec);
  t.forget_context();
};

// A server (or a stand-in for one) whose transport is a TlsEndpoint.
template <class Server>
concept ServerWithTls = requires(Server& s) { s.transport(); } &&
                        TlsEndpoint<std::remove_reference_t<decltype(std::declval<Server&>().transport())>>;

// The startup checks done: what each session drops to before running client-driven code, and
// the bounds of what root reads from its children (handoff.hpp).
struct PrivsepConfig : HandoffBounds {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string chroot_dir;
  std::chrono::milliseconds failure_delay{0};
};

namespace detail {

inline std::string errno_message(const char* call, int error) {
  return std::string(call) + ": " + std::strerror(error);
}

// Drops to uid/gid for good, in OpenSMTPD's order: chroot (optional), groups, GID, UID. Then
// checks the drop holds: real, effective and saved IDs all changed, and setuid(0) fails.
// false with `failed` = "<call>: <error>" (logged at crit as popa3d does).
inline bool drop_privileges(uid_t uid, gid_t gid, const std::string* chroot_dir, std::string& failed) {
  if (chroot_dir != nullptr) {
    if (::chroot(chroot_dir->c_str()) != 0) {
      failed = errno_message("chroot", errno);
      return false;
    }
    if (::chdir("/") != 0) {
      failed = errno_message("chdir", errno);
      return false;
    }
  }
  if (::setgroups(1, &gid) != 0) {
    failed = errno_message("setgroups", errno);
    return false;
  }
  if (::setresgid(gid, gid, gid) != 0) {
    failed = errno_message("setresgid", errno);
    return false;
  }
  if (::setresuid(uid, uid, uid) != 0) {
    failed = errno_message("setresuid", errno);
    return false;
  }
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0 ||
      ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
    failed = "setresuid: IDs did not change";
    return false;
  }
  if (uid != 0 && ::setuid(0) == 0) {
    failed = "setuid: root privileges could be regained";
    return false;
  }
  // A change of credentials resets the dumpable flag to fs.suid_dumpable, which may be 1 or 2:
  // set it again, so that the account (or another process of the pre-auth user) can neither
  // ptrace this process nor read its memory, which held a password a moment ago.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    failed = errno_message("prctl(PR_SET_DUMPABLE)", errno);
    return false;
  }
  return true;
}

// The implicit handshake, when asked for: false with ec set when it failed (the transport
// logged why).
template <class Server>
bool start_implicit_tls(Server& server, const SessionTls& tls, std::error_code& ec) {
  ec.clear();
  if constexpr (ServerWithTls<Server>) {
    if (tls.implicit) server.transport().start_tls({}, ec);
  }
  return !ec;
}

// close_notify at the end of a session that has TLS.
template <class Server>
void finish_tls(Server& server) {
  if constexpr (ServerWithTls<Server>) {
    std::error_code ignored;
    server.transport().close_notify(ignored);
  }
}

template <class Server>
bool tls_active(Server& server) {
  if constexpr (ServerWithTls<Server>) {
    return server.transport().tls_active();
  } else {
    return false;
  }
}

template <class Server>
void forget_tls_context(Server& server) {
  if constexpr (ServerWithTls<Server>) {
    server.transport().forget_context();
  }
}

// Reaps the child; true if it exited with status 0.
inline bool reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The Auth policy's answer, with UID 0 refused whatever the policy said (check_login).
template <class Server>
std::optional<Account> check_password(Server& server, Credentials& credentials, std::error_code& ec) {
  return check_login(server.auth(), credentials, ec);
}

// check_password in a child process that exits once it has written its result: whatever the
// Auth policy read or computed (a shadow entry, crypt's scratch memory, a PAM stack's state)
// goes with it. The password is wiped here as soon as the child has its copy. A child that
// fails, or a result that is not well-formed, is errc::auth_backend, logged at crit.
template <class Server>
std::optional<Account> check_password_in_child(Server& server, Credentials& credentials, const PrivsepConfig& config,
                                               const LogSink& log, std::error_code& ec) {
  ec = errc::auth_backend;
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    credentials.wipe();
    log_line(log, LogPriority::crit, errno_message("pipe", errno));
    return std::nullopt;
  }
  pop3::detail::UniqueFd read_end{fds[0]};
  pop3::detail::UniqueFd write_end{fds[1]};
  const pid_t pid = ::fork();
  if (pid < 0) {
    credentials.wipe();
    log_line(log, LogPriority::crit, errno_message("fork", errno));
    return std::nullopt;
  }
  if (pid == 0) {
    // Never returns: unwinding into the caller's frames would run them twice.
    int status = 1;
    try {
      read_end.reset();
      std::error_code child_ec;
      const std::optional<Account> account = check_password(server, credentials, child_ec);
      status = write_auth_result(write_end.get(), account, child_ec) ? 0 : 1;
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  credentials.wipe();
  write_end.reset();
  std::optional<Account> account;
  const bool well_formed = read_auth_result(read_end.get(), config, account, ec);
  read_end.reset();
  const bool child_ok = reap(pid);
  if (!well_formed || !child_ok) {
    log_line(log, LogPriority::crit, "Malformed result from the authentication process");
    account.reset();
    ec = errc::auth_backend;
  }
  if (account && account->uid == 0) {
    account.reset();
    ec = errc::auth_failed;
  }
  return account;
}

}  // namespace detail

// Startup, in both modes: no descriptor but 0, 1 and 2 survives from the caller (a pre-auth
// child or a session must not hold one it was never meant to have); no core dump and no
// ptrace by the same user, since every process of ours may hold a password or a hash; files
// the session creates are private to the account (popa3d's umask 077); a client that
// disconnects is an error code, not a SIGPIPE; and SIGCHLD is not ignored (inetd may leave
// it so), or the root process could not reap the pre-auth child. `passed_sockets`: descriptors
// 3..3+passed_sockets-1 are systemd's listening sockets (systemd_sockets.hpp) and stay open.
inline void prepare_process(unsigned passed_sockets = 0) {
  ::close_range(3 + passed_sockets, ~0U, 0);
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
}

// Startup as root: looks up the pre-auth user and checks (or creates) the chroot directory.
// std::nullopt with a one-line `error` that says how to fix it.
inline std::optional<PrivsepConfig> prepare_privsep(const PrivsepOptions& options, std::string& error) {
  PrivsepConfig config;
  config.auth_buffer = options.auth_buffer;
  config.max_pending = options.max_pending;
  config.failure_delay = options.failure_delay;

  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(options.user.c_str(), &pw, buffer.data(), buffer.size(), &found);
  if (found == nullptr) {
    error = "pre-auth user \"" + options.user + "\": " +
            (rc == 0 || rc == ENOENT || rc == ESRCH ? std::string("no such user") : std::strerror(rc)) +
            "; create it with: useradd --system --no-create-home --home-dir /nonexistent"
            " --shell /usr/sbin/nologin " + options.user;
    return std::nullopt;
  }
  if (pw.pw_uid == 0 || pw.pw_uid == static_cast<uid_t>(-1) || pw.pw_gid == static_cast<gid_t>(-1)) {
    error = "pre-auth user \"" + options.user + "\" must not be root";
    return std::nullopt;
  }
  config.uid = pw.pw_uid;
  config.gid = pw.pw_gid;

  const std::string& dir = options.chroot_dir;
  if (dir.empty() || dir.front() != '/') {
    error = "chroot directory \"" + dir + "\" is not an absolute path";
    return std::nullopt;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      error = dir + ": " + std::strerror(errno);
      return std::nullopt;
    }
    // mkdir's mode is cut by the umask (077): set it explicitly.
    if (::mkdir(dir.c_str(), 0755) != 0 || ::chmod(dir.c_str(), 0755) != 0 || ::stat(dir.c_str(), &st) != 0) {
      error = "cannot create chroot directory " + dir + ": " + std::strerror(errno);
      return std::nullopt;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    error = "chroot directory " + dir + " is not a directory";
    return std::nullopt;
  }
  // Whoever can write into it could plant files (a fake /etc, /dev/log) for the pre-auth child.
  if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    error = "chroot directory " + dir + " must be owned by root and not writable by group or others";
    return std::nullopt;
  }
  config.chroot_dir = dir;
  return config;
}

namespace detail {

// The relaying pre-auth child, seen from root once the handoff said so: descriptors 0 and 1
// are root's end of the socketpair. At the end of the session root closes them (the relay
// then sends close_notify) and reaps the child.
class RelayChild {
 public:
  RelayChild() = default;
  RelayChild(const RelayChild&) = delete;
  RelayChild& operator=(const RelayChild&) = delete;
  ~RelayChild() {
    if (pid_ <= 0) return;
    ::close(0);
    ::close(1);
    (void)reap(pid_);
  }

  // Moves `end` onto descriptors 0 and 1, and standard error off the client's socket when
  // inetd put it there. false with `failed` set.
  bool take(pid_t pid, pop3::detail::UniqueFd end, std::string& failed) {
    struct stat client {}, err {};
    if (::fstat(0, &client) == 0 && ::fstat(2, &err) == 0 && S_ISSOCK(client.st_mode) &&
        client.st_dev == err.st_dev && client.st_ino == err.st_ino) {
      pop3::detail::UniqueFd null_fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
      if (!null_fd || ::dup2(null_fd.get(), 2) < 0) {
        failed = errno_message("dup2", errno);
        return false;
      }
    }
    if (::dup2(end.get(), 0) < 0 || ::dup2(end.get(), 1) < 0) {
      failed = errno_message("dup2", errno);
      return false;
    }
    pid_ = pid;
    return true;
  }

 private:
  pid_t pid_ = 0;
};

}  // namespace detail

// One session as root, in popa3d's two processes (three with a TLS relay). Returns the exit
// status for the session's process: 0 whatever the client did (popa3d's), 1 when a system
// call failed. `tls`: the session's TLS, none by default. `before_drop`, if set, runs as root
// for the account that logged in, just before the drop (main.cpp opens the mailbox's journal
// there, mbox_journal_dir.hpp). `client`: the client's address, which root's login lines name.
template <class Server>
int run_privsep_session(Server& server, const PrivsepConfig& config, const LogSink& log, const SessionTls& tls = {},
                        const std::function<void(const Account&)>& before_drop = {}, std::string_view client = {}) {
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    log_line(log, LogPriority::crit, detail::errno_message("pipe", errno));
    return 1;
  }
  pop3::detail::UniqueFd read_end{pipe_fds[0]};
  pop3::detail::UniqueFd write_end{pipe_fds[1]};
  // The relay's socketpair exists before the fork, so that each side already holds its end.
  pop3::detail::UniqueFd relay_root_end;
  pop3::detail::UniqueFd relay_child_end;
  if (tls.relay) {
    std::array<int, 2> pair{};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) != 0) {
      log_line(log, LogPriority::crit, detail::errno_message("socketpair", errno));
      return 1;
    }
    relay_root_end = pop3::detail::UniqueFd{pair[0]};
    relay_child_end = pop3::detail::UniqueFd{pair[1]};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    log_line(log, LogPriority::crit, detail::errno_message("fork", errno));
    return 1;
  }
  if (pid == 0) {
    // The child never returns: unwinding into the caller's frames would run them twice.
    int status = 1;
    try {
      read_end.reset();
      relay_root_end.reset();
      std::string failed;
      std::error_code ec;
      if (!detail::drop_privileges(config.uid, config.gid, &config.chroot_dir, failed)) {
        log_line(log, LogPriority::crit, failed);
      } else if (!detail::start_implicit_tls(server, tls, ec)) {
        status = 0;  // the client's failure, logged by the transport
      } else {
        auto credentials = server.authorize(ec);
        status = 0;
        const bool relay = credentials && relay_child_end && detail::tls_active(server);
        if (credentials && !detail::write_handoff(write_end.get(), credentials->user, credentials->password,
                                                  credentials->pending, relay)) {
          status = 1;
        }
        if (credentials) credentials->wipe();
        write_end.reset();  // root reads the handoff to its end
        if (relay && status == 0) {
          status = tls.relay(relay_child_end.get());
        } else if (!credentials) {
          detail::finish_tls(server);  // QUIT, or a timeout, in AUTHORIZATION
        }
      }
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }

  write_end.reset();
  relay_child_end.reset();
  Credentials credentials;
  bool relay = false;
  detail::Handoff handoff = detail::read_handoff(read_end.get(), config, credentials, relay);
  read_end.reset();
  // root never does TLS: no session process it becomes keeps the key.
  detail::forget_tls_context(server);
  detail::RelayChild relay_child;  // declared before the session's work: reaped after it
  bool child_ok = false;
  std::string failed;
  if (handoff == detail::Handoff::ok && relay && relay_root_end) {
    // The child stays as the relay; it answers for the client from now on.
    if (!relay_child.take(pid, std::move(relay_root_end), failed)) {
      log_line(log, LogPriority::crit, failed);
      ::kill(pid, SIGKILL);
      (void)detail::reap(pid);
      credentials.wipe();
      return 1;
    }
    child_ok = true;
  } else {
    relay_root_end.reset();
    child_ok = detail::reap(pid);
    // Credentials count only from a child that finished cleanly, and a relay only with one.
    if ((!child_ok || relay) && handoff == detail::Handoff::ok) handoff = detail::Handoff::malformed;
  }

  if (handoff == detail::Handoff::none) {
    // The session ended in AUTHORIZATION; the child has logged why. Root drops all the same.
    if (!detail::drop_privileges(config.uid, config.gid, &config.chroot_dir, failed)) {
      log_line(log, LogPriority::crit, failed);
      return 1;
    }
    return child_ok ? 0 : 1;
  }

  const auto received = std::chrono::steady_clock::now();
  std::error_code ec = errc::auth_backend;
  std::optional<Account> account;
  if (handoff == detail::Handoff::ok) {
    account = detail::check_password_in_child(server, credentials, config, log, ec);
  } else {
    credentials.wipe();
    log_line(log, LogPriority::crit, "Malformed credentials from the AUTHORIZATION process");
  }

  if (account) {
    log_login_passed(log, credentials.user, client);
    if (before_drop) before_drop(*account);
    if (!detail::drop_privileges(account->uid, account->gid, nullptr, failed)) {
      log_line(log, LogPriority::crit, failed);
      return 1;
    }
    (void)server.transact(*account, credentials.pending);
    return 0;
  }

  // popa3d's order: drop as the child did, then reply, then log.
  if (!detail::drop_privileges(config.uid, config.gid, &config.chroot_dir, failed)) {
    log_line(log, LogPriority::crit, failed);
    return 1;
  }
  wait_failure_delay(received, config.failure_delay);
  (void)server.refuse_login(ec);
  if (handoff == detail::Handoff::ok) log_login_refused(log, credentials.user, ec, client);
  return handoff == detail::Handoff::ok ? 0 : 1;
}

// One session without root: no second process, no chroot, no change of identity. The account's
// UID and GID are not used (only UID 0 is still refused); mailboxes open with this user's rights.
// The same path as Pop3Server::serve() (serve_phases): a refusal comes `failure_delay` after the
// PASS, as in run_privsep_session.
// With TLS (`tls.implicit`, or STLS) the handshake and the whole session are in this process.
// `client`: the client's address, which the login lines name.
template <class Server>
int run_unprivileged_session(Server& server, const LogSink& log,
                             std::chrono::milliseconds failure_delay = default_failure_delay,
                             const SessionTls& tls = {}, std::string_view client = {}) {
  std::error_code ec;
  if (!detail::start_implicit_tls(server, tls, ec)) return 0;
  (void)serve_phases(server, log, {}, failure_delay, client);
  detail::finish_tls(server);
  return 0;
}

}  // namespace pop3::posix
