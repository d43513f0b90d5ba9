// pop3/mailbox/maildir.hpp: Courier-, Dovecot- and qmail-style maildirs against a model of
// the rules written here from the issue (order, UIDL, sizes, QUIT), through the engine.
#define BOOST_TEST_MODULE maildir
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/maildir.hpp"
#include "pop3/server.hpp"
#include "support/fakes.hpp"
#include "support/pieces_transport.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using pop3::MsgIndex;
using pop3::test::PiecesTransport;
using pop3::test::TempDir;
using Box = pop3::MaildirMailbox<>;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct Maildir {
  TempDir tmp;
  fs::path dir = tmp.path() / "Maildir";
  Maildir() {
    for (const char* sub : {"cur", "new", "tmp"}) fs::create_directories(dir / sub);
  }
  std::string location() const { return "maildir:" + dir.string(); }
  void deliver(const std::string& sub, const std::string& name, const std::string& text) const {
    write_file(dir / "tmp" / name, text);
    fs::rename(dir / "tmp" / name, dir / sub / name);
  }
  std::set<std::string> names(const std::string& sub) const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir / sub)) out.insert(e.path().filename().string());
    return out;
  }
};

// The model: what a message is, in which order, its UIDL and its LIST size, from the rules.
struct Expected {
  std::string name;
  std::string text;
};

std::string model_uidl(const std::string& name) {
  const std::string base = name.substr(0, name.find(':'));
  const bool printable = std::all_of(base.begin(), base.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  if (!base.empty() && base.size() <= 70 && printable) return base;
  pop3::Md5 md5;
  md5.update(base);
  std::string hex;
  char two[3];
  for (const std::uint8_t byte : md5.final()) {
    std::snprintf(two, sizeof two, "%02x", byte);
    hex += two;
  }
  return hex;
}

// CRLF line ends whatever the file has, and an unterminated last line terminated.
std::string model_wire_text(const std::string& text) {
  std::string out;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '\r' && k + 1 < text.size() && text[k + 1] == '\n') continue;
    if (text[k] == '\n') out += '\r';
    out += text[k];
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  return out;
}

std::uint64_t model_size(const Expected& m) {
  const std::string base = m.name.substr(0, m.name.find(':'));
  const std::size_t w = base.find(",W=");
  if (w != std::string::npos) return std::strtoull(base.c_str() + w + 3, nullptr, 10);
  return model_wire_text(m.text).size();
}

std::string model_stuffed(const std::string& text) {
  const std::string wire = model_wire_text(text);
  std::string out;
  bool line_start = true;
  for (const char c : wire) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  return out;
}

void model_sort(std::vector<Expected>& messages) {
  std::sort(messages.begin(), messages.end(), [](const Expected& a, const Expected& b) {
    const auto split = [](const std::string& n) {
      std::size_t d = 0;
      while (d < n.size() && std::isdigit(static_cast<unsigned char>(n[d]))) ++d;
      return std::make_pair(d == 0 ? 0ULL : std::stoull(n.substr(0, d)), n.substr(d));
    };
    return split(a.name) < split(b.name);
  });
}

// alice / secret, with the given location and home.
struct LocatedAuth {
  std::string location;
  std::string home;
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    if (user == "alice" && password == "secret") return pop3::Account{"alice", location, 1000, 1000, home};
    ec = pop3::errc::auth_failed;
    return std::nullopt;
  }
};

std::string serve(const std::vector<std::string>& pieces, const std::string& location,
                  std::function<void()> between = [] {}) {
  PiecesTransport transport(pieces, std::move(between));
  const auto output = transport.output();
  pop3::Pop3Server<PiecesTransport, LocatedAuth, Box> server{std::move(transport), LocatedAuth{location, ""}, Box{}};
  (void)server.serve();
  return *output;
}

