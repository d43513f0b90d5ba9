// Tests of pop3/auth/users_file.hpp: parsing and its error lines, the sorted index and its
// refresh, lookups that read one line, and the dummy settings of every crypt(3) method.
#define BOOST_TEST_MODULE users_file
#include <boost/test/unit_test.hpp>

#include "pop3/auth/users_file.hpp"

#include <crypt.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/crypt_hash.hpp"
#include "support/temp_dir.hpp"

namespace {

using pop3::test::make_hash;
using pop3::test::TempDir;

std::string parse_error(const std::string& text) {
  pop3::detail::UsersIndex index;
  pop3::detail::index_users_file(text, index);
  BOOST_TEST(index.slots.empty());
  return index.error;
}

std::string key_of(std::string_view hash) {
  const auto layout = pop3::detail::hash_layout(hash);
  BOOST_REQUIRE_MESSAGE(layout, "no layout: " << hash);
  return std::string(hash.substr(0, layout->key_end));
}

std::string salt_of(std::string_view hash) {
  const auto layout = pop3::detail::hash_layout(hash);
  BOOST_REQUIRE(layout);
  return std::string(hash.substr(layout->key_end, layout->salt_end - layout->key_end));
}

}  // namespace

BOOST_AUTO_TEST_CASE(indexes_accounts_comments_and_blank_lines) {
  const std::string hash = make_hash("pw");
  const std::string text = "# comment\n\n   \n  # indented comment\nbob:*:4294967294:0:/home/bob/mbox\nalice:" +
                           hash + ":1001:100:";  // no final newline
  pop3::detail::UsersIndex index;
  pop3::detail::index_users_file(text, index);
  BOOST_REQUIRE_MESSAGE(index.error.empty(), index.error);
  BOOST_REQUIRE(index.slots.size() == 2u);
  BOOST_TEST(index.name(index.slots[0]) == "alice");  // sorted
  BOOST_TEST(index.slots[0].line == 6u);
  BOOST_TEST(text.substr(index.slots[0].line_offset, index.slots[0].line_size) == "alice:" + hash + ":1001:100:");
  BOOST_TEST(index.name(index.slots[1]) == "bob");
  BOOST_TEST(index.slots[1].line == 5u);
  // No hash in the index: only the names.
  BOOST_TEST(index.names == "bobalice");
  BOOST_TEST(index.methods.methods().size() == 1u);  // '*' is no method

  pop3::detail::UsersLine line;
  BOOST_REQUIRE(pop3::detail::parse_users_line("bob:*:4294967294:0:/home/bob/mbox", line) == nullptr);
  BOOST_TEST(line.name == "bob");
  BOOST_TEST(line.hash == "*");
  BOOST_TEST(line.uid == 4294967294u);
  BOOST_TEST(line.gid == 0u);
  BOOST_TEST(line.mailbox == "/home/bob/mbox");
  // The mailbox field may be a location template (locator.hpp), its scheme's ':' included.
  for (const char* location : {"maildir:/srv/mail/bob", "mbox:/srv/%u", "maildir:%h/Maildir"}) {
    const std::string text = "bob:*:1:1:" + std::string(location);
    BOOST_REQUIRE(pop3::detail::parse_users_line(text, line) == nullptr);
    BOOST_TEST(line.mailbox == location);
  }
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
  BOOST_TEST(parse_error("alice:$6$" + std::string(400, 'a') + ":1:1:\n") ==
             "line 1: password hash is not one crypt(3) supports");
  BOOST_TEST(parse_error("alice:" + h + ":x:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":-1:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":+1:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":4294967295:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":99999999999:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ": 1:1:\n") == "line 1: uid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":1::\n") == "line 1: gid is not a number from 0 to 4294967294");
  BOOST_TEST(parse_error("alice:" + h + ":1:1:mail/alice\n") == "line 1: mailbox is not an absolute path");
  BOOST_TEST(parse_error("alice:" + h + ":1:1:maildir:/a:b\n") == "line 1: more than 5 fields (':' in the mailbox path?)");
  for (const char* bad : {"maildir:Maildir", "mbox:/a/%x", "maildir:"}) {
    BOOST_TEST(parse_error("alice:" + h + ":1:1:" + bad + "\n") ==
                   "line 1: mailbox is neither an absolute path nor a template (mbox:PATH, maildir:PATH; %u, %h, %%)",
               bad);
  }
  BOOST_TEST(parse_error("alice:" + h + ":1:1:\r\n") == "line 1: control character in line (DOS line ends?)");
}

