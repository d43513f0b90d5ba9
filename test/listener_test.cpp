// Tests for pop3/posix/listener.hpp: the -D accept loop and popa3d's flood limits.
//
// Each test runs run_listener in a forked child on 127.0.0.1 with a port picked by the
// kernel (port "0", reported through on_listening), and talks to it over TCP. The session
// writes "HELLO\r\n" and answers every line with "ECHO <line>\r\n" until the client closes.
// Every wait is bounded (socket receive timeouts, deadlines on waitpid).
#define BOOST_TEST_MODULE listener
#include <boost/test/unit_test.hpp>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "pop3/posix/listener.hpp"

namespace {

using namespace std::chrono_literals;
using pop3::posix::ListenerOptions;

constexpr auto wait_limit = 10s;

int echo_session(int fd, std::string_view) {
  const std::string hello = "HELLO\r\n";
  if (::write(fd, hello.data(), hello.size()) != static_cast<ssize_t>(hello.size())) return 1;
  std::string line;
  char c;
  // Bounded by the client: it closes every connection it opens, and tests end with SIGKILL.
  while (::read(fd, &c, 1) == 1) {
    if (c != '\n') {
      if (line.size() < 100) line += c;
      continue;
    }
    const std::string reply = "ECHO " + line + "\r\n";
    if (::write(fd, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) return 1;
    line.clear();
  }
  return 0;
}

bool wait_for_exit(pid_t pid, int& status, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return false;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// run_listener in a child process, with its log lines collected in a temp file.
class ListenerProcess {
 public:
  // `in_child` runs in the listener process once it listens (after the port is reported).
  // `session` replaces echo_session.
  explicit ListenerProcess(ListenerOptions options, std::function<void()> in_child = {},
                           std::function<int(const pop3::posix::Connection&)> session = {}) {
    char path[] = "/tmp/listener_test_log.XXXXXX";
    const int log_fd = ::mkstemp(path);
    BOOST_REQUIRE(log_fd >= 0);
    log_path_ = path;
    int report[2];
    BOOST_REQUIRE(::pipe(report) == 0);
    const pid_t parent = ::getpid();
    std::fflush(nullptr);  // the child must not write the test log's buffered output again
    pid_ = ::fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(report[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      if (::getppid() != parent) ::_exit(3);
      const int w = report[1];
      options.addresses = {"127.0.0.1"};
      options.port = "0";
      options.on_listening = [w, in_child](std::uint16_t port) {
        const std::uint32_t msg[2] = {port, static_cast<std::uint32_t>(::getpid())};
        [[maybe_unused]] const ssize_t n = ::write(w, msg, sizeof msg);
        ::close(w);
        if (in_child) in_child();
      };
      pop3::LogSink log = [log_fd](pop3::LogPriority p, std::string_view m) {
        const char* name = p == pop3::LogPriority::info ? "info" : p == pop3::LogPriority::notice ? "notice" : "crit";
        const std::string line = std::string(name) + ": " + std::string(m) + "\n";
        [[maybe_unused]] const ssize_t n = ::write(log_fd, line.data(), line.size());
      };
      if (session) ::_exit(pop3::posix::run_listener(options, session, log));
      ::_exit(pop3::posix::run_listener(options, echo_session, log));
    }
    ::close(log_fd);
    ::close(report[1]);
    pollfd pfd{report[0], POLLIN, 0};
    std::uint32_t msg[2] = {0, 0};
    if (::poll(&pfd, 1, static_cast<int>(std::chrono::milliseconds(wait_limit).count())) == 1)
      BOOST_REQUIRE(::read(report[0], msg, sizeof msg) == static_cast<ssize_t>(sizeof msg));
    ::close(report[0]);
    port_ = static_cast<std::uint16_t>(msg[0]);
    server_pid_ = static_cast<pid_t>(msg[1]);
    BOOST_REQUIRE_MESSAGE(port_ != 0, "the listener did not report a port");
  }
  ListenerProcess(const ListenerProcess&) = delete;
  ListenerProcess& operator=(const ListenerProcess&) = delete;
  ~ListenerProcess() {
    if (server_pid_ > 0 && !reaped_) {
      ::kill(server_pid_, SIGKILL);
      int status;
      wait_for_exit(server_pid_, status, wait_limit);
    }
    if (pid_ > 0 && pid_ != server_pid_) {
      int status;
      wait_for_exit(pid_, status, wait_limit);
    }
    ::unlink(log_path_.c_str());
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] pid_t server_pid() const { return server_pid_; }

  // Sends SIGTERM and returns the exit status, or -1 if it did not exit in time.
  int terminate() {
    ::kill(server_pid_, SIGTERM);
    return wait_exit();
  }
  int wait_exit() {
    int status = 0;
    if (!wait_for_exit(server_pid_, status, wait_limit)) return -1;
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  [[nodiscard]] bool running() const {
    int status;
    return ::waitpid(server_pid_, &status, WNOHANG) == 0;
  }

  // Waits (bounded) until the listener has reaped every session child.
  [[nodiscard]] bool sessions_reaped() const {
    const std::string path = "/proc/" + std::to_string(server_pid_) + "/task/" +
                             std::to_string(server_pid_) + "/children";
    const auto deadline = std::chrono::steady_clock::now() + wait_limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(path);
      if (!in) return false;
      std::string children;
      std::getline(in, children);
      if (children.find_first_not_of(' ') == std::string::npos) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // Waits (bounded) until `line` is in the log.
  [[nodiscard]] bool logged(const std::string& line) const {
    const auto deadline = std::chrono::steady_clock::now() + wait_limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count_log(line) > 0) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  [[nodiscard]] std::size_t count_log(const std::string& line) const {
    std::ifstream in(log_path_);
    std::size_t n = 0;
    for (std::string l; std::getline(in, l);) n += l == line;
    return n;
  }

 private:
  pid_t pid_ = -1;
  pid_t server_pid_ = -1;
  std::uint16_t port_ = 0;
  bool reaped_ = false;
  std::string log_path_;
};

class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    timeval tv{static_cast<time_t>(std::chrono::seconds(wait_limit).count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
    connect_errno_ = connected_ ? 0 : errno;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] int connect_errno() const { return connect_errno_; }

  // Reads one line (up to LF), or what came before EOF / error / timeout.
  std::string read_line() {
    std::string line;
    char c;
    while (line.size() < 200 && ::read(fd_, &c, 1) == 1) {
      line += c;
      if (c == '\n') break;
    }
    return line;
  }
  // True when the server closed the connection without sending a byte.
  bool eof_without_bytes() {
    char c;
    return ::read(fd_, &c, 1) == 0;
  }
  std::string echo(const std::string& text) {
    const std::string line = text + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return {};
    return read_line();
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  int connect_errno_ = 0;
};

ListenerOptions foreground_options() {
  ListenerOptions o;
  o.foreground = true;
  return o;
}

// A socket bound on 127.0.0.1 at a port the kernel picks, listening if asked; `port` gets it.
int bound_socket(std::uint16_t& port, bool listening) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  if (listening) BOOST_REQUIRE(::listen(fd, 5) == 0);
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
  port = ntohs(sin.sin_port);
  return fd;
}

// A port that was free a moment ago on 127.0.0.1.
std::string free_port() {
  std::uint16_t port = 0;
  ::close(bound_socket(port, false));
  return std::to_string(port);
}

// Says which socket the connection came in on, then holds it until the client closes.
int kind_session(const pop3::posix::Connection& c) {
  const std::string kind = c.implicit_tls ? "TLS\r\n" : "PLAIN\r\n";
  if (::write(c.fd, kind.data(), kind.size()) != static_cast<ssize_t>(kind.size())) return 1;
  char byte;
  while (::read(c.fd, &byte, 1) == 1) {
  }
  return 0;
}

}  // namespace

// With tls_port, each address gets a second socket whose sessions are told to start with TLS;
// both kinds share the limits.
BOOST_AUTO_TEST_CASE(tls_port_sessions_know_their_socket_and_share_the_limits) {
  ListenerOptions o = foreground_options();
  o.tls_port = free_port();
  o.max_per_source = 2;
  o.min_delay = 0s;
  ListenerProcess server(o, {}, kind_session);
  const auto tls_port = static_cast<std::uint16_t>(std::stoi(o.tls_port));
  Client plain(server.port());
  Client tls(tls_port);
  BOOST_REQUIRE(plain.connected() && tls.connected());
  BOOST_TEST(plain.read_line() == "PLAIN\r\n");
  BOOST_TEST(tls.read_line() == "TLS\r\n");
  Client third(tls_port);
  BOOST_REQUIRE(third.connected());
  BOOST_TEST(third.eof_without_bytes());
  plain.close();
  tls.close();
  BOOST_TEST(server.terminate() == 0);
  BOOST_TEST(server.count_log("notice: 127.0.0.1: per source limit reached") == 1u);
}

BOOST_AUTO_TEST_CASE(accepts_and_serves) {
  ListenerProcess server(foreground_options());
  for (int i = 0; i < 3; ++i) {
    Client c(server.port());
    BOOST_REQUIRE(c.connected());
    BOOST_TEST(c.read_line() == "HELLO\r\n");
    BOOST_TEST(c.echo("ping " + std::to_string(i)) == "ECHO ping " + std::to_string(i) + "\r\n");
  }
  BOOST_TEST(server.terminate() == 0);
  BOOST_TEST(server.count_log("info: Session from 127.0.0.1") == 3u);
}

BOOST_AUTO_TEST_CASE(per_source_limit_refuses_without_bytes) {
  ListenerOptions o = foreground_options();
  o.max_per_source = 3;
  o.min_delay = 2s;
  ListenerProcess server(o);
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Client>(server.port()));
    BOOST_REQUIRE(held.back()->connected());
    BOOST_REQUIRE(held.back()->read_line() == "HELLO\r\n");
  }
  Client fourth(server.port());
  BOOST_REQUIRE(fourth.connected());
  BOOST_TEST(fourth.eof_without_bytes());
  for (auto& c : held) BOOST_TEST(c->echo("still here") == "ECHO still here\r\n");
  held.clear();
  BOOST_TEST(server.terminate() == 0);
  BOOST_TEST(server.count_log("notice: 127.0.0.1: per source limit reached") >= 1u);
  BOOST_TEST(server.count_log("info: Session from 127.0.0.1") == 3u);
}

// popa3d keeps a slot busy for MIN_DELAY after its session started, even if it ended, and logs
// a refusal at most once per MIN_DELAY.
BOOST_AUTO_TEST_CASE(finished_session_counts_until_min_delay) {
  ListenerOptions o = foreground_options();
  o.max_per_source = 1;
  o.min_delay = 3600s;
  ListenerProcess server(o);
  {
    Client first(server.port());
    BOOST_REQUIRE(first.connected());
    BOOST_REQUIRE(first.read_line() == "HELLO\r\n");
  }
  BOOST_REQUIRE(server.sessions_reaped());
  for (int i = 0; i < 3; ++i) {
    Client again(server.port());
    BOOST_REQUIRE(again.connected());
    BOOST_TEST(again.eof_without_bytes());
  }
  BOOST_TEST(server.terminate() == 0);
  BOOST_TEST(server.count_log("notice: 127.0.0.1: per source limit reached") == 1u);
}

BOOST_AUTO_TEST_CASE(slot_is_free_again_without_min_delay) {
  ListenerOptions o = foreground_options();
  o.max_per_source = 1;
  o.min_delay = 0s;
  ListenerProcess server(o);
  for (int i = 0; i < 3; ++i) {
    {
      Client c(server.port());
      BOOST_REQUIRE(c.connected());
      BOOST_REQUIRE(c.read_line() == "HELLO\r\n");
    }
    BOOST_REQUIRE(server.sessions_reaped());
  }
  BOOST_TEST(server.terminate() == 0);
  BOOST_TEST(server.count_log("notice: 127.0.0.1: per source limit reached") == 0u);
}

BOOST_AUTO_TEST_CASE(global_limit_refuses_without_bytes) {
  ListenerOptions o = foreground_options();
  o.max_sessions = 2;
  o.min_delay = 3600s;
  ListenerProcess server(o);
  Client a(server.port()), b(server.port());
  BOOST_REQUIRE(a.connected());
  BOOST_REQUIRE(b.connected());
  BOOST_REQUIRE(a.read_line() == "HELLO\r\n");
  BOOST_REQUIRE(b.read_line() == "HELLO\r\n");
  for (int i = 0; i < 2; ++i) {
    Client refused(server.port());
    BOOST_REQUIRE(refused.connected());
    BOOST_TEST(refused.eof_without_bytes());
  }
  BOOST_TEST(a.echo("a") == "ECHO a\r\n");
  BOOST_TEST(b.echo("b") == "ECHO b\r\n");
  a.close();
  b.close();
  BOOST_TEST(server.terminate() == 0);
  BOOST_TEST(server.count_log("notice: 127.0.0.1: sessions limit reached") == 1u);
}

BOOST_AUTO_TEST_CASE(sigterm_stops_accepting_and_waits_for_sessions) {
  ListenerProcess server(foreground_options());
  Client running(server.port());
  BOOST_REQUIRE(running.connected());
  BOOST_REQUIRE(running.read_line() == "HELLO\r\n");
  ::kill(server.server_pid(), SIGTERM);
  // Bounded: until the listening socket is gone, a connection may still be queued or served.
  bool refused = false;
  for (int i = 0; i < 500 && !refused; ++i) {
    Client probe(server.port());
    refused = !probe.connected() && probe.connect_errno() == ECONNREFUSED;
    if (!refused) std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST(refused);
  BOOST_TEST(server.running());  // still waiting for the session
  BOOST_TEST(running.echo("after stop") == "ECHO after stop\r\n");
  running.close();
  BOOST_TEST(server.wait_exit() == 0);
}

// Out of descriptors, accept() fails and the connection stays queued: the loop must log it,
// back off, and still obey SIGTERM.
BOOST_AUTO_TEST_CASE(accept_failure_is_logged_and_survived) {
  ListenerProcess server(foreground_options(), [] {
    const int lowest_free = ::dup(0);
    ::close(lowest_free);
    const rlimit limit{static_cast<rlim_t>(lowest_free), static_cast<rlim_t>(lowest_free)};
    ::setrlimit(RLIMIT_NOFILE, &limit);
  });
  Client c(server.port());
  BOOST_REQUIRE(c.connected());
  BOOST_TEST(server.logged("crit: accept: " + std::string(std::strerror(EMFILE))));
  BOOST_TEST(server.terminate() == 0);
}

BOOST_AUTO_TEST_CASE(detaches_without_foreground) {
  // Become the subreaper so the detached daemon can be waited for.
  BOOST_REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  {
    ListenerOptions o;  // foreground = false
    ListenerProcess server(o);
    int status = 0;
    BOOST_REQUIRE(wait_for_exit(server.pid(), status, wait_limit));
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    BOOST_TEST(server.server_pid() != server.pid());
    BOOST_TEST(::getsid(server.server_pid()) == server.server_pid());
    Client c(server.port());
    BOOST_REQUIRE(c.connected());
    BOOST_TEST(c.read_line() == "HELLO\r\n");
    c.close();
    BOOST_TEST(server.terminate() == 0);
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

BOOST_AUTO_TEST_CASE(setup_failures_return_1) {
  std::vector<std::string> lines;
  pop3::LogSink log = [&](pop3::LogPriority p, std::string_view m) {
    if (p == pop3::LogPriority::crit) lines.emplace_back(m);
  };
  const auto never = [](int, std::string_view) { return 1; };
  ListenerOptions bad = foreground_options();
  bad.addresses = {"127.0.0.1"};
  bad.port = "no-such-pop3-service";  // resolved from /etc/services only: no DNS query
  BOOST_TEST(pop3::posix::run_listener(bad, never, log) == 1);
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0].rfind("getaddrinfo(127.0.0.1): ", 0) == 0u);

  // A port somebody else listens on: bind fails (SO_REUSEADDR does not cover a listener).
  ListenerProcess server(foreground_options());
  ListenerOptions busy = foreground_options();
  busy.addresses = {"127.0.0.1"};
  busy.port = std::to_string(server.port());
  lines.clear();
  BOOST_TEST(pop3::posix::run_listener(busy, never, log) == 1);
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0] == "bind: " + std::string(std::strerror(EADDRINUSE)));
  BOOST_TEST(server.terminate() == 0);
}

// Sockets that systemd passed are served as they are, TLS ones marked, and nothing is bound:
// `port` names the plain socket's own port, so a bind would fail. on_stopping hears how many
// sessions are still running, and the passed sockets are closed on the way out.
BOOST_AUTO_TEST_CASE(inherited_sockets_are_served_instead_of_binding) {
  std::uint16_t plain_port = 0, tls_port = 0;
  const int plain_fd = bound_socket(plain_port, true);
  const int tls_fd = bound_socket(tls_port, true);
  int report[2];
  BOOST_REQUIRE(::pipe(report) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(report[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ListenerOptions o = foreground_options();
    o.addresses = {"127.0.0.1"};
    o.port = std::to_string(plain_port);
    o.inherited = {{tls_fd, true}, {plain_fd, false}};
    const int w = report[1];
    o.on_listening = [w](std::uint16_t) {
      const std::uint32_t ready = 0xffffffffu;
      [[maybe_unused]] const ssize_t n = ::write(w, &ready, sizeof ready);
    };
    o.on_stopping = [w](unsigned running) {
      const std::uint32_t count = running;
      [[maybe_unused]] const ssize_t n = ::write(w, &count, sizeof count);
    };
    ::_exit(pop3::posix::run_listener(o, kind_session, pop3::LogSink{}));
  }
  ::close(report[1]);
  ::close(plain_fd);  // the listener's copies are the only ones now
  ::close(tls_fd);
  // The next value the listener reported, or -1 when none came in time.
  const auto next_report = [&]() -> std::int64_t {
    pollfd pfd{report[0], POLLIN, 0};
    std::uint32_t value = 0;
    if (::poll(&pfd, 1, static_cast<int>(std::chrono::milliseconds(wait_limit).count())) != 1 ||
        ::read(report[0], &value, sizeof value) != static_cast<ssize_t>(sizeof value))
      return -1;
    return value;
  };
  BOOST_REQUIRE(next_report() == 0xffffffff);
  Client plain(plain_port);
  Client tls(tls_port);
  BOOST_REQUIRE(plain.connected() && tls.connected());
  BOOST_TEST(plain.read_line() == "PLAIN\r\n");
  BOOST_TEST(tls.read_line() == "TLS\r\n");
  ::kill(pid, SIGTERM);
  BOOST_TEST(next_report() == 2);
  bool refused = false;
  for (int i = 0; i < 500 && !refused; ++i) {
    Client probe(plain_port);
    refused = !probe.connected() && probe.connect_errno() == ECONNREFUSED;
    if (!refused) std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST(refused);
  plain.close();
  tls.close();
  ::close(report[0]);
  int status = 0;
  BOOST_REQUIRE(wait_for_exit(pid, status, wait_limit));
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
