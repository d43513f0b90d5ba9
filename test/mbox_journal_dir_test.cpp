// The journal directory (pop3/mailbox/mbox_journal_dir.hpp): --recover's sweep removes the
// done journal of a mailbox that is gone, and nothing else: not a journal whose mailbox is
// still that file, not one that may hold work, not one a session holds open, not an empty one;
// a session that opens a journal the sweep removed gets a new one. And the journal's space,
// reserved at plan time: a disk that fills once the moves have started no longer stops UPDATE.
#define BOOST_TEST_MODULE mbox_journal_dir
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "pop3/mailbox/mbox.hpp"
#include "pop3/mailbox/mbox_journal_dir.hpp"
#include "support/case_files.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using Box = pop3::MboxMailbox<>;

namespace {

std::string mailbox_text(unsigned messages) {
  std::string s;
  for (unsigned k = 0; k < messages; ++k)
    s += "From a@example.org Sat Sep  8 21:46:40 2001\nSubject: " + std::to_string(k) + "\n\n" +
         std::string(3000, static_cast<char>('a' + k % 26)) + "\n\n";
  return s;
}

struct Spool {
  pop3::test::TempDir tmp;
  pop3::MboxJournalSettings settings;
  fs::path mailbox;
  Spool() {
    settings.dir = (tmp.path() / "journal").string();
    mailbox = tmp.path() / "alice";
    std::string why;
    BOOST_REQUIRE_MESSAGE(pop3::prepare_journal_dir(settings.dir, why), why);
  }
  std::string write_mailbox(unsigned messages) const {
    const std::string text = mailbox_text(messages);
    pop3::test::write_file(mailbox, text);
    const struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    BOOST_REQUIRE(::utimensat(AT_FDCWD, mailbox.c_str(), old, 0) == 0);
    return text;
  }
  pop3::MboxJournal journal() const {
    std::string why;
    auto j = pop3::open_mbox_journal(settings, mailbox.string(), ::getuid(), ::getgid(), why);
    BOOST_REQUIRE_MESSAGE(j.has_value(), why);
    return std::move(*j);
  }
  // One session: DELE 1, QUIT, through the journal; the journal is then done.
  void dele1_quit(pop3::MboxJournal journal) const {
    Box b;
    b.use_journal(std::move(journal));
    std::error_code ec;
    b.open(mailbox.string(), ec);
    BOOST_REQUIRE(!ec);
    pop3::DeletionSet dele{b.count()};
    dele.mark(pop3::MsgIndex{0});
    b.commit(dele, ec);
    BOOST_REQUIRE(!ec);
  }
  fs::path journal_path(const fs::path& of) const {
    struct stat st {};
    BOOST_REQUIRE(::stat(of.c_str(), &st) == 0);
    return fs::path(settings.dir) / pop3::mbox_journal_name(st.st_dev, st.st_ino);
  }
  std::size_t sweep() const {
    std::string why;
    const auto removed = pop3::remove_orphan_journals(settings.dir, why);
    BOOST_REQUIRE_MESSAGE(why.empty(), why);
    return removed.size();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_sweep_removes_the_done_journal_of_a_mailbox_that_is_gone_and_nothing_else) {
  Spool s;
  s.write_mailbox(4);
  const fs::path journal = s.journal_path(s.mailbox);
  s.dele1_quit(s.journal());
  BOOST_REQUIRE(fs::file_size(journal) > 0u);  // done, with its blocks kept
  BOOST_TEST(s.sweep() == 0u);                 // the mailbox is still that file
  BOOST_TEST(fs::exists(journal));

  // The same journal made hot again (its PLAN header back): it may hold work, so it stays
  // even with the mailbox gone.
  const std::string done = pop3::test::read_file(journal).value();
  std::string hot = done;
  pop3::detail::put_u32(hot.data(), static_cast<std::uint32_t>(pop3::detail::JournalRecordType::plan));
  pop3::detail::put_u32(hot.data() + 8, static_cast<std::uint32_t>(pop3::detail::journal_plan_fixed +
                                                                    s.mailbox.string().size()));
  pop3::test::write_file(journal, hot);
  fs::remove(s.mailbox);
  BOOST_TEST(s.sweep() == 0u);
  BOOST_TEST(fs::exists(journal));

  // Done and held open by a session: it stays.
  pop3::test::write_file(journal, done);
  {
    pop3::detail::UniqueFd held{::open(journal.c_str(), O_RDONLY | O_CLOEXEC)};
    BOOST_REQUIRE(held && ::flock(held.get(), LOCK_SH) == 0);
    BOOST_TEST(s.sweep() == 0u);
    BOOST_TEST(fs::exists(journal));
  }

  // Done, nobody holds it, its mailbox gone: removed, and named.
  std::string why;
  const auto removed = pop3::remove_orphan_journals(s.settings.dir, why);
  BOOST_REQUIRE(removed.size() == 1u);
  BOOST_TEST(removed[0].mailbox == s.mailbox.string());
  BOOST_TEST(!fs::exists(journal));
}

BOOST_AUTO_TEST_CASE(an_empty_journal_names_no_mailbox_and_stays) {
  Spool s;
  s.write_mailbox(2);
  const fs::path journal = s.journal_path(s.mailbox);
  { const pop3::MboxJournal j = s.journal(); }
  fs::remove(s.mailbox);
  BOOST_TEST(s.sweep() == 0u);
  BOOST_TEST(fs::exists(journal));
}

// A session that opened the journal while the sweep held it, and got its lock once the sweep
// had removed it, must not write into the removed file: open_mbox_journal() opens the name
// again and holds the new file.
BOOST_AUTO_TEST_CASE(a_journal_removed_under_a_session_is_opened_anew) {
  Spool s;
  s.write_mailbox(3);
  const fs::path journal = s.journal_path(s.mailbox);
  { const pop3::MboxJournal j = s.journal(); }
  struct stat old {};
  BOOST_REQUIRE(::stat(journal.c_str(), &old) == 0);
  pop3::detail::UniqueFd sweep{::open(journal.c_str(), O_RDONLY | O_CLOEXEC)};
  BOOST_REQUIRE(sweep && ::flock(sweep.get(), LOCK_EX) == 0);
  std::optional<pop3::MboxJournal> opened;
  std::string why;
  std::thread session([&] { opened = pop3::open_mbox_journal(s.settings, s.mailbox.string(), ::getuid(), ::getgid(), why); });
  // Until the session waits for the lock (a blocked flock shows as "->" in /proc/locks).
  const std::string inode = ":" + std::to_string(old.st_ino) + " ";
  bool waiting = false;
  for (int i = 0; i < 5000 && !waiting; ++i) {
    std::ostringstream locks_text;
    locks_text << std::ifstream("/proc/locks").rdbuf();  // its size reads as 0: no read_file()
    const std::string locks = locks_text.str();
    for (std::size_t at = locks.find("->"); at != std::string::npos && !waiting; at = locks.find("->", at + 2))
      waiting = locks.substr(at, locks.find('\n', at) - at).find(inode) != std::string::npos;
    if (!waiting) ::usleep(1000);
  }
  fs::remove(journal);
  sweep = {};
  session.join();
  BOOST_REQUIRE(waiting);
  BOOST_REQUIRE_MESSAGE(opened.has_value(), why);
  struct stat held {}, named {};
  BOOST_REQUIRE(::fstat(opened->fd.get(), &held) == 0);
  BOOST_REQUIRE(::stat(journal.c_str(), &named) == 0);
  BOOST_TEST(held.st_ino == named.st_ino);
  BOOST_TEST(held.st_nlink == 1u);
}

namespace {

// The disk-full case: the journal directory on a tmpfs of its own, filled up once the first
// kept run has moved (past the point of no return); then, at each of the first moves of mail
// that arrived during the session, more mail arrives (small, so each arrival group is only
// ARRIVAL and SEAL): 61 of them and the END need more than one page of journal past the plan
// group, which only the space reserved at plan time can hold.
const char* g_full_dir = nullptr;
const char* g_mailbox = nullptr;
unsigned g_arrivals = 0;

void fill_up(const char* dir) {
  const std::string filler = std::string(dir) + "/filler";
  const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  BOOST_REQUIRE(fd >= 0);
  const std::string page(4096, 'f');
  for (int i = 0; i < 100000; ++i) {
    if (::write(fd, page.data(), page.size()) < 0) break;  // ENOSPC: full
  }
  // Even the last partial page.
  while (::write(fd, "f", 1) == 1) {
  }
  ::close(fd);
}

const std::string g_mail = "From new@example.org Sun Sep  9 01:46:43 2001\n\nnew\n\n";

void arrive(const char* mailbox) {
  const int fd = ::open(mailbox, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 || ::write(fd, g_mail.data(), g_mail.size()) != static_cast<ssize_t>(g_mail.size())) std::abort();
  ::close(fd);
}

void disk_fills_hook(pop3::MboxJournalPoint point, int, std::span<const char>, std::uint64_t) {
  if (point == pop3::MboxJournalPoint::between_moves && g_full_dir != nullptr) {
    fill_up(g_full_dir);
    g_full_dir = nullptr;
    arrive(g_mailbox);
  }
  if (point == pop3::MboxJournalPoint::arrival_write && g_arrivals > 0) {
    --g_arrivals;
    arrive(g_mailbox);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_disk_that_fills_after_the_moves_started_does_not_stop_update) {
  if (::geteuid() != 0) {
    if (pop3::test::under_ci()) BOOST_FAIL("(CI=true) mounting a tmpfs for the disk-full case needs root");
    BOOST_TEST_MESSAGE("skipped: mounting a tmpfs for the disk-full case needs root");
    return;
  }
  Spool s;
  const fs::path full = s.tmp.path() / "full";
  fs::create_directory(full);
  if (::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0) {
    if (pop3::test::under_ci()) BOOST_FAIL("(CI=true) cannot mount a tmpfs: " << std::strerror(errno));
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs: " << std::strerror(errno));
    return;
  }
  struct Unmount {
    const fs::path& at;
    ~Unmount() { ::umount(at.c_str()); }
  } unmount{full};
  s.settings.dir = full.string();
  const std::string before = s.write_mailbox(6);
  const std::string path = s.mailbox.string();
  pop3::MboxJournal journal = s.journal();
  journal.options.hook = &disk_fills_hook;
  g_full_dir = full.c_str();
  g_mailbox = path.c_str();
  g_arrivals = 60;
  s.dele1_quit(std::move(journal));  // requires commit() to succeed
  BOOST_TEST(g_full_dir == nullptr);
  BOOST_TEST(g_arrivals == 0u);
  std::string after = before.substr(mailbox_text(1).size());
  for (int i = 0; i < 61; ++i) after += g_mail;
  BOOST_TEST(pop3::test::read_file(s.mailbox).value() == after);
}
