// Tests of pop3/mailbox/mbox.hpp on real files in a fresh temporary directory.
// Modification times are set explicitly (old times, and another old time to stand for
// a change), so no test waits for popa3d's 1-second rule.
#define BOOST_TEST_MODULE mbox
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pop3/mailbox/mbox.hpp"
#include "pop3/server.hpp"
#include "support/pieces_transport.hpp"

namespace fs = std::filesystem;
namespace utf = boost::unit_test;
// The byte source under test: the default (MmapSource) unless the build names another, as
// the mbox_test_pread run does with pop3::PreadSource.
#ifdef POP3_TEST_MBOX_SOURCE
using Box = pop3::MboxMailbox<pop3::Md5, POP3_TEST_MBOX_SOURCE>;
#else
using Box = pop3::MboxMailbox<>;
#endif
using pop3::MsgIndex;
using pop3::test::PiecesTransport;

namespace {

constexpr std::time_t login_time = 1000000000;  // the conformance cases' mtime
constexpr std::time_t later_time = 1000000100;  // "another program wrote the file"

const fs::path cases_dir = fs::path(POP3_SOURCE_DIR) / ".." / "shared" / "conformance" / "cases";

// Tests that read the shared cases run when they exist; under CI they must exist.
utf::assertion_result shared_cases_or_ci(utf::test_unit_id) {
  const char* ci = std::getenv("CI");
  return utf::assertion_result(fs::is_directory(cases_dir) || (ci != nullptr && std::string(ci) == "true"));
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "pop3-mbox-XXXXXX").string();
    BOOST_REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  [[nodiscard]] std::string file(const char* name) const { return (path / name).string(); }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << p);
  std::string bytes(static_cast<std::size_t>(fs::file_size(p)), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE_MESSAGE(in.gcount() == static_cast<std::streamsize>(bytes.size()), "short read of " << p);
  return bytes;
}

void set_mtime(const std::string& path, std::time_t t) {
  const struct timespec times[2] = {{t, 0}, {t, 0}};
  BOOST_REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

void write_mailbox(const std::string& path, const std::string& bytes, std::time_t mtime = login_time) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    BOOST_REQUIRE(out);
  }
  BOOST_REQUIRE(chmod(path.c_str(), 0600) == 0);
  set_mtime(path, mtime);
}

// Another program writing under an fcntl write lock, as a delivery agent does: through
// its own descriptor, then a different whole-second mtime.
enum class Write { append, rewrite };
void locked_write(const std::string& path, const std::string& bytes, Write how, std::time_t mtime = later_time) {
  const int fd = ::open(path.c_str(), O_RDWR | (how == Write::append ? O_APPEND : O_TRUNC));
  BOOST_REQUIRE(fd >= 0);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  BOOST_REQUIRE(fcntl(fd, F_SETLKW, &fl) == 0);
  BOOST_REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
  BOOST_REQUIRE(futimens(fd, times) == 0);
  fl.l_type = F_UNLCK;
  BOOST_REQUIRE(fcntl(fd, F_SETLK, &fl) == 0);
  close(fd);
}

std::string message_data(Box& box, std::uint32_t i, std::uint64_t offset = 0, std::size_t* chunks = nullptr) {
  std::string out;
  std::error_code ec;
  for (std::size_t n = 0; n < 1000; ++n) {
    const auto c = box.data(MsgIndex{i}, offset + out.size(), ec);
    BOOST_REQUIRE(!ec);
    BOOST_REQUIRE(c.size() <= Box::chunk_bytes);
    if (c.empty()) {
      if (chunks) *chunks = n;
      return out;
    }
    out.append(c.data(), c.size());
  }
  BOOST_FAIL("data() never ended");
  return out;
}

// Three messages; raw extents kept apart so expected compactions can be spelled out.
const std::string m1 =
    "From alice@example.org Sun Sep  9 01:46:40 2001\n"
    "Message-ID: <1@example.org>\n"
    "Subject: one\n"
    "\n"
    "first body\n"
    "\n";
const std::string m2 =
    "From bob@example.org Sun Sep  9 01:46:41 2001\n"
    "Received: from a by b; Sun, 9 Sep 2001 01:46:41 +0000\n"
    "Message-ID: <2@example.org>\n"
    "\n"
    "second\n"
    ".dot line\n"
    "\n";
const std::string m3 =
    "From carol@example.org Sun Sep  9 01:46:42 2001\n"
    "Subject: three, no final newline\n"
    "\n"
    "third";
const std::string three = m1 + m2 + m3;

struct Opened {
  TempDir dir;
  std::string path = dir.file("alice");
  Box box;
  pop3::DeletionSet dele;  // the engine's DELE marks, for commit()
  explicit Opened(const std::string& bytes, pop3::Limits limits = {}) : box(limits) {
    write_mailbox(path, bytes);
    std::error_code ec;
    box.open(path, ec);
    BOOST_REQUIRE_MESSAGE(!ec, ec.message());
    dele = pop3::DeletionSet{box.count()};
  }
};

std::error_code open_error(const std::string& path, pop3::Limits limits = {}) {
  Box box(limits);
  std::error_code ec;
  box.open(path, ec);
  return ec;
}

// Lines "n value" of a recorded reply, in order of appearance.
std::vector<std::pair<unsigned, std::string>> numbered_lines(const std::string& out) {
  std::vector<std::pair<unsigned, std::string>> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    unsigned n = 0;
    std::string value;
    std::istringstream words(line);
    if (line.empty() || line[0] < '1' || line[0] > '9' || !(words >> n >> value)) continue;
    lines.emplace_back(n, value);
  }
  return lines;
}

}  // namespace

