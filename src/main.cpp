// popa3d: the POP3 daemon, a drop-in replacement for popa3d 1.0.3 built on the pop3 library.
// This file reads the options (their table is options.hpp) and composes the engine; see
// man/popa3d.8.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config_file.hpp"
#include "options.hpp"

#include "pop3/auth/crypt.hpp"
#include "pop3/auth/pam.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/maildir.hpp"
#include "pop3/mailbox/mbox.hpp"
#include "pop3/mailbox/mbox_journal_dir.hpp"
#include "pop3/posix/listener.hpp"
#include "pop3/posix/privsep.hpp"
#include "pop3/posix/proxy_reader.hpp"
#include "pop3/posix/syslog.hpp"
#include "pop3/posix/systemd_notify.hpp"
#include "pop3/posix/systemd_sockets.hpp"
#include "pop3/posix/tls_relay.hpp"
#include "pop3/server.hpp"
#include "pop3/transport/fd.hpp"
#include "pop3/transport/tls.hpp"
#include "pop3/transport/tls_context.hpp"

namespace {

// The Auth policy that --auth chose, so that the engine is compiled once for both.
class DaemonAuth {
 public:
  explicit DaemonAuth(pop3::CryptAuth& crypt) : crypt_(&crypt) {}
  explicit DaemonAuth(pop3::PamAuth& pam) : pam_(&pam) {}
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    return pam_ != nullptr ? pam_->authenticate(user, password, ec) : crypt_->authenticate(user, password, ec);
  }

 private:
  pop3::CryptAuth* crypt_ = nullptr;
  pop3::PamAuth* pam_ = nullptr;
};

// How the mbox file is read: the library's default (MmapSource) unless the build chose the
// other source for a comparison (POP3_DAEMON_MBOX_SOURCE in src/CMakeLists.txt).
#ifdef POP3_DAEMON_MBOX_SOURCE
using DaemonMbox = pop3::MboxMailbox<pop3::Md5, POP3_DAEMON_MBOX_SOURCE>;
#else
using DaemonMbox = pop3::MboxMailbox<pop3::Md5>;
#endif

// The Mailbox policy the account's location names (mbox or maildir, its scheme), chosen at
// open(), so that the engine is compiled once for both.
class DaemonMailbox {
 public:
  DaemonMailbox(const pop3::Limits& limits, const pop3::DotlockOptions& dotlock)
      : mbox_(limits, dotlock), maildir_(limits) {}
  void open(std::string_view location, std::error_code& ec) {
    maildir_open_ = pop3::parse_location(location).scheme == pop3::MailboxScheme::maildir;
    maildir_open_ ? maildir_.open(location, ec) : mbox_.open(location, ec);
  }
  std::uint32_t count() const { return maildir_open_ ? maildir_.count() : mbox_.count(); }
  std::uint64_t size(pop3::MsgIndex i) const { return maildir_open_ ? maildir_.size(i) : mbox_.size(i); }
  pop3::UniqueId unique_id(pop3::MsgIndex i) const {
    return maildir_open_ ? maildir_.unique_id(i) : mbox_.unique_id(i);
  }
  void verify(std::error_code& ec) { maildir_open_ ? maildir_.verify(ec) : mbox_.verify(ec); }
  std::span<const char> data(pop3::MsgIndex i, std::uint64_t offset, std::error_code& ec) {
    return maildir_open_ ? maildir_.data(i, offset, ec) : mbox_.data(i, offset, ec);
  }
  void commit(const pop3::DeletionSet& deletions, std::error_code& ec) {
    maildir_open_ ? maildir_.commit(deletions, ec) : mbox_.commit(deletions, ec);
  }
  // The UPDATE journal is the mbox file's; a maildir needs none.
  void use_journal(pop3::MboxJournal journal) noexcept { mbox_.use_journal(std::move(journal)); }

 private:
  DaemonMbox mbox_;
  pop3::MaildirMailbox<pop3::Md5> maildir_;
  bool maildir_open_ = false;
};
static_assert(pop3::MailboxPolicy<DaemonMailbox>);

// The address of the client on `fd` as the listener writes it, or "" when fd is not a socket
// (inetd mode over pipes).
std::string client_address(int fd) {
  sockaddr_storage ss{};
  socklen_t length = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &length) != 0) return {};
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return {};
  return pop3::posix::detail::listener::describe_peer(ss).text;
}

