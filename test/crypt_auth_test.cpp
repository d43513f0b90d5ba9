// Tests of pop3/auth/crypt.hpp: users-file checks, the refusals of spec 6.4, the methods every
// attempt hashes with (all of them for a refusal, its own for a login), and pam_unix's account
// expiry rules.
#define BOOST_TEST_MODULE crypt_auth
#include <boost/test/unit_test.hpp>

#include "pop3/auth/crypt.hpp"
#include "pop3/mailbox/locator.hpp"

#include <crypt.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/crypt_hash.hpp"
#include "support/temp_dir.hpp"

namespace {

using pop3::test::make_hash;
using pop3::test::TempDir;

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
    auth = pop3::CryptAuth::from_users_file(file, error);
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

BOOST_AUTO_TEST_CASE(bad_file_is_a_startup_error_with_path_and_line) {
  TempDir dir;
  const std::string file = dir.write("users", "alice:*:1:1:\nbroken\n");
  std::string error;
  BOOST_TEST(!pop3::CryptAuth::from_users_file(file, error));
  BOOST_TEST(error == file + ": line 2: expected 5 fields name:hash:uid:gid:mailbox");
}

BOOST_AUTO_TEST_CASE(unsafe_or_missing_files_are_refused) {
  TempDir dir;
  std::string error;
  const std::string world_readable = dir.write("users", "alice:*:1:1:\n", 0644);
  BOOST_TEST(!pop3::CryptAuth::from_users_file(world_readable, error));
  BOOST_TEST(error.find("readable by others") != std::string::npos);
  const std::string group_writable = dir.write("users2", "alice:*:1:1:\n", 0660);
  BOOST_TEST(!pop3::CryptAuth::from_users_file(group_writable, error));
  BOOST_TEST(error.find("not be writable by group") != std::string::npos);
  BOOST_TEST(!pop3::CryptAuth::from_users_file((dir.path() / "absent").string(), error));
  BOOST_TEST(error == (dir.path() / "absent").string() + ": No such file or directory");
  BOOST_TEST(!pop3::CryptAuth::from_users_file(dir.path().string(), error));
  BOOST_TEST(error == dir.path().string() + ": not a regular file");
  const std::string fine = dir.write("users3", "alice:*:1:1:\n", 0640);
  BOOST_TEST(pop3::CryptAuth::from_users_file(fine, error).has_value());
}

BOOST_FIXTURE_TEST_SUITE(logins, Accounts)

BOOST_AUTO_TEST_CASE(good_password_gives_the_account) {
  std::error_code ec;
  const auto account = auth->authenticate("alice", "secret", ec);
  BOOST_REQUIRE(account);
  BOOST_TEST(!ec);
  BOOST_TEST(account->user == "alice");
  // No mailbox field: the spool's rule, found by the locator (trailing '/' dropped).
  std::string error;
  pop3::MailboxLocator locator{"/var/mail/"};
  BOOST_REQUIRE(locator.normalize(error));
  BOOST_TEST(account->mailbox.empty());
  BOOST_TEST(locator.locate(*account) == "/var/mail/alice");
  BOOST_TEST(account->uid == 1001u);
  BOOST_TEST(account->gid == 1002u);

  const auto bob = auth->authenticate("bob", "hunter2", ec);
  BOOST_REQUIRE(bob);
  BOOST_TEST(bob->mailbox == "/srv/mail/bob.mbox");
  BOOST_TEST(locator.locate(*bob) == "/srv/mail/bob.mbox");
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
  std::filesystem::current_path(dir.path());
  std::string error;
  auto auth = pop3::CryptAuth::from_users_file("users", error);
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
  auto auth = pop3::CryptAuth::from_users_file(file, error);
  BOOST_REQUIRE_MESSAGE(auth, error);
  std::error_code ec;
  BOOST_TEST(!auth->authenticate("someone", "pw", ec));
  BOOST_TEST((ec == pop3::errc::unknown_user));
}

BOOST_AUTO_TEST_CASE(system_accounts) {
  std::string error;
  auto auth = pop3::CryptAuth::system_accounts(error);
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
  // The methods in use came from the reader child, each a valid setting; unchanged files are
  // not read again.
  for (const auto& method : auth->methods().methods()) {
    BOOST_TEST(method.dummy.starts_with(method.key));
    BOOST_TEST(::crypt_checksalt(method.dummy.c_str()) != CRYPT_SALT_INVALID);
  }
  const std::size_t before = auth->methods().methods().size();
  BOOST_TEST(auth->refresh(error));
  BOOST_TEST(auth->methods().methods().size() == before);
}

BOOST_AUTO_TEST_CASE(constant_time_compare) {
  using pop3::detail::constant_time_equal;
  BOOST_TEST(constant_time_equal("$y$abc", "$y$abc"));
  BOOST_TEST(!constant_time_equal("$y$abd", "$y$abc"));
  BOOST_TEST(!constant_time_equal("$y$ab", "$y$abc"));
  BOOST_TEST(!constant_time_equal("$y$abcd", "$y$abc"));
  BOOST_TEST(!constant_time_equal("", "x"));
}

namespace {

// Bytes this process has read through read(2) and pread(2) so far (/proc/self/io's rchar).
unsigned long long bytes_read() {
  std::ifstream io("/proc/self/io");
  std::string field;
  unsigned long long value = 0;
  while (io >> field >> value) {
    if (field == "rchar:") return value;
  }
  BOOST_FAIL("no rchar in /proc/self/io");
  return 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_login_reads_its_line_not_the_whole_file) {
  TempDir dir;
  const std::string cheap = make_hash("secret", "$6$", 1000);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "user" + std::to_string(i) + ":" + cheap + ":" + std::to_string(1000 + i) + ":100:\n";
  const std::string file = dir.write("users", text);
  std::string error;
  auto auth = pop3::CryptAuth::from_users_file(file, error);
  BOOST_REQUIRE_MESSAGE(auth, error);
  std::error_code ec;
  unsigned long long before = bytes_read();
  BOOST_TEST(auth->authenticate("user12345", "secret", ec).has_value());
  BOOST_TEST(!auth->authenticate("nobody-here", "secret", ec));
  BOOST_TEST(bytes_read() - before < 4096u, "read " << bytes_read() - before << " bytes of a " << text.size() << "-byte file");
  // Changed: indexed once again, then one line per login again.
  dir.write("users", text + "late:" + cheap + ":5:5:\n");
  before = bytes_read();
  BOOST_TEST(auth->authenticate("late", "secret", ec).has_value());
  BOOST_TEST(bytes_read() - before >= text.size());
  before = bytes_read();
  BOOST_TEST(auth->authenticate("late", "secret", ec).has_value());
  BOOST_TEST(bytes_read() - before < 4096u);
}

BOOST_AUTO_TEST_CASE(every_attempt_hashes_once_per_method_in_use) {
  // Accounts with three methods and costs: each has a dummy setting crypt(3) accepts, with the
  // same method and cost (a bcrypt dummy cut to "$2b$12" would fail at once, costing nothing).
  TempDir dir;
  const std::string file = dir.write("users",
                                     "a:" + make_hash("pw", "$2b$", 12) + ":1001:1001:\n"
                                     "b:" + make_hash("pw", "$6$", 6000) + ":1002:1002:\n"
                                     "c:" + make_hash("pw", "$2b$", 12) + ":1003:1003:\n"
                                     "d:" + make_hash("pw", "$y$") + ":1004:1004:\n"
                                     "e:!" + make_hash("pw", "$1$") + ":1005:1005:\n");
  std::string error;
  auto auth = pop3::CryptAuth::from_users_file(file, error);
  BOOST_REQUIRE_MESSAGE(auth, error);
  const auto& methods = auth->methods().methods();
  BOOST_REQUIRE(methods.size() == 3u);
  BOOST_TEST(methods[0].key == "$2b$12$");
  BOOST_TEST(methods[1].key == "$6$rounds=6000$");
  BOOST_TEST(methods[2].key.starts_with("$y$"));
  for (const auto& method : methods) {
    BOOST_TEST(::crypt_checksalt(method.dummy.c_str()) == CRYPT_SALT_OK);
    crypt_data data{};
    const char* result = ::crypt_rn("pw", method.dummy.c_str(), &data, sizeof data);
    BOOST_REQUIRE(result != nullptr);
    BOOST_TEST(std::string_view(result).starts_with(method.key));
  }
  std::error_code ec;
  BOOST_TEST(auth->authenticate("a", "pw", ec).has_value());
  BOOST_TEST(auth->authenticate("b", "pw", ec).has_value());
  BOOST_TEST(auth->authenticate("d", "pw", ec).has_value());
  BOOST_TEST(!auth->authenticate("e", "pw", ec));
  BOOST_TEST((ec == pop3::errc::auth_failed));
}

BOOST_AUTO_TEST_CASE(a_login_hashes_its_own_method_a_refusal_every_method) {
  using pop3::detail::hash_attempt;
  const std::string sha512 = make_hash("pw", "$6$", 1000);
  const std::string sha256 = make_hash("pw", "$5$", 1000);
  const std::string md5 = make_hash("pw", "$1$");
  pop3::CryptMethods methods;
  for (const std::string* hash : {&sha512, &sha256, &md5}) methods.add(*hash);
  BOOST_REQUIRE(methods.methods().size() == 3u);
  const std::string fallback = make_hash("x", "$5$", 1000);

  // The right password on an open account: its own hash only.
  auto attempt = hash_attempt("pw", &sha256, true, methods, fallback);
  BOOST_TEST(attempt.match);
  BOOST_TEST(attempt.hashed == 1u);
  // The right password on a closed account (shadow's expiry): refused, so every method.
  attempt = hash_attempt("pw", &sha256, false, methods, fallback);
  BOOST_TEST(attempt.match);
  BOOST_TEST(attempt.hashed == 3u);
  // A wrong password, and a name with no usable hash: every method, once each.
  attempt = hash_attempt("wrong", &sha256, true, methods, fallback);
  BOOST_TEST(!attempt.match);
  BOOST_TEST(attempt.hashed == 3u);
  attempt = hash_attempt("pw", nullptr, true, methods, fallback);
  BOOST_TEST(!attempt.match);
  BOOST_TEST(attempt.hashed == 3u);
  // A method not in use when the accounts were last read: its own hash beside every dummy.
  const std::string bcrypt = make_hash("pw", "$2b$", 4);
  attempt = hash_attempt("wrong", &bcrypt, true, methods, fallback);
  BOOST_TEST(!attempt.match);
  BOOST_TEST(attempt.hashed == 4u);
  attempt = hash_attempt("pw", &bcrypt, true, methods, fallback);
  BOOST_TEST(attempt.match);
  BOOST_TEST(attempt.hashed == 1u);
  // No method in use: an unknown name costs the fallback.
  attempt = hash_attempt("pw", nullptr, true, pop3::CryptMethods{}, fallback);
  BOOST_TEST(!attempt.match);
  BOOST_TEST(attempt.hashed == 1u);
}

BOOST_AUTO_TEST_CASE(shadow_expiry_rules_as_pam_unix) {
  using pop3::detail::ShadowAging;
  using pop3::detail::ShadowVerdict;
  using pop3::detail::check_shadow_expiry;
  const long today = 20000;  // 2024-10-04
  // Aging off, a recent change, and a change dated in the future: open.
  BOOST_TEST((check_shadow_expiry(ShadowAging{}, today) == ShadowVerdict::open));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19990, 99999, -1, -1}, today) == ShadowVerdict::open));
  BOOST_TEST((check_shadow_expiry(ShadowAging{20010, 5, 0, -1}, today) == ShadowVerdict::open));
  // chage -E: closed from that day on; -E -1 (empty) never.
  BOOST_TEST((check_shadow_expiry(ShadowAging{19990, -1, -1, 20000}, today) == ShadowVerdict::account_expired));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19990, -1, -1, 1}, today) == ShadowVerdict::account_expired));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19990, -1, -1, 20001}, today) == ShadowVerdict::open));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19990, -1, -1, 0}, today) == ShadowVerdict::account_expired));
  // chage -d 0: must change; expiry still comes first.
  BOOST_TEST((check_shadow_expiry(ShadowAging{0, -1, -1, -1}, today) == ShadowVerdict::change_forced));
  BOOST_TEST((check_shadow_expiry(ShadowAging{0, -1, -1, 5}, today) == ShadowVerdict::account_expired));
  // Past max age: must change; past max + inactive: closed. On the day the limit is reached
  // Debian 12's pam_unix still lets the login in (checked against it with chage -d/-M).
  BOOST_TEST((check_shadow_expiry(ShadowAging{19969, 30, -1, -1}, today) == ShadowVerdict::password_aged));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19970, 30, -1, -1}, today) == ShadowVerdict::open));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19969, 30, 10, -1}, today) == ShadowVerdict::password_aged));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19959, 30, 10, -1}, today) == ShadowVerdict::password_inactive));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19960, 30, 10, -1}, today) == ShadowVerdict::password_aged));
  BOOST_TEST((check_shadow_expiry(ShadowAging{19969, 30, 0, -1}, today) == ShadowVerdict::password_inactive));
  // 1.5.2 has no "aging off" case for an empty last change: it counts from day -1.
  BOOST_TEST((check_shadow_expiry(ShadowAging{-1, 30, -1, -1}, today) == ShadowVerdict::password_aged));
  // No overflow with the largest values.
  BOOST_TEST((check_shadow_expiry(ShadowAging{1, LONG_MAX, LONG_MAX, -1}, today) == ShadowVerdict::open));
  BOOST_TEST((check_shadow_expiry(ShadowAging{-1, LONG_MAX, 0, -1}, today) == ShadowVerdict::open));
  BOOST_TEST((check_shadow_expiry(ShadowAging{LONG_MIN, 30, 10, -1}, today) == ShadowVerdict::password_inactive));
  BOOST_TEST((check_shadow_expiry(ShadowAging{LONG_MIN, -LONG_MAX, LONG_MIN, -1}, today) ==
              ShadowVerdict::password_inactive));
  BOOST_TEST(pop3::detail::closed_account_message(ShadowVerdict::account_expired, "bob") ==
             "Account bob has expired (account expired)");
  BOOST_TEST(pop3::detail::closed_account_message(ShadowVerdict::password_inactive, "bob") ==
             "Account bob has expired (failed to change password)");
  BOOST_TEST(pop3::detail::closed_account_message(ShadowVerdict::change_forced, "bob") ==
             "Expired password for user bob (root enforced)");
  BOOST_TEST(pop3::detail::closed_account_message(ShadowVerdict::password_aged, "bob") ==
             "Expired password for user bob (password aged)");
}