BOOST_AUTO_TEST_CASE(absent_mailbox_is_empty_and_never_created) {
  TempDir dir;
  const auto path = dir.file("alice");
  Box box;
  std::error_code ec;
  box.open(path, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(box.count() == 0u);
  box.verify(ec);
  BOOST_TEST(!ec);
  box.commit(pop3::DeletionSet{0}, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(!fs::exists(path));
}

BOOST_AUTO_TEST_CASE(empty_file_is_empty_mailbox) {
  Opened o("");
  BOOST_TEST(o.box.count() == 0u);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(!ec);
  o.box.commit(o.dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(fs::file_size(o.path) == 0u);
}

BOOST_AUTO_TEST_CASE(non_regular_files_are_refused) {
  TempDir dir;
  const auto target = dir.file("real");
  write_mailbox(target, three);
  const auto link = dir.file("link");
  BOOST_REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  BOOST_TEST(open_error(link) == pop3::errc::mailbox_refused);  // even to a regular file
  const auto sub = dir.file("dir");
  BOOST_REQUIRE(mkdir(sub.c_str(), 0700) == 0);
  BOOST_TEST(open_error(sub) == pop3::errc::mailbox_refused);
  const auto fifo = dir.file("fifo");
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  BOOST_TEST(open_error(fifo) == pop3::errc::mailbox_refused);
  BOOST_TEST(open_error(target) == std::error_code{});
}

BOOST_AUTO_TEST_CASE(non_mbox_contents_are_refused) {
  TempDir dir;
  const auto path = dir.file("alice");
  for (const std::string bytes : {"Hello\n", "\nFrom a\nx\n", "From a\n", "From a\nFrom b\nx\n", " From a\nx\n"}) {
    write_mailbox(path, bytes);
    BOOST_TEST(open_error(path) == pop3::errc::mailbox_refused, "contents: " << bytes);
  }
}

BOOST_AUTO_TEST_CASE(sizes_ids_and_data_of_a_small_mailbox) {
  Opened o(three);
  BOOST_REQUIRE(o.box.count() == 3u);
  // Data excludes the From line and the final blank line of a message with a body;
  // size = data bytes + lines (an unterminated last line counts too).
  const std::string d1 = "Message-ID: <1@example.org>\nSubject: one\n\nfirst body\n";
  const std::string d2 = m2.substr(m2.find('\n') + 1, m2.size() - m2.find('\n') - 2);
  const std::string d3 = m3.substr(m3.find('\n') + 1);
  BOOST_TEST(message_data(o.box, 0) == d1);
  BOOST_TEST(message_data(o.box, 1) == d2);
  BOOST_TEST(message_data(o.box, 2) == d3);
  BOOST_TEST(o.box.size(MsgIndex{0}) == d1.size() + 4);
  BOOST_TEST(o.box.size(MsgIndex{1}) == d2.size() + 5);
  BOOST_TEST(o.box.size(MsgIndex{2}) == d3.size() + 3);
  // Message 3 has no counted header line: the digest of empty input (spec section 10).
  BOOST_TEST(o.box.unique_id(MsgIndex{2}).view() == "d98c1dd404b2008f");
  BOOST_TEST(o.box.unique_id(MsgIndex{0}).view().size() == 16u);
  BOOST_TEST(o.box.unique_id(MsgIndex{0}).view() != o.box.unique_id(MsgIndex{1}).view());
  BOOST_TEST(message_data(o.box, 0, 10) == d1.substr(10));
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(sizes_and_ids_match_recorded_popa3d, *utf::precondition(shared_cases_or_ci)) {
  const auto dir = cases_dir / "cmd-stat-list-uidl";
  Opened o(read_all(dir / "mailbox"));
  const auto lines = numbered_lines(read_all(dir / "expected.out"));
  std::size_t sizes = 0, ids = 0;
  for (const auto& [n, value] : lines) {
    BOOST_REQUIRE(n >= 1 && n <= o.box.count());
    const MsgIndex i{n - 1};
    if (value.size() == 16) {
      BOOST_TEST(o.box.unique_id(i).view() == value, "UIDL " << n);
      ++ids;
    } else {
      BOOST_TEST(std::to_string(o.box.size(i)) == value, "LIST " << n);
      ++sizes;
    }
  }
  BOOST_TEST(o.box.count() == 5u);
  BOOST_TEST(sizes >= 5u);
  BOOST_TEST(ids >= 5u);
}

BOOST_AUTO_TEST_CASE(data_of_a_large_message_comes_in_bounded_chunks) {
  std::string body;
  for (std::size_t i = 0; body.size() < 700 * 1024; ++i) body += "line " + std::to_string(i) + " of a large body\n";
  const std::string data = "Subject: big\n\n" + body;
  Opened o("From a\n" + data + "\n" + m1);
  BOOST_REQUIRE(o.box.count() == 2u);
  std::size_t chunks = 0;
  BOOST_TEST(message_data(o.box, 0, 0, &chunks) == data);
  BOOST_TEST(chunks == (data.size() + Box::chunk_bytes - 1) / Box::chunk_bytes);
  BOOST_TEST(message_data(o.box, 0, 300000) == data.substr(300000));
  std::error_code ec;
  BOOST_TEST(o.box.data(MsgIndex{0}, data.size(), ec).empty());
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(commit_without_deletions_touches_nothing) {
  Opened o(three);
  struct stat before {};
  BOOST_REQUIRE(stat(o.path.c_str(), &before) == 0);
  o.dele.mark(MsgIndex{1});
  BOOST_TEST(o.dele.marked(MsgIndex{1}));
  o.dele.clear();
  BOOST_TEST(!o.dele.marked(MsgIndex{1}));
  std::error_code ec;
  o.box.commit(o.dele, ec);
  BOOST_TEST(!ec);
  struct stat after {};
  BOOST_REQUIRE(stat(o.path.c_str(), &after) == 0);
  BOOST_TEST(read_all(o.path) == three);
  BOOST_TEST(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  BOOST_TEST(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  BOOST_TEST(after.st_ctim.tv_sec == before.st_ctim.tv_sec);
  BOOST_TEST(after.st_ctim.tv_nsec == before.st_ctim.tv_nsec);
}

BOOST_AUTO_TEST_CASE(commit_moves_kept_raw_extents_in_place) {
  struct Case {
    std::vector<std::uint32_t> dele;
    std::string expected;
  };
  const std::vector<Case> cases{
      {{0}, m2 + m3}, {{1}, m1 + m3}, {{2}, m1 + m2}, {{0, 2}, m2}, {{0, 1, 2}, ""}, {{1, 2}, m1},
  };
  for (const auto& c : cases) {
    Opened o(three);
    struct stat before {};
    BOOST_REQUIRE(stat(o.path.c_str(), &before) == 0);
    for (auto i : c.dele) o.dele.mark(MsgIndex{i});
    std::error_code ec;
    o.box.commit(o.dele, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(read_all(o.path) == c.expected, "deleting " << c.dele.size() << " from " << c.dele.front());
    struct stat after {};
    BOOST_REQUIRE(stat(o.path.c_str(), &after) == 0);
    BOOST_TEST(after.st_ino == before.st_ino);  // the same file, never recreated
    BOOST_TEST(after.st_mode == before.st_mode);
    BOOST_TEST(after.st_uid == before.st_uid);
    BOOST_TEST(after.st_gid == before.st_gid);
    o.box.verify(ec);  // the table no longer describes the file
    BOOST_TEST(ec == pop3::errc::mailbox_changed);
  }
}

BOOST_AUTO_TEST_CASE(commit_matches_recorded_popa3d, *utf::precondition(shared_cases_or_ci)) {
  struct Case {
    const char* name;
    std::vector<std::uint32_t> dele;  // 0-based: the cases' DELE numbers minus one
  };
  for (const Case& c : {Case{"update-dele-middle", {1, 3}}, Case{"cmd-quit-with-deletions", {0, 2}}}) {
    const auto dir = cases_dir / c.name;
    Opened o(read_all(dir / "mailbox"));
    for (auto i : c.dele) o.dele.mark(MsgIndex{i});
    std::error_code ec;
    o.box.commit(o.dele, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(read_all(o.path) == read_all(dir / "expected.mailbox"), c.name);
  }
}

BOOST_AUTO_TEST_CASE(mail_appended_during_the_session_is_kept, *utf::precondition(shared_cases_or_ci)) {
  // hook-append-then-dele: append after PASS, then DELE 1, QUIT.
  const auto dir = cases_dir / "hook-append-then-dele";
  Opened o(read_all(dir / "mailbox"));
  const auto count = o.box.count();
  locked_write(o.path, read_all(dir / "hook1.mbox"), Write::append);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(!ec);
  BOOST_TEST(o.box.count() == count);
  o.dele.mark(MsgIndex{0});
  o.box.commit(o.dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == read_all(dir / "expected.mailbox"));
}

BOOST_AUTO_TEST_CASE(append_under_lock_is_harmless_and_survives_commit) {
  Opened o(m1 + m2);
  locked_write(o.path, m3, Write::append);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(!ec);
  BOOST_TEST(o.box.count() == 2u);  // new mail stays invisible
  o.box.verify(ec);                 // the new mtime was recorded
  BOOST_TEST(!ec);
  o.dele.mark(MsgIndex{0});
  o.box.commit(o.dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == m2 + m3);
}

BOOST_AUTO_TEST_CASE(append_after_the_last_check_is_kept_by_commit) {
  Opened o(m1 + m2);
  o.dele.mark(MsgIndex{1});
  locked_write(o.path, m3, Write::append);
  std::error_code ec;
  o.box.commit(o.dele, ec);  // the check runs under the exclusive lock
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == m1 + m3);
}

BOOST_AUTO_TEST_CASE(conflicting_rewrite_is_detected_and_commit_leaves_the_file) {
  std::string other = three;
  other.replace(other.find("<1@"), 3, "<9@");  // same length, different UIDL digest
  const std::string shorter = m1 + m2;
  std::string moved = three;
  moved.replace(moved.find("first body"), 10, "first body longer");
  for (const std::string& rewritten : {other, shorter, moved}) {
    Opened o(three);
    o.dele.mark(MsgIndex{0});
    locked_write(o.path, rewritten, Write::rewrite);
    std::error_code ec;
    o.box.verify(ec);
    BOOST_TEST(ec == pop3::errc::mailbox_changed);
    o.box.commit(o.dele, ec);
    BOOST_TEST(ec == pop3::errc::mailbox_changed);
    BOOST_TEST(read_all(o.path) == rewritten);
  }
}

BOOST_AUTO_TEST_CASE(harmless_rewrite_is_accepted_and_new_bytes_are_served) {
  std::string edited = three;
  edited.replace(edited.find("first body"), 10, "FIRST BODY");  // same sizes, same digests
  Opened o(three);
  locked_write(o.path, edited, Write::rewrite);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(!ec);
  BOOST_TEST(message_data(o.box, 0).find("FIRST BODY") != std::string::npos);
  o.dele.mark(MsgIndex{1});
  o.box.commit(o.dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == edited.substr(0, m1.size()) + m3);
}

BOOST_AUTO_TEST_CASE(unchanged_mtime_means_no_reparse) {
  // popa3d's documented blind spot: a same-second change is not looked for.
  std::string other = three;
  other.replace(other.find("<1@"), 3, "<9@");
  Opened o(three);
  locked_write(o.path, other, Write::rewrite, login_time);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(!ec);
}

// A program that ignores locks (truncate(2) here) cuts the file between login and RETR.
BOOST_AUTO_TEST_CASE(truncation_before_data_ends_with_mailbox_changed) {
  Opened o(three);
  BOOST_REQUIRE(truncate(o.path.c_str(), 10) == 0);
  std::error_code ec;
  BOOST_TEST(o.box.data(MsgIndex{1}, 0, ec).empty());
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  o.box.verify(ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  o.dele.mark(MsgIndex{0});
  o.box.commit(o.dele, ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  BOOST_TEST(fs::file_size(o.path) == 10u);
}

// Spec 12: "A file shortened while a RETR or TOP is sending ends the transfer early".
// data() reads a window of mbox_block bytes ahead; the cut shows at the first read past it.
BOOST_AUTO_TEST_CASE(truncation_inside_a_message_keeps_the_chunks_read_before) {
  std::string body;
  while (body.size() < 3 * 1024 * 1024) body += "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
  const std::string data = "Subject: big\n\n" + body;
  const std::string from_line = "From a\n";
  Opened o(from_line + data);
  std::error_code ec;
  const std::size_t window = pop3::detail::mbox_block;
  const std::size_t window_chunks = window / Box::chunk_bytes;
  for (std::size_t k = 0; k < window_chunks; ++k) {
    const auto chunk = o.box.data(MsgIndex{0}, k * Box::chunk_bytes, ec);
    BOOST_REQUIRE(!ec);
    BOOST_TEST(std::string_view(chunk.data(), chunk.size()) ==
               std::string_view(data).substr(k * Box::chunk_bytes, Box::chunk_bytes));
  }
  // Cut just after the first window.
  BOOST_REQUIRE(truncate(o.path.c_str(), static_cast<off_t>(from_line.size() + window + 1000)) == 0);
  BOOST_TEST(o.box.data(MsgIndex{0}, window_chunks * Box::chunk_bytes, ec).empty());
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  BOOST_TEST(o.box.data(MsgIndex{0}, 0, ec).empty());  // the session is over
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  o.box.verify(ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
}

// The short read is remembered: a file grown back to its old length with its old mtime
// (the mtime test alone would pass it) is still treated as changed, and UPDATE leaves it.
BOOST_AUTO_TEST_CASE(a_short_read_is_remembered_even_if_the_file_grows_back) {
  Opened o(three);
  BOOST_REQUIRE(truncate(o.path.c_str(), static_cast<off_t>(m1.size())) == 0);
  std::error_code ec;
  BOOST_TEST(o.box.data(MsgIndex{2}, 0, ec).empty());
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  BOOST_REQUIRE(truncate(o.path.c_str(), static_cast<off_t>(three.size())) == 0);
  set_mtime(o.path, login_time);
  o.box.verify(ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  o.dele.mark(MsgIndex{0});
  o.box.commit(o.dele, ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  BOOST_TEST(read_all(o.path) == m1 + std::string(three.size() - m1.size(), '\0'));
}

namespace {

// A system call of commit() on the mailbox file, as a tracer sees it at its entry.
enum class FileCall { read, write, size_check, truncate };

std::optional<FileCall> file_call(const __ptrace_syscall_info& info) {
  const auto nr = info.entry.nr;
  if (nr == SYS_pread64) return FileCall::read;
  if (nr == SYS_pwrite64) return FileCall::write;
  if (nr == SYS_ftruncate) return FileCall::truncate;
  // fstat(2) is fstat, or newfstatat or statx on the descriptor (AT_EMPTY_PATH), by libc
  // and architecture; lstat(2) of the path is neither.
#ifdef SYS_fstat
  if (nr == SYS_fstat) return FileCall::size_check;
#endif
#ifdef SYS_newfstatat
  if (nr == SYS_newfstatat && (info.entry.args[3] & AT_EMPTY_PATH) != 0) return FileCall::size_check;
#endif
#ifdef SYS_statx
  if (nr == SYS_statx && (info.entry.args[2] & AT_EMPTY_PATH) != 0) return FileCall::size_check;
#endif
  return std::nullopt;
}

struct TracedCommit {
  std::error_code ec;           // what commit() reported
  std::vector<FileCall> calls;  // its calls on the file, in order
};

// ptrace(2) takes its address and data arguments as pointers, whatever they hold.
void* as_ptrace_arg(std::uintptr_t value) { return reinterpret_cast<void*>(value); }

// Kills and reaps the traced child if a check fails before it has exited.
struct Child {
  pid_t pid;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Runs box.commit() in a child process that ptrace stops at the entry of each system call,
// and calls at(call) at each call on the file while the child waits: a program that ignores
// locks changing the file at exactly that point, every time.
TracedCommit traced_commit(Box& box, const pop3::DeletionSet& dele, const std::function<void(FileCall)>& at) {
  Child child{fork()};
  BOOST_REQUIRE(child.pid >= 0);
  if (child.pid == 0) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(10);
    raise(SIGSTOP);
    std::error_code ec;
    box.commit(dele, ec);
    _exit(!ec ? 0 : ec == pop3::errc::mailbox_changed ? 1 : ec == pop3::errc::mailbox_io ? 2 : 3);
  }
  int status = 0;
  BOOST_REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  BOOST_REQUIRE_MESSAGE(WIFSTOPPED(status), "the child could not be traced");
  const auto options = as_ptrace_arg(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
  BOOST_REQUIRE(ptrace(PTRACE_SETOPTIONS, child.pid, nullptr, options) == 0);
  TracedCommit result;
  int signal = 0;  // a signal the child stopped on, passed on when it resumes
  for (int stops = 0; stops < 100000; ++stops) {
    BOOST_REQUIRE(ptrace(PTRACE_SYSCALL, child.pid, nullptr, as_ptrace_arg(signal)) == 0);
    signal = 0;
    BOOST_REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
    if (WIFEXITED(status)) {
      child.pid = 0;
      const int code = WEXITSTATUS(status);
      BOOST_REQUIRE(code <= 2);
      if (code == 1) result.ec = pop3::errc::mailbox_changed;
      if (code == 2) result.ec = pop3::errc::mailbox_io;
      return result;
    }
    BOOST_REQUIRE(WIFSTOPPED(status));
    if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
      signal = WSTOPSIG(status);
      continue;
    }
    __ptrace_syscall_info info{};
    BOOST_REQUIRE(ptrace(PTRACE_GET_SYSCALL_INFO, child.pid, as_ptrace_arg(sizeof info), &info) > 0);
    if (info.op != PTRACE_SYSCALL_INFO_ENTRY) continue;
    if (const auto call = file_call(info)) {
      at(*call);
      result.calls.push_back(*call);
    }
  }
  BOOST_FAIL("commit() did not end");
  return result;
}

// Mail appended by a program that takes no lock, through its own O_APPEND descriptor.
void append_ignoring_locks(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  close(fd);
}

std::string arrival(unsigned n) {
  return "From new@example.org Sun Sep  9 01:46:43 2001\nMessage-ID: <new" + std::to_string(n) +
         "@example.org>\n\nnew mail\n\n";
}

}  // namespace

// popa3d copies what follows the login size until read() finds the end of the file, so mail
// appended without the lock while UPDATE moves the kept mail is kept; it must be here too.
BOOST_AUTO_TEST_CASE(mail_appended_without_the_lock_while_commit_moves_is_kept) {
  Opened o(three);
  o.dele.mark(MsgIndex{0});
  unsigned appended = 0;
  const auto r = traced_commit(o.box, o.dele, [&](FileCall call) {
    if (call == FileCall::write && appended == 0) append_ignoring_locks(o.path, arrival(++appended));
  });
  BOOST_TEST(appended == 1u);
  BOOST_TEST(!r.ec);
  BOOST_TEST(read_all(o.path) == m2 + m3 + arrival(1));
}

// Each arrival is moved after the kept mail, and the file is checked again after each move,
// since more mail may arrive during that move. The size check is the last call before the
// truncate, and mail appended at its entry is still seen.
BOOST_AUTO_TEST_CASE(mail_appended_while_earlier_arrivals_move_is_kept) {
  for (const FileCall when : {FileCall::write, FileCall::size_check}) {
    Opened o(three);
    o.dele.mark(MsgIndex{1});
    unsigned appended = 0;
    bool moved = false;
    const auto r = traced_commit(o.box, o.dele, [&](FileCall call) {
      moved = moved || call == FileCall::write;
      if (call == when && moved && appended < 5) append_ignoring_locks(o.path, arrival(++appended));
    });
    BOOST_TEST_CONTEXT("appending at each " << (when == FileCall::write ? "write" : "size check")) {
      BOOST_TEST(appended == 5u);
      BOOST_TEST(!r.ec);
      std::string expected = m1 + m3;
      for (unsigned n = 1; n <= appended; ++n) expected += arrival(n);
      BOOST_TEST(read_all(o.path) == expected);
      BOOST_REQUIRE(r.calls.size() >= 2u);
      BOOST_TEST((r.calls.back() == FileCall::truncate));
      BOOST_TEST((r.calls[r.calls.size() - 2] == FileCall::size_check));
    }
  }
}

// A file that never stops growing: the checks are bounded, and commit() then fails without
// truncating the file, so no arrival is cut off (the file keeps copies of moved mail).
BOOST_AUTO_TEST_CASE(mail_that_never_stops_arriving_fails_commit_without_losing_any) {
  Opened o(three);
  o.dele.mark(MsgIndex{0});
  unsigned appended = 0;
  const auto r = traced_commit(o.box, o.dele, [&](FileCall call) {
    BOOST_REQUIRE(appended < 1000);
    if (call == FileCall::write) append_ignoring_locks(o.path, arrival(++appended));
  });
  BOOST_TEST(r.ec == pop3::errc::mailbox_io);
  BOOST_TEST((std::find(r.calls.begin(), r.calls.end(), FileCall::truncate) == r.calls.end()));
  const std::string file = read_all(o.path);
  for (unsigned n = 1; n <= appended; ++n)
    BOOST_TEST(file.find(arrival(n)) != std::string::npos, "arrival " << n);
}

// The window that remains, as in popa3d (DESIGN.md): mail appended after the last size
// check and before the truncate is cut off.
BOOST_AUTO_TEST_CASE(mail_appended_between_the_last_check_and_the_truncate_is_cut_off) {
  Opened o(three);
  o.dele.mark(MsgIndex{2});
  const auto r = traced_commit(o.box, o.dele, [&](FileCall call) {
    if (call == FileCall::truncate) append_ignoring_locks(o.path, arrival(1));
  });
  BOOST_TEST(!r.ec);
  BOOST_TEST(read_all(o.path) == m1 + m2);
}

// Spec 12: popa3d does not notice a file renamed over the mailbox; it compacts the old,
// unlinked file, so the client gets "+OK" and its deleted mail is back. The path must still
// name the file opened, or commit() reports a conflict and changes no file.
BOOST_AUTO_TEST_CASE(a_mailbox_renamed_over_is_a_conflict_at_commit) {
  Opened o(three);
  const int opened = ::open(o.path.c_str(), O_RDONLY);  // the old file, once it has no name
  BOOST_REQUIRE(opened >= 0);
  o.dele.mark(MsgIndex{0});
  const auto replacement = o.dir.file("alice.new");
  write_mailbox(replacement, three);  // the same bytes and mtime: only the inode differs
  BOOST_REQUIRE(rename(replacement.c_str(), o.path.c_str()) == 0);
  std::error_code ec;
  o.box.commit(o.dele, ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  BOOST_TEST(read_all(o.path) == three);
  std::string old_bytes(three.size() + 1, '\0');
  BOOST_TEST(pread(opened, old_bytes.data(), old_bytes.size(), 0) == static_cast<ssize_t>(three.size()));
  old_bytes.pop_back();
  BOOST_TEST(old_bytes == three);
  close(opened);
}

BOOST_AUTO_TEST_CASE(a_mailbox_path_gone_or_made_a_symlink_is_a_conflict_at_commit) {
  for (const bool symlinked : {false, true}) {
    BOOST_TEST_CONTEXT((symlinked ? "a symlink to the old file" : "no file") << " at the path") {
      Opened o(three);
      o.dele.mark(MsgIndex{1});
      const auto moved = o.dir.file("moved");
      BOOST_REQUIRE(rename(o.path.c_str(), moved.c_str()) == 0);
      if (symlinked) BOOST_REQUIRE(symlink(moved.c_str(), o.path.c_str()) == 0);
      std::error_code ec;
      o.box.commit(o.dele, ec);
      BOOST_TEST(ec == pop3::errc::mailbox_changed);
      BOOST_TEST(read_all(moved) == three);
      BOOST_TEST(fs::is_symlink(o.path) == symlinked);
      BOOST_TEST(fs::exists(fs::symlink_status(o.path)) == symlinked);
    }
  }
}

// The same file under its name again is the mailbox: renamed away and back, it is compacted.
BOOST_AUTO_TEST_CASE(a_mailbox_renamed_away_and_back_is_compacted) {
  Opened o(three);
  o.dele.mark(MsgIndex{1});
  const auto moved = o.dir.file("moved");
  BOOST_REQUIRE(rename(o.path.c_str(), moved.c_str()) == 0);
  BOOST_REQUIRE(rename(moved.c_str(), o.path.c_str()) == 0);
  std::error_code ec;
  o.box.commit(o.dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == m1 + m3);
}

namespace {

// alice / secret, whose maildrop is `path`.
struct PathAuth {
  std::string path;
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view password,
                                            std::error_code& ec) {
    if (user == "alice" && password == "secret") return pop3::Account{"alice", path, 1000, 1000};  // not root's
    ec = pop3::errc::auth_failed;
    return std::nullopt;
  }
};

}  // namespace

// The engine turns the conflict into popa3d's: no reply to QUIT, "Another MUA active".
BOOST_AUTO_TEST_CASE(a_session_whose_mailbox_was_renamed_over_ends_without_a_reply_to_quit) {
  TempDir dir;
  const auto path = dir.file("alice");
  write_mailbox(path, three);
  const auto replacement = dir.file("alice.new");
  PiecesTransport transport({"USER alice\r\nPASS secret\r\nDELE 1\r\n", "QUIT\r\n"}, [&] {
    write_mailbox(replacement, m2 + m3);
    BOOST_REQUIRE(rename(replacement.c_str(), path.c_str()) == 0);
  });
  const auto output = transport.output();
  std::vector<std::string> logged;
  pop3::Pop3Server<PiecesTransport, PathAuth, Box> server{
      std::move(transport), PathAuth{path}, Box{}, {},
      [&](pop3::LogPriority, std::string_view line) { logged.emplace_back(line); }};
  BOOST_TEST(server.serve() == pop3::errc::mailbox_changed);
  BOOST_TEST(*output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");  // up to DELE's, nothing for QUIT
  BOOST_TEST((std::find(logged.begin(), logged.end(), "Another MUA active, giving up") != logged.end()));
  BOOST_TEST(read_all(path) == m2 + m3);
}

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

// Appends body lines of 'x' so that `file` ends exactly at `target` with an LF. Never
// writes a blank line, and needs at least 2 bytes of room.
void pad_to(std::string& file, std::size_t target) {
  BOOST_REQUIRE(target >= file.size() + 2);
  while (target - file.size() > 200) file += std::string(99, 'x') + "\n";
  if (target - file.size() > 100) file += std::string(target - file.size() - 51, 'x') + "\n";
  file += std::string(target - file.size() - 1, 'x') + "\n";
  BOOST_REQUIRE(file.size() == target);
}

// A mailbox of several MiB whose interesting byte sequences straddle MiB boundaries, which
// are boundaries of the scan windows (multiples of mbox_block), with one message of over 2.5 MiB, ending `tail` bytes past 6 MiB.
std::string straddling_mailbox(std::size_t tail) {
  std::string f = "From a Sun Sep  9 01:46:40 2001\nMessage-ID: <a@x>\n\n";
  // 1 MiB splits the separator "\n\nFrom " after "\n\nFr".
  pad_to(f, 1 * mib - 3);
  f += "\nFrom b Sun Sep  9 01:46:41 2001\nDate: b\nX-Filler: ";
  // 2 MiB splits a counted header line, "Message-ID:", after "Messa".
  f += std::string(2 * mib - 5 - f.size() - 1, 'y') + "\n";
  f += "Message-ID: <b@x>\nDelivered-To: b\n\nbody of b\n";
  // 3 MiB falls between the two LFs of a separator.
  pad_to(f, 3 * mib);
  f += "\nFrom c Sun Sep  9 01:46:42 2001\nReceived: c\nMessage-ID: <c@x>\n\n";
  // Message c runs past 5.5 MiB. At 4 MiB a "From " line without a blank line before it
  // (not a separator); at 5 MiB a blank line then "From:" (not a separator either).
  pad_to(f, 4 * mib - 3);
  f += "From not a separator\n";
  pad_to(f, 5 * mib - 5);
  f += "\nFrom:\n";
  pad_to(f, 5 * mib + 6 * mib / 10);
  f += "\nFrom d Sun Sep  9 01:46:43 2001\nMessage-ID: <d@x>\nSubject: d\n\n";
  pad_to(f, 6 * mib);
  f += std::string(tail, 'z');
  BOOST_REQUIRE(f.compare(1 * mib - 4, 7, "\n\nFrom ") == 0);
  BOOST_REQUIRE(f.compare(2 * mib - 6, 12, "\nMessage-ID:") == 0);
  BOOST_REQUIRE(f.compare(3 * mib - 1, 7, "\n\nFrom ") == 0);
  BOOST_REQUIRE(f.compare(4 * mib - 4, 6, "\nFrom ") == 0);
  BOOST_REQUIRE(f.compare(5 * mib - 6, 7, "\n\nFrom:") == 0);
  return f;
}

}  // namespace

BOOST_AUTO_TEST_CASE(mailboxes_larger_than_the_scan_window_load_like_one_scan) {
  // Ending at a window boundary, in a final blank line, and in a line without LF.
  for (const std::size_t tail : {std::size_t{0}, std::size_t{1}, std::size_t{70}}) {
    std::string file = straddling_mailbox(tail);
    if (tail == 1) file.back() = '\n';  // a final blank line, dropped from the data
    std::vector<pop3::MboxMessage<pop3::Md5>> table;
    BOOST_REQUIRE(pop3::scan_mbox<pop3::Md5>(file, table, 100) == pop3::ScanStatus::ok);
    BOOST_REQUIRE(table.size() == 4u);
    BOOST_REQUIRE(table[2].data_length > 2 * mib + mib / 2);

    Opened o(file);
    BOOST_REQUIRE(o.box.count() == table.size());
    for (std::uint32_t i = 0; i < table.size(); ++i) {
      const auto& m = table[i];
      BOOST_TEST(o.box.size(MsgIndex{i}) == m.size, "message " << i << ", tail " << tail);
      BOOST_TEST(o.box.unique_id(MsgIndex{i}).view() ==
                     pop3::popa3d_unique_id(std::span<const std::uint8_t>(m.digest)).view(),
                 "message " << i << ", tail " << tail);
      const std::string expected = file.substr(m.data_offset, m.data_length);
      BOOST_TEST(message_data(o.box, i) == expected, "message " << i << ", tail " << tail);
      BOOST_TEST(message_data(o.box, i, 300001) == expected.substr(std::min<std::size_t>(300001, expected.size())));
    }

    // verify() parses again through the same windows: unchanged bytes, a new mtime.
    set_mtime(o.path, later_time);
    std::error_code ec;
    o.box.verify(ec);
    BOOST_TEST(!ec);
    // Deleting b and d moves a's and c's raw extents, which shows the From offsets.
    o.dele.mark(MsgIndex{1});
    o.dele.mark(MsgIndex{3});
    o.box.commit(o.dele, ec);
    BOOST_TEST(!ec);
    BOOST_TEST((read_all(o.path) == file.substr(0, table[1].from_offset) +
                                       file.substr(table[2].from_offset, table[3].from_offset - table[2].from_offset)));
  }
}

BOOST_AUTO_TEST_CASE(a_conflict_in_a_later_scan_window_is_found) {
  const std::string file = straddling_mailbox(0);
  std::string edited = file;
  edited.replace(edited.find("<d@x>"), 5, "<e@x>");  // past 5 MiB: another UIDL digest
  Opened o(file);
  locked_write(o.path, edited, Write::rewrite);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
}

BOOST_AUTO_TEST_CASE(limits_refuse_large_mailboxes) {
  TempDir dir;
  const auto path = dir.file("alice");
  write_mailbox(path, three);
  pop3::Limits limits;
  limits.max_messages = 2;
  BOOST_TEST(open_error(path, limits) == pop3::errc::mailbox_refused);
  limits.max_messages = 3;
  BOOST_TEST(open_error(path, limits) == std::error_code{});
  limits.max_mailbox_bytes = three.size() - 1;
  BOOST_TEST(open_error(path, limits) == pop3::errc::mailbox_refused);
  limits.max_mailbox_bytes = three.size();
  BOOST_TEST(open_error(path, limits) == std::error_code{});
}

BOOST_AUTO_TEST_CASE(growth_past_the_limit_fails_without_touching_the_file) {
  pop3::Limits limits;
  limits.max_mailbox_bytes = three.size() + 10;
  Opened o(three, limits);
  locked_write(o.path, m1, Write::append);
  std::error_code ec;
  o.box.verify(ec);
  BOOST_TEST(ec == pop3::errc::mailbox_io);
  o.dele.mark(MsgIndex{0});
  o.box.commit(o.dele, ec);
  BOOST_TEST(ec == pop3::errc::mailbox_io);
  BOOST_TEST(read_all(o.path) == three + m1);
}

BOOST_AUTO_TEST_CASE(move_only_and_moves_keep_the_table) {
  static_assert(!std::is_copy_constructible_v<Box> && std::is_nothrow_move_constructible_v<Box>);
  Opened o(three);
  Box moved(std::move(o.box));
  BOOST_TEST(moved.count() == 3u);
  BOOST_TEST(o.box.count() == 0u);
  Box assigned;
  assigned = std::move(moved);
  BOOST_TEST(assigned.count() == 3u);
  BOOST_TEST(message_data(assigned, 2) == m3.substr(m3.find('\n') + 1));
  pop3::DeletionSet dele{assigned.count()};
  dele.mark(MsgIndex{2});
  std::error_code ec;
  assigned.commit(dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == m1 + m2);
}

BOOST_AUTO_TEST_CASE(reopen_replaces_the_previous_state) {
  Opened o(three);
  o.dele.mark(MsgIndex{0});
  TempDir other;
  std::error_code ec;
  o.box.open(other.file("absent"), ec);
  BOOST_TEST(!ec);
  BOOST_TEST(o.box.count() == 0u);
  o.box.commit(pop3::DeletionSet{0}, ec);  // the marks were the engine's, for the file before
  BOOST_TEST(!ec);
  BOOST_TEST(read_all(o.path) == three);
}

namespace {

// Messages of varied shapes (header-only, trailing blank lines, dot lines, counted and
// uncounted headers) until the file reaches `bytes`.
std::string varied_messages(std::size_t bytes, unsigned seed) {
  std::mt19937 rng{seed};
  std::uniform_int_distribution<int> pick(0, 9), lines(0, 400);
  std::string file;
  for (unsigned n = 0; file.size() < bytes; ++n) {
    file += "From sender" + std::to_string(n) + "@example.org Sun Sep  9 01:46:40 2001\n";
    file += "Received: from host" + std::to_string(n) + " by mx\n\tfor <alice@example.org>\n";
    file += "Message-ID: <" + std::to_string(n) + "@example.org>\nSubject: message " +
            std::to_string(n) + "\n";
    const int shape = pick(rng);
    if (shape == 0) {  // header-only: no blank line before the next From line
      file += "\n";
      continue;
    }
    file += "\n";
    for (int i = lines(rng); i > 0; --i)
      file += pick(rng) == 0 ? ".\n" : pick(rng) == 1 ? "\n" : "body line " + std::to_string(i) + " of the text\n";
    file += shape == 1 ? "\n\n\n" : "\n";
  }
  return file;
}

// What one pass over the whole file gives, against what the mailbox loaded.
void check_loads_like_one_scan(const std::string& file, pop3::Limits limits = {}) {
  std::vector<pop3::MboxMessage<pop3::Md5>> table;
  const auto status = pop3::scan_mbox<pop3::Md5>(file, table, limits.max_messages);
  TempDir dir;
  const std::string path = dir.file("alice");
  write_mailbox(path, file);
  Box box(limits);
  std::error_code ec;
  box.open(path, ec);
  if (status != pop3::ScanStatus::ok) {
    BOOST_TEST(ec == pop3::errc::mailbox_refused);
    return;
  }
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(box.count() == table.size());
  for (std::uint32_t i = 0; i < table.size(); ++i) {
    BOOST_TEST_CONTEXT("message " << i) {
      BOOST_TEST(box.size(MsgIndex{i}) == table[i].size);
      BOOST_TEST(box.unique_id(MsgIndex{i}).view() ==
                 pop3::popa3d_unique_id(std::span<const std::uint8_t>(table[i].digest)).view());
    }
  }
  // The raw extents: deleting every other message must leave exactly the others.
  pop3::DeletionSet dele{box.count()};
  std::string kept;
  for (std::uint32_t i = 0; i < table.size(); ++i) {
    const auto end = i + 1 < table.size() ? table[i + 1].from_offset : file.size();
    if (i % 2 == 1) {
      dele.mark(MsgIndex{i});
    } else {
      kept += file.substr(table[i].from_offset, end - table[i].from_offset);
    }
  }
  if (table.size() > 1) {
    box.commit(dele, ec);
    BOOST_TEST(!ec);
    BOOST_TEST((read_all(path) == kept));
  }
}

}  // namespace

// Files of 32 MiB and more are scanned by two threads from a separator past the middle.
BOOST_AUTO_TEST_CASE(large_mailboxes_scanned_in_two_parts_load_like_one_scan) {
  const std::size_t big = std::size_t{40} << 20;
  const std::string messages = varied_messages(big, 7);
  check_loads_like_one_scan(messages);

  // A header-only message, a blank-line run and a separator right at the middle.
  std::string middle = varied_messages(big / 2 - 3, 8);
  middle += "\n\n\nFrom x Sun Sep  9 01:46:40 2001\nMessage-ID: <m>\n\nFrom y Sun Sep  9 01:46:40 2001\n"
            "Subject: after\n\nbody\n";
  middle += varied_messages(big / 2, 9);
  check_loads_like_one_scan(middle);

  // No separator within reach of the middle: one huge message, scanned in one pass.
  std::string huge = varied_messages(big / 4, 10) + "From big Sun Sep  9 01:46:40 2001\nSubject: big\n\n";
  while (huge.size() < big) huge += "a long body without blank lines, line after line\n";
  huge += varied_messages(std::size_t{1} << 20, 11);
  check_loads_like_one_scan(huge);

  // Refusals found in the second part refuse the whole mailbox.
  std::string refused = messages;
  refused.insert(refused.find("\n\nFrom ", big * 3 / 4) + 2, "From twice Sun Sep  9 01:46:40 2001\n");
  check_loads_like_one_scan(refused);
  // Each part within the limit, the two together over it.
  std::vector<pop3::MboxMessage<pop3::Md5>> table;
  BOOST_REQUIRE(pop3::scan_mbox<pop3::Md5>(messages, table, 1u << 30) == pop3::ScanStatus::ok);
  pop3::Limits few;
  few.max_messages = static_cast<std::uint32_t>(table.size() - 1);
  check_loads_like_one_scan(messages, few);
}

namespace {

// An address-space limit is how an admin caps a server's memory; AddressSanitizer reserves
// terabytes of shadow memory up front and cannot run under one.
#ifdef __SANITIZE_ADDRESS__
constexpr bool address_sanitizer = true;
#else
constexpr bool address_sanitizer = false;
#endif

// This process's address space in bytes, from /proc/self/status (VmSize, in KiB).
std::uint64_t address_space_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
}

// Sets this process's address-space limit to `headroom` bytes more than it has now (the
// hard limit stays as it was).
bool limit_memory_to(std::uint64_t headroom) {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_AS, &limit) != 0) return false;
  limit.rlim_cur = address_space_bytes() + headroom;
  return setrlimit(RLIMIT_AS, &limit) == 0;
}

// Runs `check` in a child process under limit_memory_to(headroom). The result: 0 when every
// check held, 1 to 9 for the check that failed, 99 if the child threw or could not set the
// limit, 100 + the signal number if a signal killed it.
int with_memory_headroom(std::uint64_t headroom, const std::function<int()>& check) {
  const pid_t pid = fork();
  if (pid == 0) {
    int status = 99;
    try {
      if (limit_memory_to(headroom)) status = check();
    } catch (...) {
      status = 99;
    }
    _exit(status);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

// Lifts the child's limit again.
void lift_memory_limit() {
  struct rlimit limit {};
  getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_AS, &limit);
}

// `count` messages of 96 bytes each.
std::string small_messages(std::size_t count) {
  const std::string message = "From a Sun Sep  9 01:46:40 2001\n\n" + std::string(61, 'x') + "\n\n";
  std::string bytes;
  bytes.reserve(count * message.size());
  for (std::size_t i = 0; i < count; ++i) bytes += message;
  return bytes;
}

// In the child: open() on a mailbox whose table does not fit fails cleanly, and the file
// is not changed. With `reload`, the same mailbox object then loads it in full once the
// memory is there again.
int table_out_of_memory_is_an_error(const std::string& path, std::size_t messages, const std::string& bytes,
                                    bool reload) {
  Box box;
  std::error_code ec;
  box.open(path, ec);
  if (ec != pop3::errc::mailbox_io) return 1;
  if (box.count() != 0) return 2;
  lift_memory_limit();
  if (read_all(path) != bytes) return 3;
  if (reload) {
    box.open(path, ec);
    if (ec || box.count() != messages) return 4;
  }
  return 0;
}

}  // namespace

// One message table (48 bytes per message) bigger than the memory the server may use: the
// mailbox is not loaded (the server answers -ERR), no thread is left running and nothing
// is lost. Mailboxes below 32 MiB are scanned by one thread, larger ones by two.
BOOST_AUTO_TEST_CASE(a_table_beyond_the_memory_limit_fails_the_open,
                     *utf::enable_if<!address_sanitizer>()) {
  TempDir dir;
  for (const std::size_t messages : {std::size_t{300000}, std::size_t{360000}}) {
    const std::string path = dir.file("alice");
    const std::string bytes = small_messages(messages);
    write_mailbox(path, bytes);
    // Limits at which the table fails at different sizes, and the second thread's stack
    // and buffer sometimes fit and sometimes do not.
    for (const std::uint64_t headroom_mib : {4, 16, 24}) {
      BOOST_TEST_CONTEXT(messages << " messages, " << headroom_mib << " MiB of headroom") {
        BOOST_TEST(with_memory_headroom(headroom_mib << 20, [&] {
                     return table_out_of_memory_is_an_error(path, messages, bytes, headroom_mib == 24);
                   }) == 0);
      }
    }
  }
}

// At RETR (verify) and QUIT (commit), a changed mtime makes the mailbox parse the file
// again into a second table. With no memory for it the session ends on errc::mailbox_io,
// and QUIT leaves the file untouched.
BOOST_AUTO_TEST_CASE(no_memory_to_check_the_file_again_is_an_error, *utf::enable_if<!address_sanitizer>()) {
  TempDir dir;
  const std::string path = dir.file("alice");
  const std::size_t messages = 200000;
  const std::string bytes = small_messages(messages);
  write_mailbox(path, bytes);
  BOOST_TEST(with_memory_headroom(std::uint64_t{512} << 20, [&] {
               Box box;
               std::error_code ec;
               box.open(path, ec);
               if (ec || box.count() != messages) return 1;
               // The table stays; the limit now leaves no room for a second one.
               if (!limit_memory_to(std::uint64_t{4} << 20)) return 2;
               set_mtime(path, later_time);
               box.verify(ec);
               if (ec != pop3::errc::mailbox_io) return 3;
               pop3::DeletionSet dele{box.count()};
               dele.mark(MsgIndex{0});
               box.commit(dele, ec);
               if (ec != pop3::errc::mailbox_io) return 4;
               lift_memory_limit();
               if (read_all(path) != bytes) return 5;
               return 0;
             }) == 0);
}

namespace {

// Writes what the server sends; the first write with more than `after` bytes in all calls
// `cut` once.
class CuttingTransport {
 public:
  CuttingTransport(std::string input, std::size_t after, std::function<void()> cut)
      : input_(std::move(input)), after_(after), cut_(std::move(cut)) {}
  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    if (offset_ == input_.size()) {
      ec = pop3::errc::eof;
      return 0;
    }
    const std::size_t n = std::min(buf.size(), input_.size() - offset_);
    std::copy_n(input_.data() + offset_, n, buf.data());
    offset_ += n;
    return n;
  }
  void write(std::span<const char> bytes, std::error_code&) {
    output_->append(bytes.data(), bytes.size());
    if (cut_ && output_->size() > after_) std::exchange(cut_, nullptr)();
  }
  [[nodiscard]] std::shared_ptr<std::string> output() const { return output_; }

 private:
  std::string input_;
  std::size_t offset_ = 0;
  std::size_t after_;
  std::function<void()> cut_;
  std::shared_ptr<std::string> output_ = std::make_shared<std::string>();
};

}  // namespace

// A program that ignores locks truncates the file in the middle of a RETR (not at a page
// boundary, so that with a mapped window part of a page reads as zeros without a fault):
// the session ends as on any conflict, with the text sent so far, no ".", no byte that is
// not the file's, and no signal.
BOOST_AUTO_TEST_CASE(truncation_during_retr_ends_the_session_cleanly) {
  TempDir dir;
  const auto path = dir.file("alice");
  std::string mailbox = "From a\nSubject: big\n\n";
  pad_to(mailbox, 6 * mib);
  write_mailbox(path, mailbox);
  const off_t cut_at = static_cast<off_t>(mib + 100);
  CuttingTransport transport("USER alice\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n", 64 << 10,
                             [&] { BOOST_REQUIRE(truncate(path.c_str(), cut_at) == 0); });
  const auto output = transport.output();
  pop3::Pop3Server<CuttingTransport, PathAuth, Box> server{std::move(transport), PathAuth{path}, Box{}, {}, {}};
  BOOST_TEST(server.serve() == pop3::errc::mailbox_changed);
  BOOST_TEST(output->size() > std::size_t{64 << 10});
  BOOST_TEST(output->size() < 2 * mib);
  BOOST_TEST(output->find('\0') == std::string::npos);
  BOOST_TEST(output->find("\r\n.\r\n") == std::string::npos);
  BOOST_TEST(fs::file_size(path) == static_cast<std::uintmax_t>(cut_at));
}

// The same during the scan at open(): a second thread truncates the file at a different
// moment of each of a few scans. Each open() either failed, or loaded the whole file before
// the cut (its last message then cannot be read), or the file as cut (3 messages, before
// the size was taken); none raised a signal.
BOOST_AUTO_TEST_CASE(truncation_during_the_scan_fails_the_open_cleanly) {
  TempDir dir;
  const auto path = dir.file("alice");
  const std::string mailbox = straddling_mailbox(1000);
  int loaded = 0;
  int failed = 0;
  for (int round = 0; round < 12; ++round) {
    write_mailbox(path, mailbox);
    Box box;
    std::error_code ec;
    std::thread cutter([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(250 * round));
      BOOST_REQUIRE(truncate(path.c_str(), static_cast<off_t>(3 * mib + 100)) == 0);
    });
    box.open(path, ec);
    cutter.join();
    if (ec) {
      BOOST_TEST((ec == pop3::errc::mailbox_io));
      BOOST_TEST(box.count() == 0u);
      ++failed;
      continue;
    }
    ++loaded;
    if (box.count() == 3u) continue;
    BOOST_TEST(box.count() == 4u);
    std::error_code data_ec;
    BOOST_TEST(box.data(MsgIndex{3}, 0, data_ec).empty());
    BOOST_TEST(data_ec == pop3::errc::mailbox_changed);
  }
  BOOST_TEST_MESSAGE("scans cut: " << failed << ", scans done before the cut: " << loaded);
}
