// popa3d: the POP3 daemon, a drop-in replacement for popa3d 1.0.3 built on the pop3 library.
// This file only parses options and composes the engine; see man/popa3d.8.
#include <getopt.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/auth/crypt.hpp"
#include "pop3/auth/pam.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/mbox.hpp"
#include "pop3/posix/listener.hpp"
#include "pop3/posix/privsep.hpp"
#include "pop3/posix/syslog.hpp"
#include "pop3/server.hpp"
#include "pop3/transport/fd.hpp"

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

// The address of the client on `fd` as the listener writes it, or "" when fd is not a socket
// (inetd mode over pipes).
std::string client_address(int fd) {
  sockaddr_storage ss{};
  socklen_t length = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &length) != 0) return {};
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return {};
  return pop3::posix::detail::listener::describe_peer(ss).text;
}

using Popa3d = pop3::Pop3Server<pop3::FdTransport, DaemonAuth, pop3::MboxMailbox, pop3::Md5>;

struct Options {
  bool daemon = false;
  bool version = false;
  bool help = false;
  std::vector<std::string> listen;  // empty: every IPv4 and IPv6 address
  unsigned port = 110;
  std::string spool = "/var/mail";
  std::string users_file;  // empty: system accounts
  bool pam = false;        // --auth pam
  std::string pam_service = "popa3d";
  std::string pam_confdir;  // empty: /etc/pam.d
  unsigned max_sessions = 500;
  unsigned max_per_source = 50;
  unsigned timeout = 600;
  unsigned failure_delay = 2;  // seconds before the -ERR of a refused login
  bool foreground = false;
  bool use_stderr = false;
  std::string user = "popa3d";
  std::string chroot_dir = "/var/empty";
};

constexpr const char* usage_text =
    "Usage: popa3d [-D [--foreground] [--listen ADDR]... [--port N] [--max-sessions N]\n"
    "              [--max-per-source N]] [--spool DIR] [--users-file FILE] [--timeout SECONDS]\n"
    "              [--user NAME] [--chroot DIR] [--failure-delay SECONDS] [--stderr]\n"
    "              [--auth crypt|pam] [--pam-service NAME] [--pam-confdir DIR]\n"
    "       popa3d -V | -h\n"
    "Without -D, serves one POP3 session on standard input and output (inetd).\n"
    "\n"
    "  -D, --daemon           standalone daemon: listen and fork one process per connection\n"
    "      --foreground       with -D: do not detach (for a service manager)\n"
    "      --listen ADDR      with -D: address to listen on, repeatable (default: all IPv4 and IPv6)\n"
    "      --port N           with -D: TCP port (default 110)\n"
    "      --max-sessions N   with -D: sessions at once (default 500)\n"
    "      --max-per-source N with -D: sessions at once from one address (default 50)\n"
    "      --spool DIR        mail spool directory; mailbox = DIR/USER (default /var/mail)\n"
    "      --users-file FILE  accounts from FILE (name:crypt-hash:uid:gid:mailbox), not the system\n"
    "      --auth crypt|pam   check passwords with crypt(3) (default), or ask PAM\n"
    "      --pam-service NAME with --auth pam: the PAM service (default popa3d, /etc/pam.d/popa3d)\n"
    "      --pam-confdir DIR  with --auth pam: read the service from DIR, not from /etc/pam.d\n"
    "      --timeout SECONDS  idle time before a session is closed (default 600)\n"
    "      --user NAME        unprivileged user for the login phase (default popa3d)\n"
    "      --chroot DIR       empty directory for the login phase (default /var/empty)\n"
    "      --failure-delay SECONDS\n"
    "                         wait before refusing a login (default 2, 0 = no wait)\n"
    "      --stderr           log to standard error instead of syslog\n"
    "  -V, --version          print the version and exit\n"
    "  -h, --help             print this help and exit\n"
    "See popa3d(8).\n";

enum LongOnly : int {
  opt_listen = 256, opt_port, opt_spool, opt_users_file, opt_max_sessions, opt_max_per_source,
  opt_timeout, opt_foreground, opt_stderr, opt_user, opt_chroot, opt_failure_delay,
  opt_auth, opt_pam_service, opt_pam_confdir,
};

// A decimal number in [min, max], nothing else (no sign, no blanks, no trailing text).
bool parse_number(const char* text, unsigned min, unsigned max, unsigned& value) {
  const std::string_view s{text};
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) return false;
  value = v;
  return true;
}

