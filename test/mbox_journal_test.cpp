// The journaled UPDATE (pop3/mailbox/mbox_update.hpp, mbox_journal.hpp): a SIGKILL at each
// crossing of each named point of UPDATE and of recovery, crossed with no delivery, a locking
// delivery between the kill and the recovery, and an append that ignores the lock made at
// the kill; two sessions racing to recover; the parser on every cut and every flipped byte;
// and the fallback when the journal cannot be written. Oracle: after recovery the file is
// byte for byte the file before UPDATE or after it, then the appended mail in order, the
// next session's UIDLs are those of that file, the journal holds nothing to recover and the spool holds
// nothing but the mailbox.
#define BOOST_TEST_MODULE mbox_journal
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "../bench/mbox_generator.hpp"
#include "pop3/mailbox/mbox.hpp"
#include "support/case_files.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using pop3::MboxJournalPoint;
using pop3::MsgIndex;
using Box = pop3::MboxMailbox<>;

namespace {

// Message k: headers and `lines` body lines whose bytes depend on k, then the blank separator.
std::string message(unsigned k, unsigned lines) {
  std::string m = "From sender" + std::to_string(k) + "@example.org Sat Sep  8 21:46:40 2001\nMessage-ID: <m" +
                  std::to_string(k) + "@example.org>\nSubject: message " + std::to_string(k) + "\n\n";
  for (unsigned i = 0; i < lines; ++i) m += std::string(70, static_cast<char>('a' + (k * 7 + i) % 26)) + "\n";
  return m + "\n";
}

std::string arrival(unsigned n) {
  return "From new@example.org Sun Sep  9 01:46:43 2001\nMessage-ID: <new" + std::to_string(n) +
         "@example.org>\n\nnew mail " + std::string(n * 100, 'n') + "\n\n";
}

struct Mailbox {
  std::vector<std::string> messages;
  std::vector<unsigned> deleted;
  std::string before() const {
    std::string s;
    for (const auto& m : messages) s += m;
    return s;
  }
  std::string after() const {
    std::string s;
    for (unsigned k = 0; k < messages.size(); ++k)
      if (std::find(deleted.begin(), deleted.end(), k) == deleted.end()) s += messages[k];
    return s;
  }
};

// About 600 KB: several DATA records (128 KiB) and several move blocks (256 KiB).
Mailbox sample(const std::string& which) {
  Mailbox box;
  for (unsigned k = 0; k < 12; ++k) box.messages.push_back(message(k, k % 3 == 0 ? 1500 : 300 + 40 * k));
  const unsigned n = static_cast<unsigned>(box.messages.size());
  if (which == "DELE 1") box.deleted = {0};
  if (which == "every other") {
    for (unsigned k = 0; k < n; k += 2) box.deleted.push_back(k);
  }
  if (which == "all but the last 2") {
    for (unsigned k = 0; k + 2 < n; ++k) box.deleted.push_back(k);
  }
  return box;
}

// A directory in memory where there is one: a kill test needs no disk, and each fsync on one
// would cost milliseconds, hundreds of times.
fs::path scratch_root() { return fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path(); }

// The spool (the mailbox alone) and the journal beside it.
struct Files {
  fs::path dir;
  fs::path spool, mailbox, journal;
  Files() {
    std::string pattern = (scratch_root() / "pop3-journal-XXXXXX").string();
    BOOST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    spool = dir / "spool";
    mailbox = spool / "alice";
    journal = dir / "journal";
    fs::create_directory(spool);
    pop3::test::write_file(journal, "");
  }
  ~Files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  Files(const Files&) = delete;
  Files& operator=(const Files&) = delete;
  void reset(const std::string& content) const {
    pop3::test::write_file(mailbox, content);
    BOOST_REQUIRE(::truncate(journal.c_str(), 0) == 0);
  }
  pop3::MboxJournal open_journal(pop3::MboxJournalOptions options, pop3::LogSink log = {}) const {
    struct stat st {};
    BOOST_REQUIRE(::stat(mailbox.c_str(), &st) == 0);
    pop3::MboxJournal j;
    j.fd.reset(::open(journal.c_str(), O_RDWR | O_CLOEXEC));
    BOOST_REQUIRE(j.fd);
    j.device = st.st_dev;
    j.inode = st.st_ino;
    j.options = options;
    j.log = std::move(log);
    return j;
  }
};

// An old mtime before each open(): the 1-second rule never waits.
void age(const fs::path& path) {
  const struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  BOOST_REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

// The kill: at the nth crossing of `point`, in the process that set the hook. A *_write point
// writes half of the bytes first (a kill inside the pwrite); an append that ignores the lock
// may be made just before.
struct KillAt {
  MboxJournalPoint point = MboxJournalPoint::plan_built;
  unsigned nth = 0;  // 0: never
  const char* append_to = nullptr;
  std::string append;
};
KillAt g_kill;
unsigned g_seen = 0;

void append_ignoring_locks(const char* path, const std::string& bytes) {
  const int fd = ::open(path, O_WRONLY | O_APPEND);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) _exit(20);
  ::close(fd);
}

void kill_hook(MboxJournalPoint point, int fd, std::span<const char> bytes, std::uint64_t offset) {
  if (point != g_kill.point || ++g_seen != g_kill.nth) return;
  if (g_kill.append_to != nullptr) append_ignoring_locks(g_kill.append_to, g_kill.append);
  if (!bytes.empty() && ::pwrite(fd, bytes.data(), bytes.size() / 2, static_cast<off_t>(offset)) < 0) _exit(21);
  ::raise(SIGKILL);
}

// Runs `body` in a child with the kill armed; true if the kill happened, false if the child
// finished (the point is not crossed that often). The child exits 1 if body fails.
template <class Body>
bool killed_in_child(const KillAt& kill, Body body) {
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    g_kill = kill;
    g_seen = 0;
    _exit(body() ? 0 : 1);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return true;
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status " << status);
  return false;
}

pop3::MboxJournalOptions with_hook(pop3::MboxDurability durability) { return {durability, &kill_hook}; }

// One session's UPDATE: open, delete, QUIT; `arrives` is appended during the session.
bool update(const Files& f, const Mailbox& box, pop3::MboxJournalOptions options, const std::string& arrives = "") {
  Box b;
  b.use_journal(f.open_journal(options));
  std::error_code ec;
  age(f.mailbox);
  b.open(f.mailbox.string(), ec);
  if (ec || b.count() != box.messages.size()) return false;
  if (!arrives.empty()) append_ignoring_locks(f.mailbox.c_str(), arrives);
  pop3::DeletionSet dele{b.count()};
  for (unsigned k : box.deleted) dele.mark(MsgIndex{k});
  b.commit(dele, ec);
  return !ec;
}

// The next session's recovery, as open() runs it: under the exclusive lock, before the scan.
// (Called directly: open() would then hold the lock one more second, the file having just
// been written; the tests that go through open() are below.)
bool recover(const Files& f, pop3::MboxJournalOptions options) {
  pop3::MboxJournal j = f.open_journal(options);
  pop3::detail::UniqueFd fd{::open(f.mailbox.c_str(), O_RDWR | O_CLOEXEC)};
  struct stat st {};
  if (!fd || !pop3::detail::mbox_lock(fd.get(), F_WRLCK) || ::fstat(fd.get(), &st) != 0) return false;
  std::vector<char> block(pop3::detail::mbox_block);
  std::string why;
  const std::string path = f.mailbox.string();
  const auto r = pop3::detail::mbox_recover(fd.get(), {j.fd.get(), st.st_dev, st.st_ino, path, options},
                                            pop3::Limits{}.max_mailbox_bytes, pop3::Limits{}.max_messages, block, why);
  return r == pop3::detail::MboxRecovery::clean || r == pop3::detail::MboxRecovery::recovered;
}

void deliver_with_lock(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(pop3::detail::mbox_lock(fd, F_WRLCK));
  BOOST_REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

std::vector<std::string> uidls(const fs::path& path) {
  Box b;
  std::error_code ec;
  age(path);
  b.open(path.string(), ec);
  BOOST_REQUIRE(!ec);
  std::vector<std::string> ids;
  for (std::uint32_t i = 0; i < b.count(); ++i) {
    ids.emplace_back(b.unique_id(MsgIndex{i}).view());
  }
  return ids;
}

// The journal holds nothing to recover: empty, or done (its blocks kept for the next UPDATE).
bool journal_idle(const fs::path& journal) {
  const pop3::detail::UniqueFd fd{::open(journal.c_str(), O_RDONLY | O_CLOEXEC)};
  return fd && pop3::detail::mbox_journal_idle(fd.get());
}

// The oracle, after recovery: before or after, then `appended`; the same UIDLs as that file;
// the journal idle; nothing but the mailbox in the spool.
void check_recovered(const Files& f, const Mailbox& box, const std::string& appended) {
  const std::string now = pop3::test::read_file(f.mailbox).value();
  const bool as_before = now == box.before() + appended;
  const bool as_after = now == box.after() + appended;
  BOOST_TEST_REQUIRE((as_before || as_after), "damaged: " << now.size() << " bytes; before " << box.before().size()
                                                          << ", after " << box.after().size() << ", appended "
                                                          << appended.size());
  pop3::test::TempDir reference;
  const fs::path expected = reference.path() / "mbox";
  pop3::test::write_file(expected, now);
  BOOST_TEST(uidls(f.mailbox) == uidls(expected));
  BOOST_TEST(journal_idle(f.journal));
  BOOST_TEST(std::distance(fs::directory_iterator(f.spool), fs::directory_iterator()) == 1);
}

constexpr MboxJournalPoint update_points[] = {
    MboxJournalPoint::plan_built,      MboxJournalPoint::journal_write,   MboxJournalPoint::journal_written,
    MboxJournalPoint::journal_synced,  MboxJournalPoint::move_write,      MboxJournalPoint::between_moves,
    MboxJournalPoint::arrival_write,   MboxJournalPoint::before_end_mark, MboxJournalPoint::after_end_mark,
    MboxJournalPoint::before_truncate, MboxJournalPoint::after_truncate,  MboxJournalPoint::before_done,
    MboxJournalPoint::after_done};

enum class Delivery { none, locking_after_kill, ignoring_lock_at_kill };

// Each crossing of each point of UPDATE, killed; returns the number of kills.
unsigned kill_every_crossing(const std::string& which, Delivery delivery, pop3::MboxDurability durability) {
  const Mailbox box = sample(which);
  Files f;
  unsigned kills = 0;
  for (const MboxJournalPoint point : update_points) {
    for (unsigned nth = 1; nth < 1000; ++nth) {
      BOOST_TEST_CONTEXT(which << ", point " << static_cast<int>(point) << ", crossing " << nth << ", delivery "
                               << static_cast<int>(delivery)) {
        f.reset(box.before());
        Mailbox session = box;
        KillAt kill{point, nth, nullptr, {}};
        const std::string path = f.mailbox.string();
        if (delivery == Delivery::ignoring_lock_at_kill) {
          kill.append_to = path.c_str();
          kill.append = arrival(2);
        }
        const bool killed = killed_in_child(kill, [&] {
          Box b;
          b.use_journal(f.open_journal(with_hook(durability)));
          std::error_code ec;
          age(f.mailbox);
          b.open(path, ec);
          if (ec || b.count() != box.messages.size()) return false;
          // Mail that arrives during the session, so that UPDATE has arrivals to move.
          append_ignoring_locks(path.c_str(), arrival(1));
          pop3::DeletionSet dele{b.count()};
          for (unsigned k : session.deleted) dele.mark(MsgIndex{k});
          b.commit(dele, ec);
          return !ec;
        });
        std::string appended = arrival(1);
        if (!killed) {
          check_recovered(f, box, appended);
          break;
        }
        ++kills;
        if (delivery == Delivery::ignoring_lock_at_kill) appended += arrival(2);
        if (delivery == Delivery::locking_after_kill) {
          deliver_with_lock(f.mailbox, arrival(3));
          appended += arrival(3);
        }
        BOOST_TEST_REQUIRE(recover(f, {durability, nullptr}));
        check_recovered(f, box, appended);
      }
    }
  }
  return kills;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_kill_at_any_point_of_update_leaves_before_or_after) {
  unsigned kills = 0;
  for (const char* which : {"DELE 1", "every other", "all but the last 2"}) {
    for (const Delivery d : {Delivery::none, Delivery::locking_after_kill, Delivery::ignoring_lock_at_kill})
      kills += kill_every_crossing(which, d, pop3::MboxDurability::full);
  }
  kills += kill_every_crossing("every other", Delivery::none, pop3::MboxDurability::process);
  BOOST_TEST_MESSAGE("kills during UPDATE: " << kills);
  BOOST_TEST(kills > 100u);
}

constexpr MboxJournalPoint recovery_points[] = {
    MboxJournalPoint::recovery_begun, MboxJournalPoint::move_write,      MboxJournalPoint::between_moves,
    MboxJournalPoint::journal_write,  MboxJournalPoint::journal_synced,  MboxJournalPoint::arrival_write,
    MboxJournalPoint::before_end_mark, MboxJournalPoint::after_end_mark, MboxJournalPoint::before_truncate,
    MboxJournalPoint::after_truncate, MboxJournalPoint::before_done,     MboxJournalPoint::after_done};

// A kill during recovery, at each crossing of each point, after UPDATE was killed at a few
// points; recovery then runs again and must give the same result.
BOOST_AUTO_TEST_CASE(a_kill_during_recovery_repeats_recovery) {
  unsigned kills = 0;
  for (const char* which : {"DELE 1", "every other"}) {
    const Mailbox box = sample(which);
    Files f;
    const std::string path = f.mailbox.string();
    const std::pair<MboxJournalPoint, unsigned> update_kills[] = {
        {MboxJournalPoint::move_write, 2}, {MboxJournalPoint::arrival_write, 1}, {MboxJournalPoint::after_end_mark, 1}};
    for (const auto& [update_point, update_nth] : update_kills) {
      for (const MboxJournalPoint point : recovery_points) {
        for (unsigned nth = 1; nth < 1000; ++nth) {
          BOOST_TEST_CONTEXT(which << ", update killed at " << static_cast<int>(update_point) << ", recovery at "
                                   << static_cast<int>(point) << " crossing " << nth) {
            f.reset(box.before());
            BOOST_REQUIRE(killed_in_child({update_point, update_nth, nullptr, {}}, [&] {
              return update(f, box, with_hook(pop3::MboxDurability::full), arrival(1));
            }));
            // Mail delivered with the lock after the crash, so recovery has arrivals to move.
            deliver_with_lock(f.mailbox, arrival(3));
            const bool killed = killed_in_child(
                {point, nth, nullptr, {}}, [&] { return recover(f, with_hook(pop3::MboxDurability::full)); });
            if (killed) ++kills;
            BOOST_TEST_REQUIRE(recover(f, {}));
            check_recovered(f, box, arrival(1) + arrival(3));
            if (!killed) break;
          }
        }
      }
    }
  }
  BOOST_TEST_MESSAGE("kills during recovery: " << kills);
  BOOST_TEST(kills > 30u);
}

// Two sessions open the mailbox at once after a crash: one recovers under the exclusive
// lock, the other waits for it and then finds the journal empty.
BOOST_AUTO_TEST_CASE(two_sessions_racing_to_recover) {
  const Mailbox box = sample("every other");
  Files f;
  for (unsigned nth = 1; nth <= 3; ++nth) {
    f.reset(box.before());
    BOOST_REQUIRE(killed_in_child({MboxJournalPoint::move_write, nth, nullptr, {}},
                                  [&] { return update(f, box, with_hook(pop3::MboxDurability::full)); }));
    int go[2];
    BOOST_REQUIRE(::pipe(go) == 0);
    pid_t racers[2];
    for (pid_t& pid : racers) {
      pid = ::fork();
      BOOST_REQUIRE(pid >= 0);
      if (pid == 0) {
        ::close(go[1]);
        char c;
        (void)::read(go[0], &c, 1);  // both start when the pipe closes
        Box b;
        b.use_journal(f.open_journal({}));
        std::error_code ec;
        b.open(f.mailbox.string(), ec);  // aged by the parent
        _exit(!ec && b.count() == box.messages.size() - box.deleted.size() ? 0 : 1);
      }
    }
    age(f.mailbox);
    ::close(go[0]);
    ::close(go[1]);
    for (const pid_t pid : racers) {
      int status = 0;
      BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
      BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    }
    check_recovered(f, box, "");
    BOOST_TEST((pop3::test::read_file(f.mailbox).value() == box.after()));
  }
}

// A session that logged in before another one crashed in UPDATE: its QUIT recovers first,
// then finds the file changed and deletes nothing ("Another MUA active").
BOOST_AUTO_TEST_CASE(a_session_open_across_a_crash_recovers_at_quit_and_gives_up) {
  const Mailbox box = sample("DELE 1");
  Files f;
  f.reset(box.before());
  Box waiting;
  waiting.use_journal(f.open_journal({}));
  std::error_code ec;
  age(f.mailbox);
  waiting.open(f.mailbox.string(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(killed_in_child({MboxJournalPoint::move_write, 1, nullptr, {}},
                                [&] { return update(f, box, with_hook(pop3::MboxDurability::full)); }));
  pop3::DeletionSet dele{waiting.count()};
  dele.mark(MsgIndex{3});
  waiting.commit(dele, ec);
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  check_recovered(f, box, "");
  BOOST_TEST((pop3::test::read_file(f.mailbox).value() == box.after()));
}

// A journal is refused unless it names this file (device, inode, path): the mailbox is left
// as it is, the refusal is logged, and the session updates in place.
BOOST_AUTO_TEST_CASE(a_journal_for_another_mailbox_is_refused) {
  const Mailbox box = sample("DELE 1");
  Files f;
  f.reset(box.before());
  BOOST_REQUIRE(killed_in_child({MboxJournalPoint::move_write, 1, nullptr, {}},
                                [&] { return update(f, box, with_hook(pop3::MboxDurability::full)); }));
  const std::string torn = pop3::test::read_file(f.mailbox).value();
  const std::string hot = pop3::test::read_file(f.journal).value();
  // Another mailbox, same content as the first before UPDATE, given the hot journal.
  const fs::path other = f.spool / "bob";
  pop3::test::write_file(other, box.before());
  struct stat st {};
  BOOST_REQUIRE(::stat(other.c_str(), &st) == 0);
  pop3::MboxJournal j = f.open_journal({});
  j.device = st.st_dev;
  j.inode = st.st_ino;
  std::vector<std::string> logged;
  j.log = [&](pop3::LogPriority, std::string_view line) { logged.emplace_back(line); };
  Box b;
  b.use_journal(std::move(j));
  std::error_code ec;
  age(other);
  b.open(other.string(), ec);
  BOOST_TEST_REQUIRE(!ec);
  BOOST_TEST(pop3::test::read_file(other).value() == box.before());
  BOOST_TEST(pop3::test::read_file(f.journal).value() == hot);
  BOOST_REQUIRE(logged.size() == 1u);
  BOOST_TEST(logged[0].find("refused") != std::string::npos);
  pop3::DeletionSet dele{b.count()};
  dele.mark(MsgIndex{0});
  b.commit(dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(pop3::test::read_file(other).value() == box.after());
  BOOST_TEST(pop3::test::read_file(f.journal).value() == hot);  // still there for the first mailbox
  BOOST_TEST(pop3::test::read_file(f.mailbox).value() == torn);
  BOOST_TEST_REQUIRE(recover(f, {}));
  fs::remove(other);
  check_recovered(f, box, "");
}

// A journal that cannot be written (here /dev/full, ENOSPC on every write): UPDATE is done in
// place as popa3d does, and says so in the log.
BOOST_AUTO_TEST_CASE(a_journal_that_cannot_be_written_falls_back_to_the_update_in_place) {
  const Mailbox box = sample("every other");
  Files f;
  f.reset(box.before());
  pop3::MboxJournal j = f.open_journal({});
  j.fd.reset(::open("/dev/full", O_RDWR | O_CLOEXEC));
  BOOST_REQUIRE(j.fd);
  std::vector<std::string> logged;
  j.log = [&](pop3::LogPriority, std::string_view line) { logged.emplace_back(line); };
  Box b;
  b.use_journal(std::move(j));
  std::error_code ec;
  age(f.mailbox);
  b.open(f.mailbox.string(), ec);
  BOOST_REQUIRE(!ec);
  pop3::DeletionSet dele{b.count()};
  for (unsigned k : box.deleted) dele.mark(MsgIndex{k});
  b.commit(dele, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(pop3::test::read_file(f.mailbox).value() == box.after());
  BOOST_REQUIRE(logged.size() == 1u);
  BOOST_TEST(logged[0].find("in place") != std::string::npos);
}

namespace {

pop3::detail::MboxJournalScan scan_all(const std::string& bytes, std::size_t window);

// The journal a crash just before the truncate leaves: PLAN, RUNS, DATA..., SEAL, END, then the
// zeros of the space reserved at plan time (at least what the bounded arrival moves may need),
// which are left out.
std::string hot_journal(const Files& f, const Mailbox& box) {
  f.reset(box.before());
  BOOST_REQUIRE(killed_in_child({MboxJournalPoint::before_truncate, 1, nullptr, {}},
                                [&] { return update(f, box, with_hook(pop3::MboxDurability::full)); }));
  std::string journal = pop3::test::read_file(f.journal).value();
  const std::size_t records = scan_all(journal, journal.size()).valid_end();
  BOOST_REQUIRE(journal.size() - records >= pop3::detail::journal_tail_bytes(pop3::detail::mbox_max_arrival_checks) -
                                                 pop3::detail::journal_record_bytes(24));
  BOOST_REQUIRE(journal.find_first_not_of('\0', records) == std::string::npos);
  journal.resize(records);
  return journal;
}

pop3::detail::MboxJournalScan scan_all(const std::string& bytes, std::size_t window) {
  pop3::detail::MboxJournalScan scan(pop3::Limits{}.max_mailbox_bytes, pop3::Limits{}.max_messages);
  std::size_t at = 0, have = 0;
  for (int steps = 0; steps < 100000; ++steps) {
    have = std::min(bytes.size() - at, std::max(have, window));
    const long n = scan.feed({bytes.data() + at, have});
    if (n > 0) {
      at += static_cast<std::size_t>(n);
      have = 0;
      continue;
    }
    if (n == pop3::detail::journal_need_more && at + have < bytes.size()) {
      have += window;
      continue;
    }
    break;
  }
  return scan;
}

}  // namespace

// The parser, fed the journal in windows of any size, finds the same groups; cut anywhere,
// it never claims more than the prefix holds.
BOOST_AUTO_TEST_CASE(the_parser_reads_a_journal_cut_anywhere) {
  Mailbox box;
  for (unsigned k = 0; k < 6; ++k) box.messages.push_back(message(k, 3 + k));
  box.deleted = {1, 3};
  Files f;
  const std::string journal = hot_journal(f, box);
  const auto whole = scan_all(journal, journal.size());
  BOOST_REQUIRE(whole.plan_sealed());
  BOOST_TEST(whole.ended());
  BOOST_TEST(whole.valid_end() == journal.size());
  BOOST_TEST(whole.plan().runs.size() == 2u);
  BOOST_TEST(whole.next_to() == box.after().size());
  for (std::size_t window : {1, 7, 64, 1000}) {
    const auto s = scan_all(journal, window);
    BOOST_TEST(s.valid_end() == journal.size());
    BOOST_TEST(s.ended());
  }
  std::size_t plan_end = 0;
  for (std::size_t cut = 0; cut < journal.size(); ++cut) {
    const auto s = scan_all(journal.substr(0, cut), journal.size());
    BOOST_TEST(s.valid_end() <= cut);
    BOOST_TEST(!s.ended());
    if (s.plan_sealed() && plan_end == 0) plan_end = cut;
  }
  BOOST_TEST(plan_end > 0u);
  // Any flipped byte: in the plan group the plan is void; in END the end mark is.
  for (std::size_t at = 0; at < journal.size(); ++at) {
    std::string flipped = journal;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
    const auto s = scan_all(flipped, flipped.size());
    if (at < plan_end) {
      BOOST_TEST(!s.plan_sealed(), "byte " << at);
    } else {
      BOOST_TEST(s.plan_sealed());
      BOOST_TEST(!s.ended(), "byte " << at);
    }
  }
}

// kill -9 at random times during QUIT on a mailbox of about 50 MB, after DELE 1, after
// deleting every other message and after deleting all but the last 10: 300 kills that land
// during commit(), none of which may leave a damaged mailbox after recovery.
BOOST_AUTO_TEST_CASE(random_kills_during_quit_on_a_50_mb_mailbox_damage_nothing) {
  const std::string before = pop3::bench::generate_mbox(4700, 13);
  BOOST_REQUIRE(before.size() > (std::size_t{48} << 20));
  Files f;
  std::mt19937_64 random(20261201);
  unsigned kills = 0, as_before = 0, as_after = 0, finished = 0;
  for (const char* which : {"DELE 1", "every other", "all but the last 10"}) {
    f.reset(before);
    Box reference;
    std::error_code ec;
    age(f.mailbox);
    reference.open(f.mailbox.string(), ec);
    BOOST_REQUIRE(!ec);
    const std::uint32_t n = reference.count();
    pop3::DeletionSet dele{n};
    for (std::uint32_t k = 0; k < n; ++k) {
      if ((std::string(which) == "DELE 1" && k == 0) || (std::string(which) == "every other" && k % 2 == 0) ||
          (std::string(which) == "all but the last 10" && k + 10 < n))
        dele.mark(MsgIndex{k});
    }
    // The file after an UPDATE that was not killed, and how long that UPDATE took.
    reference.use_journal(f.open_journal({}));
    const auto start = std::chrono::steady_clock::now();
    reference.commit(dele, ec);
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_REQUIRE(!ec);
    const std::string after = pop3::test::read_file(f.mailbox).value();
    // The kill is drawn from [0, window): a session that finishes first (the sleep overshot, which
    // on a loaded machine is most of a short UPDATE) narrows the window, so that the kills keep
    // landing on any machine without a timing assertion.
    auto window = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    unsigned landed = 0;
    for (unsigned attempt = 0; landed < 100 && attempt < 1000; ++attempt) {
      f.reset(before);
      age(f.mailbox);
      int ready[2];
      BOOST_REQUIRE(::pipe(ready) == 0);
      const pid_t pid = ::fork();
      BOOST_REQUIRE(pid >= 0);
      if (pid == 0) {
        Box b;
        b.use_journal(f.open_journal({}));
        std::error_code child_ec;
        b.open(f.mailbox.string(), child_ec);
        if (child_ec || b.count() != n) _exit(1);
        if (::write(ready[1], "r", 1) != 1) _exit(1);
        b.commit(dele, child_ec);
        _exit(child_ec ? 1 : 0);
      }
      ::close(ready[1]);
      char c;
      BOOST_REQUIRE(::read(ready[0], &c, 1) == 1);
      ::close(ready[0]);
      // Anywhere in the time commit() took once (a kill that comes after it ends counts as no kill).
      std::uniform_int_distribution<long long> delay(0, window);
      const struct timespec wait{0, static_cast<long>(delay(random) * 1000)};
      ::nanosleep(&wait, nullptr);
      ::kill(pid, SIGKILL);
      int status = 0;
      BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
      if (WIFEXITED(status)) {
        BOOST_REQUIRE(WEXITSTATUS(status) == 0);
        ++finished;
        window = window * 3 / 4;
      } else {
        ++landed;
        ++kills;
      }
      BOOST_REQUIRE(recover(f, {}));
      const std::string now = pop3::test::read_file(f.mailbox).value();
      BOOST_TEST_REQUIRE((now == before || now == after), which << ": damaged after kill " << kills);
      (now == before ? as_before : as_after) += 1;
      BOOST_TEST(journal_idle(f.journal));
    }
    BOOST_TEST_MESSAGE(which << ": " << landed << " kills landed, window " << window << " us of "
                             << std::chrono::duration_cast<std::chrono::microseconds>(took).count());
  }
  BOOST_TEST_MESSAGE("random kills during QUIT: " << kills << " (" << finished << " sessions finished first); "
                                                  << as_before << " as before, " << as_after << " as after, 0 damaged");
  BOOST_TEST(kills >= 300u);
}

namespace {

// One operation test/power_loss/shim.cpp recorded.
struct Recorded {
  char op;  // 'w' write, 't' truncate, 's' sync
  int file;
  std::uint64_t offset;  // or the size a truncate gave
  std::string bytes;
};

std::vector<Recorded> read_recording(const fs::path& log, std::vector<std::string>& names) {
  const std::string raw = pop3::test::read_file(log).value();
  std::vector<Recorded> ops;
  for (std::size_t at = 0; at + 18 <= raw.size();) {
    const char op = raw[at];
    const int file = static_cast<unsigned char>(raw[at + 1]);
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, raw.data() + at + 2, 8);
    std::memcpy(&b, raw.data() + at + 10, 8);
    at += 18;
    const std::size_t n = op == 'w' || op == 'n' ? static_cast<std::size_t>(b) : 0;
    BOOST_REQUIRE(at + n <= raw.size());
    if (op == 'n') {
      names.resize(static_cast<std::size_t>(file) + 1);
      names[static_cast<std::size_t>(file)] = raw.substr(at, n);
    } else {
      ops.push_back({op, file, a, raw.substr(at, n)});
    }
    at += n;
  }
  return ops;
}

// The disk after a power cut while ops[cut] was issuing its first `pieces` 4 KiB pieces (0: just
// before it): each file as its last sync before the cut left it, plus each 4 KiB piece of every
// later write (and every later truncate) kept or lost at random, in order.
std::string after_power_cut(const std::string& initial, const std::vector<Recorded>& ops, int file, std::size_t cut,
                            std::size_t pieces, std::mt19937_64& random) {
  std::size_t synced = 0;
  for (std::size_t i = 0; i < cut; ++i)
    if (ops[i].file == file && ops[i].op == 's') synced = i;
  std::string disk = initial;
  for (std::size_t i = 0; i <= cut && i < ops.size(); ++i) {
    const Recorded& r = ops[i];
    if (r.file != file || r.op == 's' || (i == cut && (r.op != 'w' || pieces == 0))) continue;
    const bool durable = i < synced;
    if (r.op == 't') {
      if (durable || random() % 2 == 0) disk.resize(static_cast<std::size_t>(r.offset));
      continue;
    }
    std::size_t issued = 0;
    for (std::size_t done = 0; done < r.bytes.size() && (i < cut || issued < pieces); ++issued) {
      const std::uint64_t at = r.offset + done;
      const std::size_t piece = std::min<std::size_t>(r.bytes.size() - done, 4096 - at % 4096);
      if (durable || random() % 2 == 0) {
        if (disk.size() < at + piece) disk.resize(static_cast<std::size_t>(at + piece), '\0');
        disk.replace(static_cast<std::size_t>(at), piece, r.bytes, done, piece);
      }
      done += piece;
    }
  }
  return disk;
}

// Records one UPDATE under the shim; rebuilds the disk at every cut point (before each
// operation, and inside each write at every other 4 KiB piece), `subsets` times each; recovers;
// returns {cut points, disks, damaged}.
std::tuple<unsigned, unsigned, unsigned> power_cuts(const Mailbox& box, const char* durability, unsigned subsets) {
  Files f;
  f.reset(box.before());
  age(f.mailbox);
  const fs::path log = f.dir / "recording";
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string bin = POP3_BINARY_DIR "/test/power_loss_update";
    std::vector<std::string> args{bin, f.mailbox.string(), f.journal.string(), durability};
    for (unsigned k : box.deleted) args.push_back(std::to_string(k));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::setenv("LD_PRELOAD", POP3_BINARY_DIR "/test/libpower_loss_shim.so", 1);
    ::setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
    ::setenv("POWER_LOSS_DIR", f.dir.c_str(), 1);
    ::setenv("POWER_LOSS_LOG", log.c_str(), 1);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "power_loss_update: status " << status);
  BOOST_REQUIRE(pop3::test::read_file(f.mailbox).value() == box.after());
  std::vector<std::string> names;
  const std::vector<Recorded> ops = read_recording(log, names);
  int mailbox = -1, journal = -1;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == fs::canonical(f.mailbox).string()) mailbox = static_cast<int>(i);
    if (names[i] == fs::canonical(f.journal).string()) journal = static_cast<int>(i);
  }
  BOOST_REQUIRE(mailbox >= 0 && journal >= 0);
  BOOST_REQUIRE(ops.size() > 5u);  // at least: plan, seal, its sync, a move, its sync, END, truncate
  std::mt19937_64 random(ops.size());
  unsigned cuts = 0, states = 0, damaged = 0;
  for (std::size_t cut = 0; cut <= ops.size(); ++cut) {
    const std::size_t pieces = cut < ops.size() ? (ops[cut].bytes.size() + 4095) / 4096 : 0;
    for (std::size_t in = 0; in == 0 || in < pieces; in += 2) {
      ++cuts;
      for (unsigned s = 0; s < subsets; ++s) {
        pop3::test::write_file(f.mailbox, after_power_cut(box.before(), ops, mailbox, cut, in, random));
        pop3::test::write_file(f.journal, after_power_cut("", ops, journal, cut, in, random));
        ++states;
        const bool recovered = recover(f, {});
        const std::string now = pop3::test::read_file(f.mailbox).value();
        if (!recovered || (now != box.before() && now != box.after())) ++damaged;
      }
    }
  }
  return {cuts, states, damaged};
}

}  // namespace

// A power cut at any point of UPDATE with --durability full: every rebuilt disk recovers to
// the file before or after. With process durability the same cuts damage mailboxes, which
// shows what the syncs are for (reported, not required).
BOOST_AUTO_TEST_CASE(a_power_cut_at_any_point_of_update_in_full_mode_damages_nothing) {
  unsigned cuts = 0, states = 0, damaged = 0, process_states = 0, process_damaged = 0;
  for (const char* which : {"DELE 1", "every other", "all but the last 2"}) {
    BOOST_TEST_CONTEXT(which) {
      const auto [c, n, bad] = power_cuts(sample(which), "full", 3);
      cuts += c;
      states += n;
      damaged += bad;
      BOOST_TEST(bad == 0u);
      const auto [pc, pn, pbad] = power_cuts(sample(which), "process", 1);
      process_states += pn;
      process_damaged += pbad;
    }
  }
  BOOST_TEST_MESSAGE("power cuts, full durability: " << cuts << " cut points, " << states
                                                     << " disks rebuilt, " << damaged
                                                     << " damaged; process durability: " << process_states
                                                     << " rebuilt, " << process_damaged << " damaged");
  BOOST_TEST(cuts >= 200u);
}