// inetd mode: when the client on descriptor 0 is a proxy --proxy-from lists, its PROXY header
// is read (within proxy_header_timeout) and `peer` becomes the client's address. false: no
// valid header (logged, but for a TCP health check); the connection gets no reply.
bool take_proxy_header(const pop3::posix::CidrList& proxies, const pop3::LogSink& log, std::string& peer) {
  sockaddr_storage ss{};
  socklen_t length = sizeof ss;
  if (proxies.empty() || ::getpeername(0, reinterpret_cast<sockaddr*>(&ss), &length) != 0 || !proxies.contains(ss)) {
    return true;
  }
  pop3::posix::ProxyHeaderReader reader;
  const pop3::posix::ProxyStep step = pop3::posix::read_proxy_header(0, pop3::posix::proxy_header_timeout, reader);
  if (step == pop3::posix::ProxyStep::complete) {
    // A health check that is over already (LOCAL, then a reset) needs no session.
    if (!reader.header().proxied && pop3::posix::peer_gone(0)) return false;
    peer = pop3::posix::detail::listener::describe_peer(pop3::posix::proxied_peer(reader.header(), ss)).text;
    return true;
  }
  if (const std::string why = pop3::posix::proxy_failure(step, reader); !why.empty()) {
    log(pop3::LogPriority::notice, peer + why);
  }
  return false;
}

// pop3::Popa3d with the Auth policy that --auth chose and the Mailbox policy of --mailbox, over
// a transport that can start TLS (without --tls-cert it never does, and is the FdTransport
// below it).
using DaemonTransport = pop3::OpenSslTransport<pop3::FdTransport>;
using DaemonServer = pop3::Pop3Server<DaemonTransport, DaemonAuth, DaemonMailbox>;

// The config file's bytes into `bytes`. It must be a regular file owned by root (or by the
// user running popa3d) that neither group nor others can write: it names the files,
// directories and PAM modules that root uses. `found` false: `path` does not exist, which is
// no error unless `must_exist`.
bool read_config_file(const std::string& path, bool must_exist, std::string& bytes, bool& found, std::string& error) {
  // A settings file is a few hundred bytes; far more is not one.
  constexpr std::size_t max_size = 65536;
  found = false;
  // O_NONBLOCK: a FIFO put in its place opens at once, and is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && !must_exist) return true;
    error = path + ": " + std::strerror(err);
    return false;
  }
  found = true;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = path + ": " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
  } else if ((st.st_uid != 0 && st.st_uid != ::geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    error = path + ": must be owned by root (or by the user running popa3d) and not writable by group or others";
  } else if (static_cast<std::size_t>(st.st_size) > max_size) {
    error = path + ": larger than " + std::to_string(max_size) + " bytes";
  } else {
    bytes.resize(max_size + 1);
    std::size_t size = 0;
    for (;;) {
      const ssize_t n = ::read(fd, bytes.data() + size, bytes.size() - size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = path + ": " + std::strerror(errno);
        break;
      }
      size += static_cast<std::size_t>(n);
      if (n == 0 || size == bytes.size()) break;
    }
    bytes.resize(size);
    if (error.empty() && size > max_size) error = path + ": larger than " + std::to_string(max_size) + " bytes";
  }
  ::close(fd);
  return error.empty();
}

// A spool that is not there gives every user in it an empty mailbox, and no client says why.
void check_spool(const std::string& spool, const pop3::LogSink& log) {
  struct stat st {};
  if (::stat(spool.c_str(), &st) != 0) {
    log(pop3::LogPriority::notice,
        "Mail spool " + spool + ": " + std::strerror(errno) + "; every mailbox in it is served as empty");
  } else if (!S_ISDIR(st.st_mode)) {
    log(pop3::LogPriority::notice, "Mail spool " + spool + " is not a directory; every mailbox in it is served as empty");
  }
}