// 0: parsed; otherwise prints one line on stderr and returns the exit status (2).
int parse_options(int argc, char** argv, Options& o) {
  static const option long_options[] = {
      {"daemon", no_argument, nullptr, 'D'},
      {"version", no_argument, nullptr, 'V'},
      {"help", no_argument, nullptr, 'h'},
      {"listen", required_argument, nullptr, opt_listen},
      {"port", required_argument, nullptr, opt_port},
      {"spool", required_argument, nullptr, opt_spool},
      {"users-file", required_argument, nullptr, opt_users_file},
      {"auth", required_argument, nullptr, opt_auth},
      {"pam-service", required_argument, nullptr, opt_pam_service},
      {"pam-confdir", required_argument, nullptr, opt_pam_confdir},
      {"max-sessions", required_argument, nullptr, opt_max_sessions},
      {"max-per-source", required_argument, nullptr, opt_max_per_source},
      {"timeout", required_argument, nullptr, opt_timeout},
      {"foreground", no_argument, nullptr, opt_foreground},
      {"stderr", no_argument, nullptr, opt_stderr},
      {"user", required_argument, nullptr, opt_user},
      {"chroot", required_argument, nullptr, opt_chroot},
      {"failure-delay", required_argument, nullptr, opt_failure_delay},
      {nullptr, 0, nullptr, 0},
  };
  auto bad = [](const std::string& message) {
    std::fprintf(stderr, "popa3d: %s (try popa3d --help)\n", message.c_str());
    return 2;
  };
  bool listener_option = false;
  bool pam_option = false;
  opterr = 0;  // our own one-line messages
  for (;;) {
    const int previous = optind;
    const int c = ::getopt_long(argc, argv, ":DVh", long_options, nullptr);
    if (c == -1) break;
    const std::string name = previous < argc ? argv[previous] : "";
    unsigned number = 0;
    switch (c) {
      case 'D': o.daemon = true; break;
      case 'V': o.version = true; break;
      case 'h': o.help = true; break;
      case opt_listen:
        if (*optarg == '\0') return bad("--listen needs an address");
        o.listen.emplace_back(optarg);
        listener_option = true;
        break;
      case opt_port:
        if (!parse_number(optarg, 0, 65535, o.port)) return bad("--port: not a port number: " + std::string(optarg));
        listener_option = true;
        break;
      case opt_spool: o.spool = optarg; break;
      case opt_users_file: o.users_file = optarg; break;
      case opt_auth:
        if (std::strcmp(optarg, "crypt") != 0 && std::strcmp(optarg, "pam") != 0) {
          return bad("--auth: not crypt or pam: " + std::string(optarg));
        }
        o.pam = std::strcmp(optarg, "pam") == 0;
        break;
      case opt_pam_service: o.pam_service = optarg; pam_option = true; break;
      case opt_pam_confdir: o.pam_confdir = optarg; pam_option = true; break;
      case opt_max_sessions:
        if (!parse_number(optarg, 1, 65535, o.max_sessions)) return bad("--max-sessions: not a number from 1 to 65535: " + std::string(optarg));
        listener_option = true;
        break;
      case opt_max_per_source:
        if (!parse_number(optarg, 1, 65535, o.max_per_source)) return bad("--max-per-source: not a number from 1 to 65535: " + std::string(optarg));
        listener_option = true;
        break;
      case opt_timeout:
        // Up to what poll() can wait in milliseconds.
        if (!parse_number(optarg, 1, 2147483, number)) return bad("--timeout: not a number of seconds from 1 to 2147483: " + std::string(optarg));
        o.timeout = number;
        break;
      case opt_foreground: o.foreground = true; listener_option = true; break;
      case opt_stderr: o.use_stderr = true; break;
      case opt_user:
        if (*optarg == '\0') return bad("--user needs a name");
        o.user = optarg;
        break;
      case opt_chroot: o.chroot_dir = optarg; break;
      case opt_failure_delay:
        if (!parse_number(optarg, 0, 60, o.failure_delay)) return bad("--failure-delay: not a number of seconds from 0 to 60: " + std::string(optarg));
        break;
      case ':': return bad("option " + name + " needs a value");
      default:
        return bad("unknown option " + (optopt != 0 ? "-" + std::string(1, static_cast<char>(optopt)) : name));
    }
  }
  if (optind < argc) return bad("unexpected argument: " + std::string(argv[optind]));
  if (listener_option && !o.daemon) return bad("--listen, --port, --max-sessions, --max-per-source and --foreground need -D");
  if (pam_option && !o.pam) return bad("--pam-service and --pam-confdir need --auth pam");
  if (o.pam && !o.users_file.empty()) return bad("--users-file needs --auth crypt: with --auth pam, PAM and the system's accounts decide");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const int status = parse_options(argc, argv, o); status != 0) return status;
  if (o.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  if (o.version) {
    std::printf("popa3d version %s\n", POP3_DAEMON_VERSION);
    return 0;
  }

  pop3::posix::prepare_process();
  const pop3::LogSink log = o.use_stderr ? pop3::posix::stderr_sink() : pop3::posix::syslog_sink();
  // In inetd mode standard error may be the client's socket: startup errors go to the log only.
  auto fail = [&](const std::string& message) {
    log(pop3::LogPriority::crit, message);
    if (o.daemon && !o.use_stderr) std::fprintf(stderr, "popa3d: %s\n", message.c_str());
    return 1;
  };

  try {
    // A set-ID popa3d would run with an environment and descriptors its caller chose.
    if (::getuid() != ::geteuid() || ::getgid() != ::getegid()) return fail("refusing to run set-user-ID or set-group-ID");

    std::string error;
    std::optional<pop3::CryptAuth> auth;  // --auth crypt
    std::optional<pop3::PamAuth> pam;     // --auth pam
    if (o.pam) {
      pop3::PamOptions options;
      options.spool = o.spool;
      options.service = o.pam_service;
      options.confdir = o.pam_confdir;
      pam = pop3::PamAuth::create(std::move(options), error);
      if (!pam) return fail(error);
      pam->set_log(log);
    } else {
      auth = o.users_file.empty() ? pop3::CryptAuth::system_accounts(o.spool, error)
                                  : pop3::CryptAuth::from_users_file(o.users_file, o.spool, error);
      if (!auth) return fail(error);
      auth->set_log(log);
    }
    const std::chrono::milliseconds failure_delay{std::chrono::seconds{o.failure_delay}};

    std::optional<pop3::posix::PrivsepConfig> privsep;
    if (::geteuid() == 0) {
      pop3::posix::PrivsepOptions options;
      options.user = o.user;
      options.chroot_dir = o.chroot_dir;
      options.failure_delay = failure_delay;
      privsep = pop3::posix::prepare_privsep(options, error);
      if (!privsep) return fail(error);
    }

    pop3::Limits limits;
    limits.idle_timeout = std::chrono::seconds{o.timeout};
    auto session = [&](int in_fd, int out_fd, std::string_view peer) {
      if (pam) pam->set_remote_host(std::string(peer));
      Popa3d server{pop3::FdTransport{in_fd, out_fd, limits.idle_timeout}, pam ? DaemonAuth{*pam} : DaemonAuth{*auth},
                    pop3::MboxMailbox<pop3::Md5>{limits}, limits, log};
      return privsep ? pop3::posix::run_privsep_session(server, *privsep, log)
                     : pop3::posix::run_unprivileged_session(server, log, failure_delay);
    };

    if (!o.daemon) return session(0, 1, client_address(0));

    if (!privsep) {
      log(pop3::LogPriority::notice, "Not started as root: no privilege separation, every session runs as this user");
    }
    pop3::posix::ListenerOptions listener;
    listener.addresses = o.listen;
    listener.port = std::to_string(o.port);
    listener.max_sessions = o.max_sessions;
    listener.max_per_source = o.max_per_source;
    listener.foreground = o.foreground;
    // Each session starts from the accounts' files as they are now, re-read here once when
    // they changed rather than in every session.
    listener.before_fork = [&] {
      if (std::string why; auth && !auth->refresh(why)) log(pop3::LogPriority::crit, why);
    };
    if (o.port == 0) {
      // A port picked by the system is of no use unless someone is told which.
      listener.on_listening = [&](std::uint16_t port) {
        log(pop3::LogPriority::info, "Listening on port " + std::to_string(port));
      };
    }
    return pop3::posix::run_listener(
        listener,
        [&](int fd, std::string_view peer) {
          // popa3d's layout: the client on descriptors 0 and 1.
          if (::dup2(fd, 0) < 0 || ::dup2(fd, 1) < 0) {
            log(pop3::LogPriority::crit, pop3::posix::detail::errno_message("dup2", errno));
            return 1;
          }
          if (fd > 1) ::close(fd);
          return session(0, 1, peer);
        },
        log);
  } catch (const std::exception& e) {
    return fail(std::string("startup failed: ") + e.what());
  }
}
