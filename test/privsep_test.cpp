// Tests of pop3/posix/privsep.hpp: the child -> root handoff, the startup checks, and (as root)
// whole sessions with a fake server that reports which identity and root directory each phase
// ran under.
#define BOOST_TEST_MODULE privsep
#include <boost/test/unit_test.hpp>

#include "pop3/posix/privsep.hpp"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace {

using pop3::test::TempDir;

struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close_r();
    close_w();
  }
  void close_r() {
    if (r >= 0) ::close(r);
    r = -1;
  }
  void close_w() {
    if (w >= 0) ::close(w);
    w = -1;
  }
};

// Everything until end of input, bounded.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  while (out.size() < (1u << 20)) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

pop3::posix::PrivsepConfig config_for_tests() {
  pop3::posix::PrivsepConfig config;
  config.auth_buffer = 256;
  config.max_pending = 4096;
  return config;
}

pop3::posix::detail::Handoff roundtrip(std::string_view raw, pop3::Credentials& out) {
  Pipe p;
  BOOST_REQUIRE(pop3::posix::detail::write_all(p.w, raw.data(), raw.size()));
  p.close_w();
  return pop3::posix::detail::read_handoff(p.r, config_for_tests(), out);
}

std::string header(std::uint32_t user, std::uint32_t password, std::uint32_t pending, std::uint32_t relay = 0) {
  std::string h;
  for (const std::uint32_t v : {user, password, pending, relay}) h.append(reinterpret_cast<const char*>(&v), sizeof v);
  return h;
}

// Root-only tests skip without root, but fail in CI, which runs as root.
bool is_root() {
  if (::geteuid() == 0) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string_view(ci) == "true") {
    BOOST_FAIL("CI=true but not root: privilege separation cannot be exercised");
  }
  BOOST_TEST_MESSAGE("not root: privilege separation cannot be exercised, test skipped");
  return false;
}

// A pre-auth user that exists on every system.
constexpr const char* preauth_user = "nobody";

// What the fake engine reports: one line per phase on the client socket.
std::string identity(const char* phase) {
  std::string s = std::string(phase) + " uid=" + std::to_string(::getuid()) + "/" + std::to_string(::geteuid()) +
                  " gid=" + std::to_string(::getgid()) + "/" + std::to_string(::getegid());
  gid_t groups[8];
  const int n = ::getgroups(8, groups);
  s += " groups=";
  for (int i = 0; i < n; ++i) s += std::to_string(groups[i]) + (i + 1 < n ? "," : "");
  // The chroot holds a file "marker"; outside it "/marker" does not exist.
  s += ::access("/marker", F_OK) == 0 ? " chroot=yes" : " chroot=no";
  s += ::setuid(0) == 0 ? " root=regained" : "";
  return s + "\n";
}

struct FakeAuth {
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    ec.clear();
    if (user == "alice" && password == "secret") return pop3::Account{"alice", "/var/mail/alice", 12345, 23456};
    if (user == "root" && password == "secret") return pop3::Account{"root", "/var/mail/root", 0, 0};
    // Names the process the check ran in.
    if (user == "whoami") return pop3::Account{"pid" + std::to_string(::getpid()), "/var/mail/w", 12345, 23456};
    // A check that dies (a crashing PAM module, say).
    if (user == "crash") ::_exit(3);
    if (user == "alice" || user == "root") ec = pop3::errc::auth_failed;
    else ec = pop3::errc::unknown_user;
    return std::nullopt;
  }
};

// Stands in for Pop3Server: authorize() hands out fixed credentials, each phase writes its
// identity to `fd` (the "client").
struct FakeServer {
  int fd;
  std::optional<std::pair<std::string, std::string>> login;  // nullopt: the client QUITs
  std::string pending = "STAT\r\nQU";
  FakeAuth auth_;

  std::optional<pop3::Credentials> authorize(std::error_code& ec, std::string_view = {}) {
    ec.clear();
    report(identity("authorize"));
    if (!login) return std::nullopt;
    pop3::Credentials c;
    c.user = login->first;
    c.password = login->second;
    c.pending = pending;
    return c;
  }
  std::error_code refuse_login(const std::error_code& = {}) {
    report(identity("refuse"));
    return {};
  }
  std::error_code transact(const pop3::Account& account, std::string_view bytes) {
    report(identity("transact") + "account=" + account.user + " pending=" + std::string(bytes) + "\n");
    return {};
  }
  FakeAuth& auth() { return auth_; }
  void report(const std::string& s) const { BOOST_REQUIRE(::write(fd, s.data(), s.size()) > 0); }
};

