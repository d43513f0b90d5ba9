// Tests of pop3/auth/crypt.hpp: users-file parsing and checks, and the refusals of spec 6.4.
#define BOOST_TEST_MODULE crypt_auth
#include <boost/test/unit_test.hpp>

#include "pop3/auth/crypt.hpp"

#include <crypt.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

// A hash of `password` made the way mkpasswd would, with the given method prefix.
std::string make_hash(const char* password, const char* prefix = "$y$") {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  BOOST_REQUIRE(::crypt_gensalt_rn(prefix, 0, nullptr, 0, salt, sizeof salt) != nullptr);
  crypt_data data{};
  const char* hash = ::crypt_rn(password, salt, &data, sizeof data);
  BOOST_REQUIRE(hash != nullptr);
  return hash;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char templ[] = "/tmp/crypt_auth_test.XXXXXX";
    BOOST_REQUIRE(::mkdtemp(templ) != nullptr);
    path = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const std::string file = (path / name).string();
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    BOOST_REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
  }
};

std::string parse_error(const std::string& text) {
  std::vector<pop3::detail::UsersFileEntry> entries;
  std::string error;
  BOOST_TEST(!pop3::detail::parse_users_file(text, entries, error));
  BOOST_TEST(entries.empty());
  return error;
}

// Fixture: a users file with the accounts the refusal tests need.
struct Accounts {
  TempDir dir;
  std::string file;
  std::optional<pop3::CryptAuth> auth;
  Accounts() {
    const std::string good = make_hash("secret");
    file = dir.write("users",
                     "# test accounts\n"
                     "\n"
                     "alice:" + good + ":1001:1002:\n"
                     "bob:" + make_hash("hunter2", "$6$") + ":1003:1003:/srv/mail/bob.mbox\n"
                     "toor:" + good + ":0:0:\n"
                     "locked:!" + good + ":1004:1004:\n"
                     "star:*:1005:1005:\n"
                     "nohash::1006:1006:\n");
    std::string error;
    auth = pop3::CryptAuth::from_users_file(file, "/var/mail/", error);
    BOOST_REQUIRE_MESSAGE(auth, error);
  }
  std::error_code refusal(std::string_view user, std::string_view password) {
    std::error_code ec;
    const auto account = auth->authenticate(user, password, ec);
    BOOST_TEST(!account);
    return ec;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(parses_accounts_comments_and_blank_lines) {
  const std::string hash = make_hash("pw");
  std::vector<pop3::detail::UsersFileEntry> entries;
  std::string error;
  const std::string text = "# comment\n\n   \n  # indented comment\nalice:" + hash + ":1001:100:\n"
                           "bob:*:4294967294:0:/home/bob/mbox";  // no final newline
  BOOST_REQUIRE_MESSAGE(pop3::detail::parse_users_file(text, entries, error), error);
  BOOST_REQUIRE(entries.size() == 2u);
  BOOST_TEST(entries[0].name == "alice");
  BOOST_TEST(entries[0].hash == hash);
  BOOST_TEST(entries[0].uid == 1001u);
  BOOST_TEST(entries[0].gid == 100u);
  BOOST_TEST(entries[0].mailbox.empty());
  BOOST_TEST(entries[0].line == 5u);
  BOOST_TEST(entries[1].uid == 4294967294u);
  BOOST_TEST(entries[1].mailbox == "/home/bob/mbox");
}

BOOST_AUTO_TEST_CASE(malformed_lines_name_their_line) {
  const std::string h = make_hash("pw");
  BOOST_TEST(parse_error("# ok\nalice:" + h + ":1:1\n") == "line 2: expected 5 fields name:hash:uid:gid:mailbox");
  BOOST_TEST(parse_error("alice:" + h + ":1:1:/a:b\n") == "line 1: more than 5 fields (':' in the mailbox path?)");
  BOOST_TEST(parse_error(":" + h + ":1:1:\n") == "line 1: user name is empty or contains a blank or '/'");
  BOOST_TEST(parse_error("a b:" + h + ":1:1:\n") == "line 1: user name is empty or contains a blank or '/'");
  BOOST_TEST(parse_error("a/b:" + h + ":1:1:\n") == "line 1: user name is empty or contains a blank or '/'");
  BOOST_TEST(parse_error("..:" + h + ":1:1:\n") == "line 1: user name is empty or contains a blank or '/'");
  BOOST_TEST(parse_error("alice:$9$nonsense:1:1:\n") == "line 1: password hash is not one crypt(3) supports");
  BOOST_TEST(parse_error("alice:" + h + ":x:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":-1:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":+1:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":4294967295:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":99999999999:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ": 1:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":1::\n") == "line 1: gid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":1:1:mail/alice\n") == "line 1: mailbox is not an absolute path");
  BOOST_TEST(parse_error("alice:" + h + ":1:1:\r\n") == "line 1: control character in line (DOS line ends?)");
  BOOST_TEST(parse_error("alice:" + h + ":1:1:\nbob:*:2:2:\nalice:*:3:3:\n") ==
             "line 3: user name already defined on line 1");
}

BOOST_AUTO_TEST_CASE(bad_file_is_a_startup_error_with_path_and_line) {
  TempDir dir;
  const std::string file = dir.write("users", "alice:*:1:1:\nbroken\n");
  std::string error;
  BOOST_TEST(!pop3::CryptAuth::from_users_file(file, "/var/mail", error));
  BOOST_TEST(error == file + ": line 2: expected 5 fields name:hash:uid:gid:mailbox");
}

BOOST_AUTO_TEST_CASE(unsafe_or_missing_files_are_refused) {
  TempDir dir;
  std::string error;
  const std::string world_readable = dir.write("users", "alice:*:1:1:\n", 0644);
  BOOST_TEST(!pop3::CryptAuth::from_users_file(world_readable, "/var/mail", error));
  BOOST_TEST(error.find("readable by others") != std::string::npos);
  const std::string group_writable = dir.write("users2", "alice:*:1:1:\n", 0660);
  BOOST_TEST(!pop3::CryptAuth::from_users_file(group_writable, "/var/mail", error));
  BOOST_TEST(error.find("not be writable by group") != std::string::npos);
  BOOST_TEST(!pop3::CryptAuth::from_users_file((dir.path / "absent").string(), "/var/mail", error));
  BOOST_TEST(error == (dir.path / "absent").string() + ": No such file or directory");
  BOOST_TEST(!pop3::CryptAuth::from_users_file(dir.path.string(), "/var/mail", error));
  BOOST_TEST(error == dir.path.string() + ": not a regular file");
  const std::string fine = dir.write("users3", "alice:*:1:1:\n", 0640);
  BOOST_TEST(!pop3::CryptAuth::from_users_file(fine, "var/mail", error));
  BOOST_TEST(error == "mail spool \"var/mail\" is not an absolute path");
  BOOST_TEST(pop3::CryptAuth::from_users_file(fine, "/var/mail", error).has_value());
}

BOOST_FIXTURE_TEST_SUITE(logins, Accounts)

BOOST_AUTO_TEST_CASE(good_password_gives_the_account) {
  std::error_code ec;
  const auto account = auth->authenticate("alice", "secret", ec);
  BOOST_REQUIRE(account);
  BOOST_TEST(!ec);
  BOOST_TEST(account->user == "alice");
  BOOST_TEST(account->maildrop == "/var/mail/alice");  // spool's trailing '/' dropped
  BOOST_TEST(account->uid == 1001u);
  BOOST_TEST(account->gid == 1002u);

  const auto bob = auth->authenticate("bob", "hunter2", ec);
  BOOST_REQUIRE(bob);
  BOOST_TEST(bob->maildrop == "/srv/mail/bob.mbox");
}

BOOST_AUTO_TEST_CASE(wrong_password_is_auth_failed) {
  BOOST_TEST((refusal("alice", "Secret") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("alice", "secret ") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("alice", " secret") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("bob", "secret") == pop3::errc::auth_failed));
}

BOOST_AUTO_TEST_CASE(unknown_user_is_unknown_user) {
  BOOST_TEST((refusal("carol", "secret") == pop3::errc::unknown_user));
  BOOST_TEST((refusal("ALICE", "secret") == pop3::errc::unknown_user));  // case-sensitive (spec 6.4)
  BOOST_TEST((refusal("", "secret") == pop3::errc::unknown_user));
  BOOST_TEST((refusal("../alice", "secret") == pop3::errc::unknown_user));
  BOOST_TEST((refusal(std::string_view("alice\0x", 7), "secret") == pop3::errc::unknown_user));
}

BOOST_AUTO_TEST_CASE(uid_0_is_refused_even_with_the_right_password) {
  BOOST_TEST((refusal("toor", "secret") == pop3::errc::auth_failed));
}

BOOST_AUTO_TEST_CASE(locked_hashes_are_refused) {
  BOOST_TEST((refusal("locked", "secret") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("star", "*") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("star", "") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("nohash", "") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("nohash", "anything") == pop3::errc::auth_failed));
}

BOOST_AUTO_TEST_CASE(bad_passwords_are_refused) {
  BOOST_TEST((refusal("alice", "") == pop3::errc::auth_failed));
  BOOST_TEST((refusal("alice", std::string_view("secret\0", 7)) == pop3::errc::auth_failed));
  BOOST_TEST((refusal("alice", std::string(300, 'x')) == pop3::errc::auth_failed));
}

BOOST_AUTO_TEST_CASE(file_is_read_again_at_each_login) {
  dir.write("users", "alice:" + make_hash("changed") + ":1001:1002:\n");
  BOOST_TEST((refusal("alice", "secret") == pop3::errc::auth_failed));
  std::error_code ec;
  BOOST_TEST(auth->authenticate("alice", "changed", ec).has_value());
  // Broken later: the database cannot be consulted, which is not a wrong password.
  dir.write("users", "alice\n");
  BOOST_TEST((refusal("alice", "changed") == pop3::errc::auth_backend));
}

BOOST_AUTO_TEST_CASE(copies_authenticate_alike) {
  pop3::CryptAuth copy = *auth;
  std::error_code ec;
  BOOST_TEST(copy.authenticate("alice", "secret", ec).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(relative_path_survives_a_change_of_directory) {
  TempDir dir;
  dir.write("users", "alice:" + make_hash("secret") + ":1001:1002:\n");
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path);
  std::string error;
  auto auth = pop3::CryptAuth::from_users_file("users", "/var/mail", error);
  std::filesystem::current_path("/");  // as the -D listener does
  BOOST_REQUIRE_MESSAGE(auth, error);
  std::error_code ec;
  BOOST_TEST(auth->authenticate("alice", "secret", ec).has_value());
  std::filesystem::current_path(cwd);
}

BOOST_AUTO_TEST_CASE(file_with_only_locked_accounts_still_works) {
  // No hash to copy the cost from: the dummy check falls back to yescrypt.
  TempDir dir;
  const std::string file = dir.write("users", "nobody1:*:1:1:\n");
  std::string error;
  auto auth = pop3::CryptAuth::from_users_file(file, "/var/mail", error);
  BOOST_REQUIRE_MESSAGE(auth, error);
  std::error_code ec;
  BOOST_TEST(!auth->authenticate("someone", "pw", ec));
  BOOST_TEST((ec == pop3::errc::unknown_user));
}

BOOST_AUTO_TEST_CASE(system_accounts) {
  std::string error;
  auto auth = pop3::CryptAuth::system_accounts("/var/mail", error);
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: /etc/shadow lookups skipped");
    if (!auth) BOOST_TEST(error.find("/etc/shadow") != std::string::npos);
    return;
  }
  BOOST_REQUIRE_MESSAGE(auth, error);
  std::error_code ec;
  BOOST_TEST(!auth->authenticate("no-such-user-h3a", "pw", ec));
  BOOST_TEST((ec == pop3::errc::unknown_user));
  // root exists everywhere and has UID 0: refused whatever its password (spec 6.4).
  BOOST_TEST(!auth->authenticate("root", "pw", ec));
  BOOST_TEST((ec == pop3::errc::auth_failed));
}

BOOST_AUTO_TEST_CASE(constant_time_compare) {
  using pop3::detail::constant_time_equal;
  BOOST_TEST(constant_time_equal("$y$abc", "$y$abc"));
  BOOST_TEST(!constant_time_equal("$y$abd", "$y$abc"));
  BOOST_TEST(!constant_time_equal("$y$ab", "$y$abc"));
  BOOST_TEST(!constant_time_equal("$y$abcd", "$y$abc"));
  BOOST_TEST(!constant_time_equal("", "x"));
}
