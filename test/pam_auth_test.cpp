// Tests of pop3/auth/pam.hpp against the real Linux-PAM and its modules, with service files in a
// directory of the test's own (pam_start_confdir): nothing is written into /etc/pam.d. The
// pam_unix cases need root; they create a system account (useradd, chpasswd), change its
// shadow entry with chage, and remove it.
#define BOOST_TEST_MODULE pam_auth
#include <boost/test/unit_test.hpp>

#include "pop3/auth/pam.hpp"
#include "pop3/mailbox/locator.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "support/case_files.hpp"
#include "support/temp_dir.hpp"

namespace {

// PamOptions with the given members changed (designated initializers would leave GCC 12's
// -Wmissing-field-initializers to warn about the others).
pop3::PamOptions options(std::string service = "popa3d", std::string confdir = {}) {
  pop3::PamOptions o;
  o.service = std::move(service);
  o.confdir = std::move(confdir);
  return o;
}

// A PAM configuration directory with one service file per stack the tests use.
struct ConfDir {
  pop3::test::TempDir dir;
  ConfDir() {
    write("permit", "auth required pam_permit.so\naccount required pam_permit.so\n");
    write("deny", "auth required pam_deny.so\naccount required pam_deny.so\n");
    write("unix", "auth required pam_unix.so\naccount required pam_unix.so\n");
    write("unix-account-deny", "auth required pam_unix.so\naccount required pam_deny.so\n");
    write("broken", "auth required pam_no_such_module.so\naccount required pam_permit.so\n");
    write("from-host", "auth required pam_succeed_if.so quiet rhost = 192.0.2.7\n"
                       "account required pam_permit.so\n");
  }
  [[nodiscard]] const std::filesystem::path& path() const { return dir.path(); }
  void write(const std::string& service, const std::string& text) const {
    pop3::test::write_file(path() / service, text);
  }
  pop3::PamAuth auth(const std::string& service) const {
    std::string error;
    auto auth = pop3::PamAuth::create(options(service, path().string()), error);
    BOOST_REQUIRE_MESSAGE(auth, error);
    return *auth;
  }
};

// Collects what a PamAuth logs.
struct Log {
  std::vector<std::pair<pop3::LogPriority, std::string>> lines;
  pop3::LogSink sink() {
    return [this](pop3::LogPriority priority, std::string_view line) { lines.emplace_back(priority, line); };
  }
};

std::error_code refusal(pop3::PamAuth& auth, std::string_view user, std::string_view password) {
  std::error_code ec;
  const auto account = auth.authenticate(user, password, ec);
  BOOST_TEST(!account);
  return ec;
}

std::string create_error(pop3::PamOptions options) {
  std::string error;
  BOOST_TEST(!pop3::PamAuth::create(std::move(options), error));
  return error;
}

// Runs a command with `input` on its standard input; its exit status.
int run(const std::vector<std::string>& argv, const std::string& input = {}) {
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[0], 0);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[0]);
  const bool written = ::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size());
  ::close(fds[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) BOOST_REQUIRE(errno == EINTR);
  BOOST_TEST(written);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// The pam_unix cases run as root; without root they are skipped, except under CI=true.
bool can_manage_accounts() {
  if (::geteuid() == 0) return true;
  BOOST_TEST_REQUIRE(!pop3::test::under_ci(), "CI=true: the pam_unix tests need root");
  BOOST_TEST_MESSAGE("not root: pam_unix cases skipped");
  return false;
}

// A system account of this test's own, with password "secret", removed afterwards.
struct TestAccount {
  std::string name = "pam-test-" + std::to_string(::getpid());
  uid_t uid = 0;
  TestAccount() {
    BOOST_REQUIRE(run({"useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                       "/usr/sbin/nologin", name}) == 0);
    BOOST_REQUIRE(run({"chpasswd"}, name + ":secret\n") == 0);
    const passwd* pw = ::getpwnam(name.c_str());
    BOOST_REQUIRE(pw != nullptr);
    uid = pw->pw_uid;
  }
  ~TestAccount() { BOOST_CHECK(run({"userdel", name}) == 0); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(options_are_checked) {
  const ConfDir conf;
  for (const char* service : {"", "pam.d/popa3d", "Popa3d", "pop 3", ".."}) {
    BOOST_TEST(create_error(options(service)) ==
               "PAM service name \"" + std::string(service) + "\" is not a lower-case file name");
  }
  const std::string missing = (conf.path() / "missing").string();
  BOOST_TEST(create_error(options("popa3d", missing)) == missing + ": No such file or directory");
  const std::string file = (conf.path() / "permit").string();
  BOOST_TEST(create_error(options("popa3d", file)) == file + ": not a directory");
  BOOST_REQUIRE(::chmod(conf.path().c_str(), 0770) == 0);
  BOOST_TEST(create_error(options("popa3d", conf.path().string())).find("not writable by group or others") != std::string::npos);
  BOOST_REQUIRE(::chmod(conf.path().c_str(), 0700) == 0);

  // The maildrop is the locator's business: PAM names no mailbox.
  std::string error;
  auto auth = pop3::PamAuth::create(options("permit", conf.path().string()), error);
  BOOST_REQUIRE_MESSAGE(auth, error);
  std::error_code ec;
  const auto account = auth->authenticate("nobody", "secret", ec);
  BOOST_REQUIRE_MESSAGE(account, ec.message());
  BOOST_TEST(account->mailbox.empty());
  BOOST_TEST(pop3::MailboxLocator{}.locate(*account) == "/var/mail/nobody");
}

// pam_permit says yes to anyone: the passwd entry still decides who exists, and UID 0 is refused.
BOOST_AUTO_TEST_CASE(permit_stack_accepts_any_password_of_an_existing_user) {
  const ConfDir conf;
  pop3::PamAuth auth = conf.auth("permit");
  const passwd* nobody = ::getpwnam("nobody");
  BOOST_REQUIRE(nobody != nullptr);
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;
  for (const char* password : {"secret", "anything at all", "x"}) {
    std::error_code ec;
    const auto account = auth.authenticate("nobody", password, ec);
    BOOST_REQUIRE(account);
    BOOST_TEST(!ec);
    BOOST_TEST(account->user == "nobody");
    BOOST_TEST(account->mailbox.empty());
    BOOST_TEST(account->uid == uid);
    BOOST_TEST(account->gid == gid);
  }
  const std::string stranger = "no-such-user-" + std::to_string(::getpid());
  BOOST_TEST(refusal(auth, stranger, "secret") == pop3::errc::unknown_user);
  BOOST_TEST(refusal(auth, "root", "secret") == pop3::errc::auth_failed);
  // Never handed to PAM: no password, one that a NUL would cut short, one longer than PAM carries.
  BOOST_TEST(refusal(auth, "nobody", "") == pop3::errc::auth_failed);
  BOOST_TEST(refusal(auth, "nobody", std::string_view("secret\0more", 11)) == pop3::errc::auth_failed);
  BOOST_TEST(refusal(auth, "nobody", std::string(PAM_MAX_RESP_SIZE, 'x')) == pop3::errc::auth_failed);
  // Names that cannot be a file in the spool.
  for (const char* user : {"", "../nobody", "no body", "nobody/x"}) {
    BOOST_TEST(refusal(auth, user, "secret") == pop3::errc::unknown_user);
  }
}

// The client's address reaches the modules as PAM_RHOST, for host rules (pam_access and the like).
BOOST_AUTO_TEST_CASE(remote_host_reaches_the_modules) {
  const ConfDir conf;
  pop3::PamAuth auth = conf.auth("from-host");
  BOOST_TEST(refusal(auth, "nobody", "secret") == pop3::errc::auth_failed);  // no host set
  auth.set_remote_host("192.0.2.8");
  BOOST_TEST(refusal(auth, "nobody", "secret") == pop3::errc::auth_failed);
  auth.set_remote_host("192.0.2.7");
  std::error_code ec;
  BOOST_TEST(auth.authenticate("nobody", "secret", ec).has_value());
}

BOOST_AUTO_TEST_CASE(deny_stack_refuses) {
  const ConfDir conf;
  pop3::PamAuth auth = conf.auth("deny");
  BOOST_TEST(refusal(auth, "nobody", "secret") == pop3::errc::auth_failed);
}

// A stack whose module cannot be loaded: PAM cannot work, which is not a refusal of the user.
// (A service with no file and no "other" fails pam_start, where Linux-PAM 1.5.2 leaks memory.)
BOOST_AUTO_TEST_CASE(broken_stack_is_a_backend_failure) {
  const ConfDir conf;
  pop3::PamAuth auth = conf.auth("broken");
  Log log;
  auth.set_log(log.sink());
  BOOST_TEST(refusal(auth, "nobody", "secret") == pop3::errc::auth_backend);
  BOOST_REQUIRE(log.lines.size() == 1u);
  BOOST_TEST((log.lines[0].first == pop3::LogPriority::crit));
  BOOST_TEST(log.lines[0].second.rfind("PAM service broken: ", 0) == 0);
}

BOOST_AUTO_TEST_CASE(conversation_answers_prompts_and_fails_the_rest) {
  pop3::detail::PamExchange exchange{"alice", "s3cret"};
  const pam_message hidden{PAM_PROMPT_ECHO_OFF, "Password: "};
  const pam_message echoed{PAM_PROMPT_ECHO_ON, "login: "};
  const pam_message error{PAM_ERROR_MSG, "Your account has expired"};
  const pam_message info{PAM_TEXT_INFO, "Welcome"};
  const pam_message binary{PAM_BINARY_PROMPT, ""};
  const pam_message radio{PAM_RADIO_TYPE, "yes or no?"};

  const pam_message* four[] = {&hidden, &echoed, &error, &info};
  pam_response* replies = nullptr;
  BOOST_REQUIRE(pop3::detail::pam_conversation(4, four, &replies, &exchange) == PAM_SUCCESS);
  BOOST_REQUIRE(replies != nullptr);
  BOOST_TEST(replies[0].resp == std::string("s3cret"));
  BOOST_TEST(replies[1].resp == std::string("alice"));
  BOOST_TEST(replies[2].resp == nullptr);
  BOOST_TEST(replies[3].resp == nullptr);
  for (int i = 0; i < 4; ++i) std::free(replies[i].resp);
  std::free(replies);

  for (const pam_message* other : {&binary, &radio}) {
    const pam_message* two[] = {&hidden, other};
    replies = nullptr;
    BOOST_TEST(pop3::detail::pam_conversation(2, two, &replies, &exchange) == PAM_CONV_ERR);
    BOOST_TEST(replies == nullptr);
  }
  BOOST_TEST(pop3::detail::pam_conversation(0, four, &replies, &exchange) == PAM_CONV_ERR);
  BOOST_TEST(pop3::detail::pam_conversation(PAM_MAX_NUM_MSG + 1, four, &replies, &exchange) == PAM_CONV_ERR);
  BOOST_TEST(pop3::detail::pam_conversation(1, four, &replies, nullptr) == PAM_CONV_ERR);
  BOOST_TEST(replies == nullptr);
}

// The largest delay any call asked for is the one waited for.
BOOST_AUTO_TEST_CASE(delay_hook_keeps_the_largest_delay) {
  pop3::detail::PamExchange exchange{"alice", "secret"};
  pop3::detail::pam_delay_hook(PAM_AUTH_ERR, 2000000, &exchange);
  pop3::detail::pam_delay_hook(PAM_SUCCESS, 0, &exchange);
  BOOST_TEST(exchange.delay_usec == 2000000u);
  pop3::detail::pam_delay_hook(PAM_AUTH_ERR, 2500000, &exchange);
  BOOST_TEST(exchange.delay_usec == 2500000u);
}

BOOST_AUTO_TEST_CASE(pam_unix_checks_the_password_and_the_account) {
  if (!can_manage_accounts()) return;
  const ConfDir conf;
  const TestAccount account;
  pop3::PamAuth unix_auth = conf.auth("unix");
  Log log;
  unix_auth.set_log(log.sink());

  std::error_code ec;
  const auto ok = unix_auth.authenticate(account.name, "secret", ec);
  BOOST_REQUIRE_MESSAGE(ok, ec.message());
  BOOST_TEST(ok->uid == account.uid);
  BOOST_TEST(pop3::MailboxLocator{}.locate(*ok) == "/var/mail/" + account.name);
  BOOST_TEST(refusal(unix_auth, account.name, "wrong") == pop3::errc::auth_failed);
  BOOST_TEST(refusal(unix_auth, account.name + "-not", "secret") == pop3::errc::unknown_user);

  // The right password, but the account stack says no.
  pop3::PamAuth account_deny = conf.auth("unix-account-deny");
  BOOST_TEST(refusal(account_deny, account.name, "secret") == pop3::errc::auth_failed);

  // pam_acct_mgmt refuses an expired account (PAM_ACCT_EXPIRED) ...
  BOOST_TEST(log.lines.empty());  // a wrong password is the caller's to log
  BOOST_REQUIRE(run({"chage", "-E", "1", account.name}) == 0);
  BOOST_TEST(refusal(unix_auth, account.name, "secret") == pop3::errc::auth_failed);
  BOOST_REQUIRE(log.lines.size() == 1u);
  BOOST_TEST((log.lines[0].first == pop3::LogPriority::notice));
  BOOST_TEST(log.lines[0].second == "PAM account check refused " + account.name + ": User account has expired");
  BOOST_REQUIRE(run({"chage", "-E", "-1", account.name}) == 0);
  BOOST_TEST(unix_auth.authenticate(account.name, "secret", ec).has_value());

  // ... and one whose password must be changed first (PAM_NEW_AUTHTOK_REQD).
  BOOST_REQUIRE(run({"chage", "-d", "0", account.name}) == 0);
  BOOST_TEST(refusal(unix_auth, account.name, "secret") == pop3::errc::auth_failed);
  BOOST_REQUIRE(log.lines.size() == 2u);
  BOOST_TEST(log.lines[1].second.rfind("PAM account check refused " + account.name + ": ", 0) == 0);
}

// The shipped dist/pam.d/popa3d with this system's common-auth and common-account (Debian's).
BOOST_AUTO_TEST_CASE(shipped_service_file_with_the_system_common_stacks) {
  if (!can_manage_accounts()) return;
  const ConfDir conf;
  for (const char* name : {"common-auth", "common-account"}) {
    const auto text = pop3::test::read_file(std::filesystem::path("/etc/pam.d") / name);
    BOOST_TEST_REQUIRE(text.has_value(), "/etc/pam.d/" << name << " is missing (libpam-runtime)");
    conf.write(name, *text);
  }
  const auto shipped = pop3::test::read_file(std::filesystem::path(POP3_SOURCE_DIR) / "dist/pam.d/popa3d");
  BOOST_REQUIRE(shipped.has_value());
  conf.write("popa3d", *shipped);
  const TestAccount account;
  pop3::PamAuth auth = conf.auth("popa3d");
  std::error_code ec;
  BOOST_TEST_REQUIRE(auth.authenticate(account.name, "secret", ec).has_value(), ec.message());
  BOOST_TEST(refusal(auth, account.name, "wrong") == pop3::errc::auth_failed);
  BOOST_REQUIRE(run({"chage", "-d", "0", account.name}) == 0);
  BOOST_TEST(refusal(auth, account.name, "secret") == pop3::errc::auth_failed);
}