// Courier, Dovecot and qmail names, and what is not a message.
struct Fixture : Maildir {
  std::vector<Expected> messages;
  Fixture() {
    const std::string long_name = "1700000003.M" + std::string(80, '7') + "P1.host,S=9:2,S";
    const std::vector<std::tuple<std::string, std::string, std::string>> files{
        {"cur", "1700000001.M123456P789V0000000000000803I0000000000001234_0.mail.example,S=23:2,S",
         "Subject: courier\n\nbody\n"},
        {"cur", "1700000002.M1P2.dovecot,S=28,W=31:2,FS", "Subject: dovecot\n\n.dot line\n"},
        {"new", "1699999999.12345.qmail", "From: q\n\n..two dots\nno final newline"},
        {"cur", long_name, "Subject: long\n\n"},
        {"new", "1700000004.caf\xc3\xa9.host", "Subject: utf-8 name\n\nx\n"},
        {"new", "1700000005.M9P9.crlf", "Subject: crlf\r\n\r\nline\r\nbare\rcr\r\n"},
        {"cur", "1700000010.M1P1.same-second:2,", "B\n"},
        {"cur", "1700000010.M0P1.same-second:2,", "A\n"},
        {"new", "999999999.old", "ten digits sort after nine\n"},
        {"new", "noTimestamp", "no digits: timestamp 0\n"},
        {"cur", "1700000020.empty", ""},
    };
    for (const auto& [sub, name, text] : files) {
      deliver(sub, name, text);
      messages.push_back({name, text});
    }
    model_sort(messages);
    // Not messages: dot files, directories, symlinks, FIFOs.
    write_file(dir / "cur" / ".hidden:2,", "x\n");
    write_file(dir / "new" / ".1700000000.dotfile", "x\n");
    fs::create_directory(dir / "cur" / "1700000000.subdir");
    fs::create_symlink(dir / "cur" / ("1700000001.M123456P789V0000000000000803I0000000000001234_0.mail.example,S=23:2,S"),
                       dir / "new" / "1700000000.symlink");
    BOOST_REQUIRE(::mkfifo((dir / "new" / "1700000000.fifo").c_str(), 0600) == 0);
    write_file(dir / "tmp" / "1700000000.in-delivery", "not yet delivered\n");
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(listing_matches_the_model) {
  const Fixture f;
  Box box;
  std::error_code ec;
  box.open(f.location(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE_EQUAL(box.count(), f.messages.size());
  for (std::uint32_t k = 0; k < box.count(); ++k) {
    BOOST_TEST_CONTEXT(f.messages[k].name) {
      BOOST_TEST(std::string(box.unique_id(MsgIndex{k}).view()) == model_uidl(f.messages[k].name));
      BOOST_TEST(box.size(MsgIndex{k}) == model_size(f.messages[k]));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_session_lists_and_retrieves_byte_for_byte) {
  const Fixture f;
  std::string script = "USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\n";
  for (std::size_t k = 1; k <= f.messages.size(); ++k) script += "RETR " + std::to_string(k) + "\r\n";
  script += "TOP 6 0\r\nQUIT\r\n";
  const std::string output = serve({script}, f.location());

  std::uint64_t total = 0;
  std::string list = "+OK\r\n", uidl = "+OK\r\n", retr;
  for (std::size_t k = 0; k < f.messages.size(); ++k) {
    const Expected& m = f.messages[k];
    total += model_size(m);
    list += std::to_string(k + 1) + " " + std::to_string(model_size(m)) + "\r\n";
    uidl += std::to_string(k + 1) + " " + model_uidl(m.name) + "\r\n";
    retr += "+OK\r\n" + model_stuffed(m.text) + ".\r\n";
    // LIST's size is the text sent, before stuffing (the ,W= of the fixture is right).
    BOOST_TEST(model_wire_text(m.text).size() == model_size(m), m.name);
  }
  const std::string top = model_stuffed(f.messages[5].text);
  const std::string expected = "+OK\r\n+OK\r\n+OK\r\n+OK " + std::to_string(f.messages.size()) + " " + std::to_string(total) +
                               "\r\n" + list + ".\r\n" + uidl + ".\r\n" + retr + "+OK\r\n" +
                               top.substr(0, top.find("\r\n\r\n") + 4) + ".\r\n+OK\r\n";
  BOOST_TEST(output == expected);
}

BOOST_AUTO_TEST_CASE(a_large_message_crosses_chunks_with_crlf_at_the_seams) {
  Maildir m;
  std::string text = "Subject: big\r\n\r\n";
  // A CRLF astride every chunk boundary once, and a CR alone at one.
  while (text.size() < 3 * Box::chunk_bytes) text += std::string(997, 'x') + "\r\n";
  text[Box::chunk_bytes - 1] = '\r';
  text[Box::chunk_bytes] = 'y';
  text[2 * Box::chunk_bytes - 1] = '\r';
  text[2 * Box::chunk_bytes] = '\n';
  m.deliver("new", "1700000000.big", text);
  Box box;
  std::error_code ec;
  box.open(m.location(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(box.count() == 1u);
  BOOST_TEST(box.size(MsgIndex{0}) == model_wire_text(text).size());
  std::string got;
  for (auto c = box.data(MsgIndex{0}, 0, ec); !c.empty(); c = box.data(MsgIndex{0}, got.size(), ec)) {
    got.append(c.data(), c.size());
  }
  BOOST_TEST(!ec);
  std::string lf = text;
  for (std::size_t at; (at = lf.find("\r\n")) != std::string::npos;) lf.erase(at, 1);
  BOOST_TEST(got == lf);
  // From an offset of its own (out of order): the same bytes on.
  const auto tail = box.data(MsgIndex{0}, 100000, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(std::string(tail.data(), tail.size()) == lf.substr(100000, tail.size()));
}

BOOST_AUTO_TEST_CASE(quit_unlinks_moves_and_updates_the_quota) {
  Maildir m;
  write_file(m.dir / "maildirsize", "1000000S,100C\n60 3\n");
  m.deliver("new", "1700000001.a,S=20", "Subject: a\n\nsome text\n");     // deleted: ,S= is its raw size
  m.deliver("new", "1700000002.b", "Subject: b\n\n");                     // kept: moved to cur
  m.deliver("cur", "1700000003.c:2,S", "Subject: c\n\nxyz\n");            // deleted: stat size
  m.deliver("new", "1700000004.d:2,", "Subject: d\n\n");                  // kept, already has info
  const std::string output = serve({"USER alice\r\nPASS secret\r\nDELE 1\r\nDELE 3\r\nQUIT\r\n"}, m.location());
  BOOST_TEST(output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(m.names("new").empty());
  BOOST_TEST((m.names("cur") == std::set<std::string>{"1700000002.b:2,", "1700000004.d:2,"}));
  BOOST_TEST(read_all(m.dir / "maildirsize") == "1000000S,100C\n60 3\n-36 -2\n");
}

BOOST_AUTO_TEST_CASE(quit_without_a_quota_file_creates_none) {
  Maildir m;
  m.deliver("new", "1700000001.a", "x\n");
  BOOST_TEST(serve({"USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n"}, m.location()) ==
             "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(!fs::exists(m.dir / "maildirsize"));
  BOOST_TEST(m.names("new").empty());
}

BOOST_AUTO_TEST_CASE(a_message_deleted_meanwhile_gets_err_and_the_session_goes_on) {
  Maildir m;
  m.deliver("new", "1700000001.a", "first\n");
  m.deliver("new", "1700000002.b", "second\n");
  m.deliver("new", "1700000003.c", "third\n");
  const std::string output = serve(
      {"USER alice\r\nPASS secret\r\n", "RETR 1\r\nRETR 2\r\nRETR 3\r\nDELE 1\r\nQUIT\r\n"}, m.location(), [&] {
        fs::remove(m.dir / "new" / "1700000001.a");   // another session deleted it
        fs::rename(m.dir / "new" / "1700000002.b", m.dir / "cur" / "1700000002.b:2,RS");  // a MUA moved it
        m.deliver("new", "1700000004.d", "arrived\n");  // seen at the next session
      });
  BOOST_TEST(output == "+OK\r\n+OK\r\n+OK\r\n-ERR\r\n+OK\r\nsecond\r\n.\r\n+OK\r\nthird\r\n.\r\n+OK\r\n+OK\r\n");
  BOOST_TEST((m.names("new") == std::set<std::string>{"1700000004.d"}));
  BOOST_TEST((m.names("cur") == std::set<std::string>{"1700000002.b:2,RS", "1700000003.c:2,"}));
}

BOOST_AUTO_TEST_CASE(a_missing_maildir_or_home_is_an_empty_mailbox) {
  Maildir m;
  for (const std::string& location :
       {"maildir:" + (m.dir / "absent").string(), std::string("maildir:"), "maildir:" + m.tmp.path().string()}) {
    BOOST_TEST(serve({"USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n"}, location) ==
                   "+OK\r\n+OK\r\n+OK\r\n+OK 0 0\r\n+OK\r\n",
               location);
  }
  // A file where the maildir should be is refused, as a non-file mbox is.
  const std::string file = m.tmp.write("plain", "x\n");
  BOOST_TEST(serve({"USER alice\r\nPASS secret\r\nSTAT\r\n"}, "maildir:" + file) == "+OK\r\n+OK\r\n-ERR\r\n");
}

BOOST_AUTO_TEST_CASE(the_same_name_in_new_and_cur_counts_once) {
  Maildir m;
  m.deliver("new", "1700000001.a", "x\n");
  m.deliver("cur", "1700000001.a:2,S", "x\n");
  Box box;
  std::error_code ec;
  box.open(m.location(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_TEST(box.count() == 1u);
}

BOOST_AUTO_TEST_CASE(more_messages_than_the_limit_are_refused) {
  Maildir m;
  for (int k = 0; k < 3; ++k) m.deliver("new", std::to_string(1700000000 + k) + ".x", "x\n");
  pop3::Limits limits;
  limits.max_messages = 2;
  Box box{limits};
  std::error_code ec;
  box.open(m.location(), ec);
  BOOST_TEST(ec == pop3::errc::mailbox_refused);
  BOOST_TEST(box.count() == 0u);
}

// Two sessions on one maildir while mail keeps arriving: each message is sent whole or gets
// -ERR because the other session deleted it; none is lost or seen twice.
BOOST_AUTO_TEST_CASE(two_sessions_and_a_delivery_loop) {
  Maildir m;
  constexpr int deliveries = 300;
  std::atomic<bool> delivering{true};
  std::thread delivery([&] {
    for (int k = 0; k < deliveries; ++k) {
      const std::string name = std::to_string(1700000000 + k) + ".M" + std::to_string(k) + "P1.host";
      m.deliver("new", name, "Subject: " + name + "\n\nbody\n");
    }
    delivering = false;
  });
  std::mutex mutex;
  std::map<std::string, int> deleted;          // base name -> sessions whose commit unlinked it
  std::vector<std::string> gone_meanwhile;     // message_gone at RETR: another session deleted it
  std::vector<std::string> bad_text;
  auto session = [&](int who) {
    for (int round = 0; round < 40 && (delivering || round < 3); ++round) {
      Box box;
      std::error_code ec;
      box.open(m.location(), ec);
      if (ec) {
        std::lock_guard lock(mutex);
        bad_text.push_back("open failed");
        return;
      }
      pop3::DeletionSet dele{box.count()};
      std::vector<std::string> gone;
      for (std::uint32_t k = 0; k < box.count(); ++k) {
        const std::string uid(box.unique_id(MsgIndex{k}).view());
        std::string text;
        auto c = box.data(MsgIndex{k}, 0, ec);
        if (ec == pop3::errc::message_gone) {
          gone.push_back(uid);
          continue;
        }
        for (; !ec && !c.empty(); c = box.data(MsgIndex{k}, text.size(), ec)) text.append(c.data(), c.size());
        std::lock_guard lock(mutex);
        if (ec || text != "Subject: " + uid + "\n\nbody\n") bad_text.push_back(uid);
        if ((k + who) % 2 == 0) dele.mark(MsgIndex{k});
      }
      {
        // A message gone meanwhile was deleted by the other session's commit, which holds no
        // lock: checked once both sessions have finished, against every deletion.
        std::lock_guard lock(mutex);
        for (const auto& uid : gone) gone_meanwhile.push_back(uid);
      }
      box.commit(dele, ec);
      std::lock_guard lock(mutex);
      if (ec) bad_text.push_back("commit failed");
      for (std::uint32_t k = 0; k < box.count(); ++k)
        if (dele.marked(MsgIndex{k})) ++deleted[std::string(box.unique_id(MsgIndex{k}).view())];
    }
  };
  std::thread a(session, 0), b(session, 1);
  a.join();
  b.join();
  delivery.join();
  BOOST_TEST_MESSAGE(deleted.size() << " deleted, " << gone_meanwhile.size() << " gone under a session");
  BOOST_TEST(bad_text.empty());
  for (const auto& uid : gone_meanwhile) BOOST_TEST(deleted.count(uid) == 1u, uid << " gone but never deleted");
  // Every delivered message is still there exactly once, or was deleted by a session.
  std::map<std::string, int> present;
  for (const char* sub : {"new", "cur"})
    for (const auto& name : m.names(sub)) ++present[name.substr(0, name.find(':'))];
  for (int k = 0; k < deliveries; ++k) {
    const std::string base = std::to_string(1700000000 + k) + ".M" + std::to_string(k) + "P1.host";
    const int here = present.count(base) ? present[base] : 0;
    BOOST_TEST((here == 1 || (here == 0 && deleted.count(base) == 1)), base << ": " << here << " copies");
  }
  BOOST_TEST(present.size() + deleted.size() >= static_cast<std::size_t>(deliveries));
}

BOOST_AUTO_TEST_CASE(names_and_sizes_parse_strictly) {
  using pop3::detail::maildir_name_field;
  BOOST_TEST(*maildir_name_field("1.M1P1.h,S=10,W=12:2,S", 'W') == 12u);
  BOOST_TEST(*maildir_name_field("1.M1P1.h,S=10,W=12:2,S", 'S') == 10u);
  BOOST_TEST(!maildir_name_field("1.M1P1.h,S=10:2,W=12", 'W'));   // after ':' is the info
  BOOST_TEST(!maildir_name_field("1.M1P1.h,W=12x", 'W'));
  BOOST_TEST(!maildir_name_field("1.M1P1.h,W=", 'W'));
  BOOST_TEST(!maildir_name_field("1.M1P1.h,W=99999999999999999999999", 'W'));
  BOOST_TEST(!maildir_name_field("1.M1P1.h,W=-1", 'W'));
  using pop3::detail::maildir_delivered_before;
  BOOST_TEST(maildir_delivered_before("999.x", "1000.a"));
  BOOST_TEST(maildir_delivered_before("0999.x", "1000.a"));
  BOOST_TEST(maildir_delivered_before("x", "1.a"));
  BOOST_TEST(maildir_delivered_before("123456789012345678901234.a", "123456789012345678901234.b"));
  BOOST_TEST(!maildir_delivered_before("123456789012345678901234.a", "23456789012345678901234.b"));
}