BOOST_AUTO_TEST_CASE(the_first_problem_from_the_top_is_reported) {
  BOOST_TEST(parse_error("alice:*:1:1:\nbob:*:2:2:\nalice:*:3:3:\n") == "line 3: user name already defined on line 1");
  // The earliest repeat, whichever name sorts first; a third definition is not the first repeat.
  BOOST_TEST(parse_error("zed:*:1:1:\namy:*:1:1:\nzed:*:1:1:\namy:*:1:1:\namy:*:1:1:\n") ==
             "line 3: user name already defined on line 1");
  BOOST_TEST(parse_error("amy:*:1:1:\nzed:*:1:1:\namy:*:1:1:\nzed:*:1:1:\n") ==
             "line 3: user name already defined on line 1");
  // A repeat above a malformed line comes first; a malformed line above a repeat comes first.
  BOOST_TEST(parse_error("a:*:1:1:\na:*:1:1:\nbroken\n") == "line 2: user name already defined on line 1");
  BOOST_TEST(parse_error("a:*:1:1:\nbroken\na:*:1:1:\n") == "line 2: expected 5 fields name:hash:uid:gid:mailbox");
}

BOOST_AUTO_TEST_CASE(a_hundred_thousand_entries_are_indexed_sorted_and_checked) {
  std::string text;
  for (int i = 0; i < 100000; ++i) {
    text += "user" + std::to_string((i * 7919) % 100000) + ":$6$salt$" + std::string(86, 'a') + ":" +
            std::to_string(1000 + i) + ":100:\n";
  }
  pop3::detail::UsersIndex index;
  pop3::detail::index_users_file(text, index);
  BOOST_REQUIRE_MESSAGE(index.error.empty(), index.error);
  BOOST_TEST(index.slots.size() == 100000u);
  BOOST_TEST(std::is_sorted(index.slots.begin(), index.slots.end(),
                            [&](const auto& a, const auto& b) { return index.name(a) < index.name(b); }));
  text += "user4242:*:1:1:\n";
  BOOST_TEST(parse_error(text).find("line 100001: user name already defined on line ") == 0u);
}

BOOST_AUTO_TEST_CASE(find_reads_the_line_again_and_follows_changes) {
  TempDir dir;
  const std::string one = make_hash("one");
  const std::string file = dir.write("users", "alice:" + one + ":1001:1002:\nbob:*:1003:1003:/srv/bob\n");
  std::string error;
  auto users = pop3::UsersFile::open(file, error);
  BOOST_REQUIRE_MESSAGE(users, error);
  BOOST_TEST(users->size() == 2u);
  {
    pop3::UsersFileAccount account;
    BOOST_TEST(!users->find("alice", account));
    BOOST_REQUIRE(account.found);
    BOOST_TEST(account.hash == one);
    BOOST_TEST(account.uid == 1001u);
    BOOST_TEST(account.gid == 1002u);
    BOOST_TEST(account.mailbox.empty());
    pop3::UsersFileAccount bob;
    BOOST_TEST(!users->find("bob", bob));
    BOOST_TEST(bob.mailbox == "/srv/bob");
    pop3::UsersFileAccount none;
    BOOST_TEST(!users->find("carol", none));
    BOOST_TEST(!none.found);
    BOOST_TEST(!users->find("alic", none));
    BOOST_TEST(!none.found);
  }
  // Rewritten in place with the same size: the ctime tells.
  const std::string two = make_hash("two");
  BOOST_REQUIRE(one.size() == two.size());
  dir.write("users", "alice:" + two + ":1001:1002:\nbob:*:1003:1003:/srv/bob\n");
  {
    pop3::UsersFileAccount account;
    BOOST_TEST(!users->find("alice", account));
    BOOST_TEST(account.hash == two);
  }
  // Replaced by a longer file with another order.
  dir.write("users.new", "carol:*:1:1:\nbob:*:1003:1003:/srv/bob\nalice:" + one + ":7:8:\n");
  std::filesystem::rename(dir.path() / "users.new", file);
  BOOST_TEST(users->refresh(error));
  BOOST_TEST(users->size() == 3u);
  {
    pop3::UsersFileAccount account;
    BOOST_TEST(!users->find("alice", account));
    BOOST_TEST(account.hash == one);
    BOOST_TEST(account.uid == 7u);
  }
  // Broken: refused as a backend failure, and reported once by refresh.
  dir.write("users", "alice\n");
  BOOST_TEST(!users->refresh(error));
  BOOST_TEST(error == file + ": line 1: expected 5 fields name:hash:uid:gid:mailbox");
  pop3::UsersFileAccount account;
  BOOST_TEST((users->find("alice", account) == pop3::errc::auth_backend));
  BOOST_TEST(!account.found);
  BOOST_TEST(users->refresh(error));  // unchanged since
  // Made unreadable by others' rules, then removed.
  BOOST_REQUIRE(::chmod(file.c_str(), 0644) == 0);
  BOOST_TEST((users->find("alice", account) == pop3::errc::auth_backend));
  std::filesystem::remove(file);
  BOOST_TEST(!users->refresh(error));
  BOOST_TEST(error == file + ": No such file or directory");
  BOOST_TEST((users->find("alice", account) == pop3::errc::auth_backend));
  // Fixed again.
  dir.write("users", "alice:" + one + ":1001:1002:\n");
  BOOST_TEST(users->refresh(error));
  BOOST_TEST(!users->find("alice", account));
  BOOST_TEST(account.found);
}