// --recover, as root: each journal with a plan in it is finished by a child that has dropped to
// the owner of the mailbox the plan names (never root), under the mailbox's exclusive lock, as
// a session's open() would; then the done journals of mailboxes that are gone are removed.
// Returns 0 if every one was finished (or needed nothing), else 1.
int recover_all(const popa3d::Config& config, const pop3::Limits& limits, const pop3::LogSink& log) {
  std::string why;
  const std::vector<pop3::PendingJournal> pending = pop3::pending_journals(config.journal.dir, why);
  if (!why.empty()) {
    log(pop3::LogPriority::crit, why);
    return 1;
  }
  int status = 0;
  for (const pop3::PendingJournal& p : pending) {
    struct stat st {};
    if (::lstat(p.mailbox.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        pop3::mbox_journal_name(st.st_dev, st.st_ino) != p.name) {
      log(pop3::LogPriority::crit, "Journal " + p.name + " names " + p.mailbox + ", which is not that file now; left alone");
      status = 1;
      continue;
    }
    if (st.st_uid == 0) {
      log(pop3::LogPriority::crit, "Journal " + p.name + ": " + p.mailbox + " belongs to root; left alone");
      status = 1;
      continue;
    }
    auto journal = pop3::open_mbox_journal(config.journal, p.mailbox, st.st_uid, st.st_gid, why);
    if (!journal) {
      log(pop3::LogPriority::crit, "Journal " + p.name + ": " + why);
      status = 1;
      continue;
    }
    journal->log = log;
    const pid_t pid = ::fork();
    if (pid < 0) {
      log(pop3::LogPriority::crit, pop3::posix::detail::errno_message("fork", errno));
      return 1;
    }
    if (pid == 0) {
      std::string failed;
      if (!pop3::posix::detail::drop_privileges(st.st_uid, st.st_gid, nullptr, failed)) {
        log(pop3::LogPriority::crit, failed);
        ::_exit(1);
      }
      pop3::MboxMailbox<pop3::Md5> box{limits};
      box.use_journal(std::move(*journal));
      std::error_code ec;
      box.open(p.mailbox, ec);  // recovers first, then scans
      ::_exit(ec ? 1 : 0);
    }
    if (!pop3::posix::detail::reap(pid)) status = 1;
  }
  for (const pop3::PendingJournal& gone : pop3::remove_orphan_journals(config.journal.dir, why))
    log(pop3::LogPriority::notice, "Removed the journal " + gone.name + " of " + gone.mailbox + ", which is gone");
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "popa3d: %s (try popa3d --help)\n", message.c_str());
    return 2;
  };
  std::vector<popa3d::Setting> command_line;
  std::string why;
  if (!popa3d::parse_command_line(argc, argv, command_line, why)) return usage_error(why);
  popa3d::Config config;  // the command line alone until the config file is read
  popa3d::apply(command_line, config);
  if (config.help || config.version) {
    // Neither reads the config file, so the command line is checked alone.
    if (popa3d::check_scopes(command_line, config, "", why) != popa3d::ScopeCheck::ok) return usage_error(why);
    if (config.help) {
      std::fputs(popa3d::usage_text().c_str(), stdout);
    } else {
      std::printf("popa3d version %s\n", POP3_DAEMON_VERSION);
    }
    return 0;
  }

  // systemd's variables are taken (and unset) before prepare_process closes the descriptors
  // they name. Only -D serves the sockets: with Accept=yes systemd passes the connection as
  // descriptor 3 besides 0 and 1, and inetd mode serves it on 0 and 1.
  const pop3::posix::SystemdSockets systemd_sockets = pop3::posix::take_systemd_sockets();
  const pop3::posix::SystemdNotifier notifier = pop3::posix::SystemdNotifier::take_from_environment();
  pop3::posix::prepare_process(systemd_sockets.count);
  pop3::LogSink log;  // made at the first line to log, so that it follows the config file
  // In inetd mode standard error may be the client's socket: startup errors go to the log only.
  // --show-config is run by an admin at a terminal: its errors go to stderr alone.
  auto fail = [&](const std::string& message) {
    if (config.show_config) {
      std::fprintf(stderr, "popa3d: %s\n", message.c_str());
      return 1;
    }
    if (!log) log = config.use_stderr ? pop3::posix::stderr_sink() : pop3::posix::syslog_sink();
    log(pop3::LogPriority::crit, message);
    if (config.daemon && !config.use_stderr) std::fprintf(stderr, "popa3d: %s\n", message.c_str());
    return 1;
  };

  try {
    // A set-ID popa3d would run with an environment and descriptors its caller chose, and would
    // read a config file its caller chose.
    if (::getuid() != ::geteuid() || ::getgid() != ::getegid()) return fail("refusing to run set-user-ID or set-group-ID");

    const auto config_option = popa3d::find_option("config");
    const bool named = std::any_of(command_line.begin(), command_line.end(),
                                   [&](const popa3d::Setting& s) { return s.option == config_option; });
    const std::string file = named ? config.config_file : popa3d::default_config_file;
    std::string bytes;
    bool found = false;
    std::vector<popa3d::ConfigEntry> entries;
    std::vector<popa3d::Setting> from_file;
    if (!read_config_file(file, named, bytes, found, why) ||
        (found && (!popa3d::parse_config(file, bytes, entries, why) ||
                   !popa3d::settings_from_file(file, entries, from_file, why)))) {
      return fail(why);
    }
    const std::vector<popa3d::Setting> settings = popa3d::merge(from_file, command_line);
    popa3d::Config merged;
    popa3d::apply(settings, merged);
    switch (popa3d::check_scopes(settings, merged, file, why)) {
      case popa3d::ScopeCheck::ok: break;
      case popa3d::ScopeCheck::command_line: return usage_error(why);
      case popa3d::ScopeCheck::file: return fail(why);
    }
    config = std::move(merged);
    if (config.show_config) {
      std::fputs(popa3d::show_config(config).c_str(), stdout);
      return 0;
    }
    if (!log) log = config.use_stderr ? pop3::posix::stderr_sink() : pop3::posix::syslog_sink();

    std::string error;
    std::optional<pop3::CryptAuth> auth;  // --auth crypt
    std::optional<pop3::PamAuth> pam;     // --auth pam
    pop3::MailboxLocator locator = config.mailbox_locator;
    if (!locator.normalize(error)) return fail(error);
    const std::string& spool = locator.spool;
    if (config.pam) {
      pam = pop3::PamAuth::create(config.pam_options, error);
      if (!pam) return fail(error);
      pam->set_log(log);
    } else {
      auth = config.users_file.empty() ? pop3::CryptAuth::system_accounts(error)
                                       : pop3::CryptAuth::from_users_file(config.users_file, error);
      if (!auth) return fail(error);
      auth->set_log(log);
    }
    if (locator.mailbox.empty()) check_spool(spool, log);
    const std::chrono::milliseconds failure_delay = config.privsep.failure_delay;

    std::optional<pop3::posix::PrivsepConfig> privsep;
    if (::geteuid() == 0) {
      privsep = pop3::posix::prepare_privsep(config.privsep, error);
      if (!privsep) return fail(error);
    }

    // The certificate and the key are read here, as root, once: every session of -D shares
    // the context (inetd mode has one session per process).
    pop3::TlsContext tls_context;
    if (!config.tls_cert.empty()) {
      if (config.tls_key.empty()) return fail("--tls-cert needs --tls-key");
      std::optional<pop3::TlsContext> made = pop3::make_tls_context({config.tls_cert, config.tls_key}, error);
      if (!made) return fail(error);
      tls_context = std::move(*made);
    } else if (config.tls_implicit) {
      return fail("--tls-implicit needs --tls-cert and --tls-key");
    } else if (const auto tls_port = popa3d::find_option("tls-port");
               std::any_of(settings.begin(), settings.end(), [&](const popa3d::Setting& s) { return s.option == tls_port; })) {
      return fail("--tls-port needs --tls-cert and --tls-key");
    }

    const pop3::Limits limits;  // popa3d's bounds: no option changes them
    // Root opens each session's journal (mbox_journal_dir.hpp); without root, or without the
    // directory, UPDATE is done in place, as popa3d does it.
    bool journals = false;
    if (config.recover && !privsep) return fail("--recover must be run as root");
    if (privsep) {
      journals = pop3::prepare_journal_dir(config.journal.dir, error);
      if (!journals) log(pop3::LogPriority::notice, error + "; UPDATE is done in place, without a journal");
    }
    if (config.recover) return journals ? recover_all(config, limits, log) : 1;
    // --capa turns the RFC 2449 extensions on; so does any TLS option, with STLS offered on
    // plain connections.
    pop3::Features features = config.features;
    features.implementation = "popa3d " POP3_DAEMON_VERSION;  // CAPA's IMPLEMENTATION
    if (tls_context) {
      features.extensions = true;
      features.stls = true;
      features.require_tls = config.require_tls;
    }
    auto session = [&](int in_fd, int out_fd, std::string_view peer, bool implicit_tls) {
      if (pam) pam->set_remote_host(std::string(peer));
      DaemonServer server{DaemonTransport{pop3::FdTransport{in_fd, out_fd, config.idle_timeout}, tls_context, log,
                                          std::string(peer)},
                          pam ? DaemonAuth{*pam} : DaemonAuth{*auth}, DaemonMailbox{limits, config.dotlock},
                          limits, log, locator, features};
      const auto open_journal = [&](const pop3::Account& account) {
        if (!journals) return;
        std::string why;
        const std::string mailbox = locator.locate(account);
        if (pop3::parse_location(mailbox).scheme == pop3::MailboxScheme::maildir) return;
        auto journal = pop3::open_mbox_journal(config.journal, mailbox, account.uid, account.gid, why);
        if (journal) {
          journal->log = log;
          server.mailbox().use_journal(std::move(*journal));
        } else if (!why.empty()) {
          log(pop3::LogPriority::notice, "No journal for " + mailbox + " (" + why + "); UPDATE is done in place");
        }
      };
      // The transport holds the session's reference: the process model lets go of it (and of
      // the key) wherever TLS cannot happen any more.
      tls_context.reset();
      pop3::posix::SessionTls tls;
      tls.implicit = implicit_tls;
      if (!config.tls_cert.empty()) {
        tls.relay = [&server, in_fd, out_fd, &config, &log](int session_fd) {
          return pop3::posix::relay_tls(server.transport().native_handle(), in_fd, out_fd, session_fd,
                                        config.idle_timeout, log);
        };
      }
      return privsep ? pop3::posix::run_privsep_session(server, *privsep, log, tls, open_journal, peer)
                     : pop3::posix::run_unprivileged_session(server, log, failure_delay, tls, peer);
    };

    if (!config.daemon) {
      if (systemd_sockets.count > 0) ::close_range(3, 2 + systemd_sockets.count, 0);
      std::string peer = client_address(0);
      if (!take_proxy_header(config.listener.proxy_from, log, peer)) return 0;
      return session(0, 1, peer, config.tls_implicit);
    }

    if (!privsep) {
      log(pop3::LogPriority::notice, "Not started as root: no privilege separation, every session runs as this user");
    }
    pop3::posix::ListenerOptions listener = config.listener;
    if (!systemd_sockets.error.empty()) return fail(systemd_sockets.error);
    if (systemd_sockets.count > 0) {
      // The socket units say where to listen; a second place that says it could only disagree.
      for (const char* name : {"listen", "port", "tls-port"}) {
        const auto option = popa3d::find_option(name);
        if (std::any_of(settings.begin(), settings.end(), [&](const popa3d::Setting& s) { return s.option == option; }))
          return fail(std::string("--") + name + " does not apply to the sockets systemd passed: set ListenStream= in the socket unit");
      }
      listener.inherited = pop3::posix::check_systemd_sockets(systemd_sockets, error);
      if (listener.inherited.empty()) return fail(error);
      for (const pop3::posix::ListeningSocket& s : listener.inherited) {
        if (s.implicit_tls && !tls_context)
          return fail("systemd socket " + std::to_string(s.fd) + " (pop3s) needs --tls-cert and --tls-key");
      }
      listener.foreground = true;  // the process systemd started is the one that listens
    }
    if (tls_context && config.tls_port != "0") listener.tls_port = config.tls_port;
    // Each session starts from the accounts' files as they are now, re-read here once when
    // they changed rather than in every session.
    listener.before_fork = [&] {
      if (std::string why; auth && !auth->refresh(why)) log(pop3::LogPriority::crit, why);
    };
    if (listener.port == "0") {
      // A port picked by the system is of no use unless someone is told which.
      listener.on_listening = [&](std::uint16_t port) {
        log(pop3::LogPriority::info, "Listening on port " + std::to_string(port));
      };
    }
    if (!notifier.error().empty()) log(pop3::LogPriority::notice, notifier.error());
    if (notifier) {
      // Type=notify: systemd waits for READY=1 from the process it started, so no detaching.
      listener.foreground = true;
      const auto notify = [&](const std::string& state) {
        if (std::string why; !notifier.notify(state, why)) log(pop3::LogPriority::notice, why);
      };
      listener.on_listening = [notify, announce = std::move(listener.on_listening)](std::uint16_t port) {
        if (announce) announce(port);
        notify("READY=1\nSTATUS=Accepting connections");
      };
      listener.on_stopping = [notify](unsigned running) {
        notify("STOPPING=1\nSTATUS=Stopping: waiting for " + std::to_string(running) + " sessions to end");
      };
    }
    return pop3::posix::run_listener(
        listener,
        [&](const pop3::posix::Connection& connection) {
          // popa3d's layout: the client on descriptors 0 and 1.
          const int fd = connection.fd;
          if (::dup2(fd, 0) < 0 || ::dup2(fd, 1) < 0) {
            log(pop3::LogPriority::crit, pop3::posix::detail::errno_message("dup2", errno));
            return 1;
          }
          if (fd > 1) ::close(fd);
          return session(0, 1, connection.peer, connection.implicit_tls);
        },
        log);
  } catch (const std::exception& e) {
    return fail(std::string("startup failed: ") + e.what());
  }
}