struct SessionResult {
  std::string client;  // what the phases reported
  std::string log;     // the log lines
  int status = -1;     // the session process's exit status
  pid_t pid = 0;       // the session process
};

// Runs one privsep session in a forked process, so that this test process keeps root.
template <class Prepare>
SessionResult run_session(const pop3::posix::PrivsepConfig& config, Prepare prepare, bool privsep = true,
                          std::string_view peer = {}) {
  Pipe client;
  Pipe log;
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    client.close_r();
    log.close_r();
    FakeServer server{client.w, {}, "STAT\r\nQU", {}};
    prepare(server);
    const int log_fd = log.w;
    const pop3::LogSink sink = [log_fd](pop3::LogPriority p, std::string_view m) {
      const std::string line = std::to_string(static_cast<int>(p)) + " " + std::string(m) + "\n";
      [[maybe_unused]] const ssize_t n = ::write(log_fd, line.data(), line.size());
    };
    const int status =
        privsep ? pop3::posix::run_privsep_session(server, config, sink, {}, {}, peer)
                : pop3::posix::run_unprivileged_session(server, sink, std::chrono::milliseconds{0}, {}, peer);
    ::_exit(status);
  }
  client.close_w();
  log.close_w();
  SessionResult result;
  result.pid = pid;
  result.client = read_all(client.r);
  result.log = read_all(log.r);
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