BOOST_AUTO_TEST_CASE(copies_share_the_index) {
  TempDir dir;
  const std::string file = dir.write("users", "alice:*:1:1:\n");
  std::string error;
  auto users = pop3::UsersFile::open(file, error);
  BOOST_REQUIRE(users);
  pop3::UsersFile copy = *users;
  pop3::UsersFileAccount account;
  BOOST_TEST(!copy.find("alice", account));
  BOOST_TEST(account.found);
  BOOST_TEST(&copy.methods() == &users->methods());
}

// Every method libxcrypt implements here, at its default cost and, where it has one, another.
BOOST_AUTO_TEST_CASE(dummy_settings_are_valid_for_every_method_and_cost) {
  struct Case {
    const char* prefix;
    unsigned long count;
  };
  const Case cases[] = {
      {"$y$", 0},    {"$y$", 7},     {"$gy$", 0},    {"$gy$", 4},     {"$7$", 0},     {"$7$", 7},
      {"$2b$", 0},   {"$2b$", 12},   {"$2a$", 6},    {"$2y$", 8},     {"$6$", 0},     {"$6$", 10000},
      {"$5$", 0},    {"$5$", 20000}, {"$1$", 0},     {"$sha1$", 0},   {"$sha1$", 5000}, {"$md5", 0},
      {"$md5", 3000}, {"_", 0},      {"_", 1001},    {"", 0},         {"$3$", 0},
  };
  for (const Case& c : cases) {
    const std::string hash = make_hash("password", c.prefix, c.count);
    std::string dummy;
    BOOST_TEST_CONTEXT(hash) {
      BOOST_REQUIRE(pop3::detail::make_dummy_setting(hash, dummy));
      BOOST_TEST(::crypt_checksalt(dummy.c_str()) == ::crypt_checksalt(hash.c_str()));
      crypt_data data{};
      const char* result = ::crypt_rn("password", dummy.c_str(), &data, sizeof data);
      BOOST_REQUIRE(result != nullptr);
      // The same method and cost, and never the account's salt or hash.
      BOOST_TEST(key_of(result) == key_of(hash));
      // NT hashes have no salt: the same password always gives the same hash.
      if (!salt_of(hash).empty()) {
        BOOST_TEST(std::string_view(result) != hash);
        BOOST_TEST(salt_of(result) != salt_of(hash));
      }
      BOOST_TEST(dummy.find(hash.substr(key_of(hash).size())) == std::string::npos);
      // Through CryptMethods too.
      pop3::CryptMethods methods;
      methods.add(hash);
      BOOST_REQUIRE(methods.methods().size() == 1u);
      BOOST_TEST(methods.methods()[0].key == key_of(hash));
      BOOST_TEST(methods.find(hash) == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(methods_in_use_one_per_method_and_cost) {
  pop3::CryptMethods methods;
  const std::string y = make_hash("a");
  const std::string b12 = make_hash("a", "$2b$", 12);
  methods.add(y);
  methods.add(make_hash("b"));  // same method and cost
  methods.add(b12);
  methods.add(make_hash("a", "$2b$", 10));  // another cost
  methods.add("!" + y);
  methods.add("*");
  methods.add("");
  BOOST_REQUIRE(methods.methods().size() == 3u);
  BOOST_TEST(methods.methods()[0].key == key_of(y));
  BOOST_TEST(methods.methods()[1].key == "$2b$12$");
  BOOST_TEST(methods.methods()[2].key == "$2b$10$");
  BOOST_TEST(methods.find(b12) == 1u);
  BOOST_TEST(methods.find(make_hash("a", "$6$")) == pop3::CryptMethods::npos);
  for (int i = 0; i < 40; ++i) methods.add(make_hash("a", "$6$", 1000 + static_cast<unsigned long>(i)));
  BOOST_TEST(methods.methods().size() == pop3::CryptMethods::max_methods);
  // What the system reader child sends is checked.
  pop3::CryptMethods received;
  BOOST_TEST(received.add_dummy("$6$", "$6$abcdefgh"));
  BOOST_TEST(!received.add_dummy("$6$", "$6$abcdefgh"));  // already there
  BOOST_TEST(!received.add_dummy("$5$", "$6$abcdefgh"));  // not its key
  BOOST_TEST(!received.add_dummy("$9$", "$9$abcdefgh"));  // not a setting crypt(3) takes
}