struct Chroot {
  TempDir dir;
  pop3::posix::PrivsepConfig config;
  passwd* pre = nullptr;
  Chroot() {
    ::chmod(dir.path().c_str(), 0755);
    const int fd = ::creat((dir.path() / "marker").c_str(), 0644);
    BOOST_REQUIRE(fd >= 0);
    ::close(fd);
    pop3::posix::PrivsepOptions options;
    options.user = preauth_user;
    options.chroot_dir = dir.path().string();
    options.failure_delay = std::chrono::milliseconds{0};
    std::string error;
    auto prepared = pop3::posix::prepare_privsep(options, error);
    BOOST_REQUIRE_MESSAGE(prepared, error);
    config = *prepared;
    pre = ::getpwnam(preauth_user);
    BOOST_REQUIRE(pre != nullptr);
  }
  std::string preauth(const char* phase) const {
    const std::string u = std::to_string(pre->pw_uid);
    const std::string g = std::to_string(pre->pw_gid);
    return std::string(phase) + " uid=" + u + "/" + u + " gid=" + g + "/" + g + " groups=" + g + " chroot=yes\n";
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(handoff_round_trip) {
  Pipe p;
  BOOST_REQUIRE(pop3::posix::detail::write_handoff(p.w, "alice", "pass word", "STAT\r\nLI"));
  p.close_w();
  pop3::Credentials c;
  BOOST_TEST((pop3::posix::detail::read_handoff(p.r, config_for_tests(), c) == pop3::posix::detail::Handoff::ok));
  BOOST_TEST(c.user == "alice");
  BOOST_TEST(c.password == "pass word");
  BOOST_TEST(c.pending == "STAT\r\nLI");
}

BOOST_AUTO_TEST_CASE(handoff_bounds_and_garbage) {
  using pop3::posix::detail::Handoff;
  pop3::Credentials c;
  BOOST_TEST((roundtrip("", c) == Handoff::none));
  BOOST_TEST((roundtrip("abc", c) == Handoff::malformed));  // cut header
  // user + NUL + password + NUL is at most 256 bytes (popa3d's AUTH_BUFFER_SIZE).
  BOOST_TEST((roundtrip(header(100, 154, 0) + std::string(254, 'u'), c) == Handoff::ok));
  BOOST_TEST((roundtrip(header(100, 155, 0) + std::string(255, 'u'), c) == Handoff::malformed));
  BOOST_TEST((roundtrip(header(0xffffffff, 1, 0) + "x", c) == Handoff::malformed));
  BOOST_TEST((roundtrip(header(1, 1, 4096) + std::string(4098, 'p'), c) == Handoff::ok));
  BOOST_TEST((roundtrip(header(1, 1, 4097) + std::string(4099, 'p'), c) == Handoff::malformed));
  BOOST_TEST((roundtrip(header(1, 1, 0xffffffff), c) == Handoff::malformed));
  BOOST_TEST((roundtrip(header(5, 6, 0) + "alicesecret", c) == Handoff::ok));
  BOOST_TEST((roundtrip(header(5, 6, 0) + "alicesecre", c) == Handoff::malformed));   // short
  BOOST_TEST((roundtrip(header(5, 6, 0) + "alicesecretX", c) == Handoff::malformed));  // trailing
}

BOOST_AUTO_TEST_CASE(missing_preauth_user_says_how_to_create_it) {
  pop3::posix::PrivsepOptions options;
  options.user = "no-such-user-h3a";
  std::string error;
  BOOST_TEST(!pop3::posix::prepare_privsep(options, error));
  BOOST_TEST(error ==
             "pre-auth user \"no-such-user-h3a\": no such user; create it with: useradd --system "
             "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin no-such-user-h3a");
  options.user = "root";
  BOOST_TEST(!pop3::posix::prepare_privsep(options, error));
  BOOST_TEST(error == "pre-auth user \"root\" must not be root");
}

BOOST_AUTO_TEST_CASE(chroot_directory_checks) {
  TempDir dir;
  pop3::posix::PrivsepOptions options;
  options.user = preauth_user;
  std::string error;
  options.chroot_dir = "relative/dir";
  BOOST_TEST(!pop3::posix::prepare_privsep(options, error));
  BOOST_TEST(error == "chroot directory \"relative/dir\" is not an absolute path");

  if (!is_root()) return;
  // Missing: created root-owned 0755 even under umask 077.
  const mode_t old_mask = ::umask(077);
  options.chroot_dir = (dir.path() / "empty").string();
  const auto created = pop3::posix::prepare_privsep(options, error);
  ::umask(old_mask);
  BOOST_REQUIRE_MESSAGE(created, error);
  struct stat st {};
  BOOST_REQUIRE(::stat(options.chroot_dir.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0755u);
  BOOST_TEST(st.st_uid == 0u);
  BOOST_TEST(created->chroot_dir == options.chroot_dir);

  BOOST_REQUIRE(::chmod(options.chroot_dir.c_str(), 0775) == 0);
  BOOST_TEST(!pop3::posix::prepare_privsep(options, error));
  BOOST_TEST(error == "chroot directory " + options.chroot_dir +
                          " must be owned by root and not writable by group or others");
  BOOST_REQUIRE(::chmod(options.chroot_dir.c_str(), 0755) == 0);
  BOOST_REQUIRE(::chown(options.chroot_dir.c_str(), 65534, 0) == 0);
  BOOST_TEST(!pop3::posix::prepare_privsep(options, error));

  options.chroot_dir = (dir.path() / "no" / "parent").string();
  BOOST_TEST(!pop3::posix::prepare_privsep(options, error));
  BOOST_TEST(error.find("cannot create chroot directory") == 0u);
}

BOOST_AUTO_TEST_CASE(successful_login_runs_transaction_as_the_account) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer& s) { s.login.emplace("alice", "secret"); });
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.client == chroot.preauth("authorize") +
                             "transact uid=12345/12345 gid=23456/23456 groups=23456 chroot=no\n"
                             "account=alice pending=STAT\r\nQU\n");
  BOOST_TEST(r.log == "0 Authentication passed for alice\n");
}

BOOST_AUTO_TEST_CASE(wrong_password_is_refused_after_dropping_privileges) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer& s) { s.login.emplace("alice", "wrong"); });
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.client == chroot.preauth("authorize") + chroot.preauth("refuse"));
  BOOST_TEST(r.log == "1 Authentication failed for alice\n");
}

BOOST_AUTO_TEST_CASE(unknown_user_is_logged_as_unknown) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer& s) { s.login.emplace("carol", "secret"); });
  BOOST_TEST(r.client == chroot.preauth("authorize") + chroot.preauth("refuse"));
  BOOST_TEST(r.log == "1 Authentication failed for UNKNOWN USER\n");
}

BOOST_AUTO_TEST_CASE(uid_0_account_is_refused_by_the_process_model) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer& s) { s.login.emplace("root", "secret"); });
  BOOST_TEST(r.client == chroot.preauth("authorize") + chroot.preauth("refuse"));
  BOOST_TEST(r.log == "1 Authentication failed for root\n");
}

// What fail2ban counts (dist/fail2ban): each login line ends in the client's address.
BOOST_AUTO_TEST_CASE(login_lines_name_the_client_in_both_models) {
  std::vector<bool> models{false};
  std::optional<Chroot> chroot;
  if (is_root()) {
    chroot.emplace();
    models.push_back(true);
  }
  for (const bool privsep : models) {
    const pop3::posix::PrivsepConfig config = privsep ? chroot->config : config_for_tests();
    const auto as = [&](const char* user, const char* password, std::string_view peer) {
      return run_session(config, [&](FakeServer& s) { s.login.emplace(user, password); }, privsep, peer).log;
    };
    BOOST_TEST(as("alice", "secret", "192.0.2.1") == "0 Authentication passed for alice from 192.0.2.1\n");
    BOOST_TEST(as("alice", "wrong", "2001:db8::1") == "1 Authentication failed for alice from 2001:db8::1\n");
    BOOST_TEST(as("carol", "secret", "192.0.2.1") == "1 Authentication failed for UNKNOWN USER from 192.0.2.1\n");
    BOOST_TEST(as("root", "secret", "192.0.2.1") == "1 Authentication failed for root from 192.0.2.1\n");
  }
}

BOOST_AUTO_TEST_CASE(session_ending_in_authorization_hands_nothing_over) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer&) {});
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.client == chroot.preauth("authorize"));
  BOOST_TEST(r.log == "");
}

BOOST_AUTO_TEST_CASE(oversized_credentials_are_refused) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r =
      run_session(chroot.config, [](FakeServer& s) { s.login.emplace(std::string(200, 'a'), std::string(60, 'p')); });
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.client == chroot.preauth("authorize") + chroot.preauth("refuse"));
  BOOST_TEST(r.log == "2 Malformed credentials from the AUTHORIZATION process\n");
}

BOOST_AUTO_TEST_CASE(without_root_everything_runs_in_one_process) {
  // Valid as root too: run_unprivileged_session never changes identity.
  const std::string me = identity("x").substr(1);
  const SessionResult ok =
      run_session(config_for_tests(), [](FakeServer& s) { s.login.emplace("alice", "secret"); }, false);
  BOOST_TEST(ok.client == "authorize" + me + "transact" + me + "account=alice pending=STAT\r\nQU\n");
  BOOST_TEST(ok.log == "0 Authentication passed for alice\n");

  const SessionResult bad =
      run_session(config_for_tests(), [](FakeServer& s) { s.login.emplace("alice", "nope"); }, false);
  BOOST_TEST(bad.client == "authorize" + me + "refuse" + me);
  BOOST_TEST(bad.log == "1 Authentication failed for alice\n");

  const SessionResult root =
      run_session(config_for_tests(), [](FakeServer& s) { s.login.emplace("root", "secret"); }, false);
  BOOST_TEST(root.client == "authorize" + me + "refuse" + me);
  BOOST_TEST(root.log == "1 Authentication failed for root\n");

  const SessionResult quit = run_session(config_for_tests(), [](FakeServer&) {}, false);
  BOOST_TEST(quit.client == "authorize" + me);
  BOOST_TEST(quit.log == "");
}

BOOST_AUTO_TEST_CASE(auth_result_round_trip_and_garbage) {
  using pop3::posix::detail::read_auth_result;
  using pop3::posix::detail::write_auth_result;
  auto read_back = [](std::string_view raw, std::optional<pop3::Account>& account, std::error_code& ec) {
    Pipe p;
    BOOST_REQUIRE(pop3::posix::detail::write_all(p.w, raw.data(), raw.size()));
    p.close_w();
    return read_auth_result(p.r, config_for_tests(), account, ec);
  };
  auto written = [](const std::optional<pop3::Account>& account, std::error_code ec) {
    Pipe p;
    BOOST_REQUIRE(write_auth_result(p.w, account, ec));
    p.close_w();
    return read_all(p.r);
  };
  auto words = [](std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d, std::uint32_t e,
                  std::uint32_t f = 0) {
    std::string h;
    for (const std::uint32_t v : {a, b, c, d, e, f}) h.append(reinterpret_cast<const char*>(&v), sizeof v);
    return h;
  };
  std::optional<pop3::Account> account;
  std::error_code ec;
  const std::string good = written(pop3::Account{"alice", "/var/mail/alice", 1001, 1002}, {});
  BOOST_TEST(good == words(0, 1001, 1002, 5, 15) + "alice/var/mail/alice");
  BOOST_REQUIRE(read_back(good, account, ec));
  BOOST_TEST(!ec);
  BOOST_REQUIRE(account);
  BOOST_TEST(account->user == "alice");
  BOOST_TEST(account->mailbox == "/var/mail/alice");
  BOOST_TEST(account->uid == 1001u);
  BOOST_TEST(account->gid == 1002u);
  // No mailbox: the locator's rule applies.
  BOOST_REQUIRE(read_back(words(0, 1, 1, 1, 0) + "a", account, ec));
  BOOST_REQUIRE(account);
  BOOST_TEST(account->mailbox.empty());
  // The home directory, for a template's %h.
  const std::string homed = written(pop3::Account{"bob", "", 7, 8, "/home/bob"}, {});
  BOOST_TEST(homed == words(0, 7, 8, 3, 0, 9) + "bob/home/bob");
  BOOST_REQUIRE(read_back(homed, account, ec));
  BOOST_REQUIRE(account);
  BOOST_TEST(account->home == "/home/bob");
  BOOST_TEST(account->mailbox.empty());
  for (const auto code : {pop3::errc::auth_failed, pop3::errc::unknown_user, pop3::errc::auth_backend}) {
    BOOST_TEST(read_back(written(std::nullopt, code), account, ec));
    BOOST_TEST(!account);
    BOOST_TEST((ec == code));
  }
  // Anything else is malformed.
  for (const std::string& bad : {std::string(), std::string("abc"), good.substr(0, good.size() - 1), good + "x",
                                 words(4, 0, 0, 0, 0), words(1, 7, 0, 0, 0), words(1, 0, 0, 0, 0) + "x",
                                 words(0, 1, 1, 0, 1) + "/",
                                 words(0, 1, 1, 256, 1) + std::string(256, 'a') + "/",
                                 words(0, 1, 1, 1, 4097) + "a" + std::string(4097, '/'),
                                 words(0, 1, 1, 1, 0, 4097) + "a" + std::string(4097, '/'),
                                 words(1, 0, 0, 0, 0, 1) + "/",
                                 words(0, 0xffffffff, 1, 1, 1) + "a/", words(0, 1, 0xffffffff, 1, 1) + "a/",
                                 words(0, 1, 1, 0xffffffff, 0xffffffff)}) {
    BOOST_TEST(!read_back(bad, account, ec), "malformed: " << bad.size() << " bytes");
    BOOST_TEST(!account);
  }
}

BOOST_AUTO_TEST_CASE(the_password_is_checked_in_a_child_process) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer& s) { s.login.emplace("whoami", "x"); });
  BOOST_TEST(r.status == 0);
  const std::string marker = "account=pid";
  const std::size_t at = r.client.find(marker);
  BOOST_REQUIRE(at != std::string::npos);
  const pid_t checker = std::atoi(r.client.c_str() + at + marker.size());
  BOOST_TEST(checker > 0);
  BOOST_TEST(checker != r.pid);       // not the session process, which goes on as the account
  BOOST_TEST(checker != ::getpid());  // nor this one
}

BOOST_AUTO_TEST_CASE(a_check_that_dies_is_a_refusal) {
  if (!is_root()) return;
  Chroot chroot;
  const SessionResult r = run_session(chroot.config, [](FakeServer& s) { s.login.emplace("crash", "x"); });
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.client == chroot.preauth("authorize") + chroot.preauth("refuse"));
  BOOST_TEST(r.log ==
             "2 Malformed result from the authentication process\n"
             "2 Account database not readable while authenticating crash\n"
             "1 Authentication failed for UNKNOWN USER\n");
}

BOOST_AUTO_TEST_CASE(a_refusal_waits_the_failure_delay) {
  // A lower bound only: the refusal may come later on a busy machine, never sooner.
  const auto delay = std::chrono::milliseconds{300};
  auto elapsed = [&](const pop3::posix::PrivsepConfig& config, bool privsep, const char* password) {
    const auto start = std::chrono::steady_clock::now();
    Pipe client;
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      client.close_r();
      FakeServer server{client.w, std::make_pair(std::string("alice"), std::string(password)), "", {}};
      ::_exit(privsep ? pop3::posix::run_privsep_session(server, config, {})
                      : pop3::posix::run_unprivileged_session(server, {}, delay));
    }
    client.close_w();
    const std::string out = read_all(client.r);
    int status = 0;
    BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    BOOST_TEST(out.find(std::string(password) == "secret" ? "transact" : "refuse") != std::string::npos);
    return std::chrono::steady_clock::now() - start;
  };
  BOOST_TEST((elapsed(config_for_tests(), false, "wrong") >= delay));
  if (!is_root()) return;
  Chroot chroot;
  chroot.config.failure_delay = delay;
  BOOST_TEST((elapsed(chroot.config, true, "wrong") >= delay));
}
