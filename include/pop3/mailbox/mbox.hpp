// pop3/mailbox/mbox.hpp: the mbox maildrop, as popa3d 1.0.3 reads and updates it.
//
// Opens the file with lstat/open/fcntl as popa3d does and builds the message table
// with MboxScanner over the windows of a byte source (mbox_source.hpp: mapped windows by
// default, or pread() windows). Messages are read in chunks; UPDATE compacts the file in
// place under an exclusive lock (the moves are mbox_update.hpp's).
//
//   pop3::MboxMailbox<> box{pop3::Limits{}};          // unique ids from MD5, as popa3d's
//   std::error_code ec; box.open("/var/mail/alice", ec);
//   if (!ec) for (auto c = box.data(pop3::MsgIndex{0}, 0, ec); !c.empty(); ) { /* ... */ }
//
// @par Concepts
//   MailboxPolicy
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "pop3/concepts.hpp"
#include "pop3/detail/huge_page_allocator.hpp"
#include "pop3/detail/unique_fd.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/error.hpp"
#include "pop3/limits.hpp"
#include "pop3/mailbox/dotlock.hpp"
#include "pop3/mailbox/mbox_scan.hpp"
#include "pop3/mailbox/mbox_source.hpp"
#include "pop3/mailbox/mbox_update.hpp"
#include "pop3/types.hpp"

namespace pop3 {

namespace detail {

// Whole-file fcntl lock (popa3d: "locking: fcntl, whole file"), waiting for it.
// l_type: F_RDLCK, F_WRLCK or F_UNLCK.
inline bool mbox_lock(int fd, short l_type) noexcept {
  struct flock fl {};
  fl.l_type = l_type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // to the end of file, however far it grows
  while (fcntl(fd, l_type == F_UNLCK ? F_SETLK : F_SETLKW, &fl) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// popa3d's 1-second rule (spec section 12): after parsing, if the clock still reads the
// file's mtime second, hold the lock one more second, so that any later locked write gets
// a different whole-second mtime and the mtime test cannot miss it.
inline void mbox_hold_past_mtime(std::time_t mtime) noexcept {
  if (std::time(nullptr) != mtime) return;
  struct timespec left {1, 0};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

}  // namespace detail

/// An mbox maildrop (popa3d 1.0.3, spec sections 8, 9 and 12).
///
/// - open(location): the location is the file's path. A missing file or one of size 0 is an empty mailbox that is never
///   opened or created; anything but a regular file (symlinks included) is refused.
///   The table is built under a shared lock by MboxScanner, fed the windows of `Source`.
/// - data() reads a message, at most chunk_bytes at a time, through `Source`.
/// - verify() is popa3d's mtime test: if the whole-second mtime changed, the first
///   login-size bytes are parsed again under a shared lock and must give the same
///   extents, sizes and digests (new mail after them is allowed and stays invisible).
/// - commit() compacts the same file in place under an exclusive lock, if its path still
///   names it (another file renamed over the path is a conflict, which popa3d misses).
/// A truncation by a program that ignores locks shows up as a short read or a guarded fault
/// (never a SIGBUS): open() fails, and data(), verify() and commit() report
/// errc::mailbox_changed.
///
/// Digest: the hash of the unique ids (DigestPolicy); MD5 gives popa3d's UIDLs.
/// Source: how the file is read (MboxByteSource): MmapSource, the faster on the machines
/// measured, or PreadSource (DESIGN.md, "pread or mmap").
///
/// Memory: 48 bytes per message for the table (MboxMessage with a 16-byte digest) and the
/// source's windows (at most a few MiB of the file, and one 256 KiB buffer), set up at the
/// first open() of a non-empty file and reused by the scan, data(), verify() and commit();
/// verify() briefly holds a second table, a two-thread scan a second source.
template <DigestPolicy Digest = Md5, class Source = MmapSource>
class MboxMailbox {
  static_assert(MboxByteSource<Source>, "MboxMailbox's Source must satisfy MboxByteSource (mbox_source.hpp)");

 public:
  // Largest span data() returns, so the engine can flush between chunks of a large message.
  static constexpr std::size_t chunk_bytes = 256 * 1024;

  explicit MboxMailbox(Limits limits = {}, DotlockOptions dotlock = {}) noexcept
      : limits_(limits), dotlock_(std::move(dotlock)) {}

  // A moved-from mailbox owns no file and no table; it may be destroyed or assigned to.
  MboxMailbox(MboxMailbox&&) noexcept = default;
  MboxMailbox& operator=(MboxMailbox&&) noexcept = default;
  MboxMailbox(const MboxMailbox&) = delete;
  MboxMailbox& operator=(const MboxMailbox&) = delete;

  // Spec 9.1. ec: errc::mailbox_refused (not a regular file, not mbox, over the limits)
  // or errc::mailbox_io (cannot stat, open, lock or read it, it shrank while we read, or
  // there is no memory for its table).
  void open(std::string_view location, std::error_code& ec) {
    ec.clear();
    close_all();
    try {
      path_.assign(location);
    } catch (const std::bad_alloc&) {
      ec = errc::mailbox_io;
      return;
    }
    const char* path = path_.c_str();
    struct stat st {};
    if (lstat(path, &st) != 0) {
      if (errno != ENOENT) ec = errc::mailbox_io;
      return;  // popa3d: a missing mailbox is an empty one, and is not created
    }
    if (!S_ISREG(st.st_mode)) {
      ec = errc::mailbox_refused;
      return;
    }
    if (st.st_size == 0) return;  // popa3d does not even open it

    // O_NOFOLLOW and the fstat below close the window between lstat and open;
    // O_NONBLOCK keeps a FIFO swapped in from blocking the open.
    fd_.reset(::open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd_) {
      ec = errc::mailbox_io;
      return;
    }
    if (fstat(fd_.get(), &st) != 0) return fail(ec, errc::mailbox_io);
    if (!S_ISREG(st.st_mode)) return fail(ec, errc::mailbox_refused);
    if (!recover_if_needed(st, ec)) return fail(ec, errc::mailbox_io);  // an interrupted UPDATE first
    if (!detail::mbox_lock(fd_.get(), F_RDLCK)) return fail(ec, errc::mailbox_io);
    if (fstat(fd_.get(), &st) != 0) return fail(ec, errc::mailbox_io);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > limits_.max_mailbox_bytes) return fail(ec, errc::mailbox_refused);
    if (size == 0) {  // emptied between lstat and lock: nothing to read
      close_all();
      return;
    }
    if (!source_.prepare()) return fail(ec, errc::mailbox_io);

    const ScanStatus status = scan_file(table_, limits_.max_messages, size, ec);
    // A short read: shortened under our shared lock by a program that ignores locks.
    if (ec) return fail(ec, errc::mailbox_io);
    if (status != ScanStatus::ok) return fail(ec, errc::mailbox_refused);
    table_.shrink_to_fit();  // keep the table at sizeof(MboxMessage) per message

    login_size_ = size;
    mtime_ = st.st_mtim.tv_sec;
    detail::mbox_hold_past_mtime(mtime_);
    detail::mbox_lock(fd_.get(), F_UNLCK);
  }

  // UPDATE through this journal from now on, and recovery from it at open() and commit()
  // (mbox_update.hpp). Without one, UPDATE compacts in place as popa3d does.
  void use_journal(MboxJournal journal) noexcept { journal_ = std::move(journal); }

  [[nodiscard]] std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(table_.size()); }
  [[nodiscard]] std::uint64_t size(MsgIndex i) const noexcept { return table_[i.value].size; }
  [[nodiscard]] UniqueId unique_id(MsgIndex i) const noexcept {
    return popa3d_unique_id(std::span<const std::uint8_t>(table_[i.value].digest));
  }

  // Spec section 12. Cheap when the whole-second mtime is unchanged (one fstat).
  // ec: errc::mailbox_changed (conflicting change, or the file shrank), errc::mailbox_io
  // (cannot stat, lock or read, or the file grew past max_mailbox_bytes).
  void verify(std::error_code& ec) {
    ec.clear();
    if (stale_) {
      ec = errc::mailbox_changed;
      return;
    }
    if (!fd_) return;  // empty or missing mailbox: nothing to change under us
    struct stat st {};
    if (fstat(fd_.get(), &st) != 0) {
      ec = errc::mailbox_io;
      return;
    }
    // popa3d looks at the mtime only. A size below the login size is checked as well:
    // it costs nothing and catches a truncation within the same second.
    if (st.st_mtim.tv_sec == mtime_ && static_cast<std::uint64_t>(st.st_size) >= login_size_) return;
    if (!detail::mbox_lock(fd_.get(), F_RDLCK)) {
      ec = errc::mailbox_io;
      return;
    }
    recheck(true, ec);
    detail::mbox_lock(fd_.get(), F_UNLCK);
  }

  // The raw (LF) bytes of message i from `offset`, at most chunk_bytes, read from the file
  // now (so a harmless rewrite is served as it is now, as popa3d does); empty at the end.
  // The span points into the mailbox's buffer and is valid until the next call.
  // ec: errc::mailbox_changed if the file no longer holds those bytes (shortened by a
  // program that ignores locks: the session ends, and the client keeps what it got without
  // the final ".", spec 12), errc::mailbox_io if the read failed.
  [[nodiscard]] std::span<const char> data(MsgIndex i, std::uint64_t offset, std::error_code& ec) noexcept {
    ec.clear();
    if (stale_) {
      ec = errc::mailbox_changed;
      return {};
    }
    const auto& m = table_[i.value];
    if (offset >= m.data_length) return {};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, m.data_length - offset));
    // The source reads ahead (a whole window): RETRs of neighbouring messages then cost one
    // read for many (system calls are what a transfer spends most on here). Any re-check of
    // the file drops its windows, so bytes changed harmlessly are read again, as popa3d does.
    const std::span<const char> bytes = source_.read(fd_.get(), m.data_offset + offset, n, login_size_, ec);
    if (ec) {
      // Known changed, even if it grows back within the same second: commit() must not
      // move bytes the table no longer describes.
      source_.drop();
      if (ec == errc::mailbox_changed) stale_ = true;
      return {};
    }
    return bytes.first(n);
  }

  // Spec section 8. Nothing marked deleted: the file is not touched, not even locked.
  // ec: errc::mailbox_changed (conflict, or the path no longer names the file opened: no
  // file touched), errc::mailbox_io (lock, check or write failed, or mail appended without
  // the lock never stopped arriving; the file may then be left partly compacted, as in
  // popa3d).
  // Afterwards the table no longer describes the file: verify(), data() and commit()
  // report errc::mailbox_changed.
  void commit(const DeletionSet& deletions, std::error_code& ec) {
    ec.clear();
    assert(deletions.messages() == count());
    if (deletions.count() == 0) return;
    if (stale_) {
      ec = errc::mailbox_changed;
      return;
    }
    std::optional<Dotlock> dotlock;  // fcntl first, then MAILBOX.lock if --dotlock (dotlock.hpp)
    const auto fcntl_lock = [this](bool take) { return detail::mbox_lock(fd_.get(), take ? F_WRLCK : F_UNLCK); };
    if (!detail::lock_for_update(fcntl_lock, dotlock_, path_ + ".lock", dotlock, ec)) return;
    if (!recover_locked(ec)) {
      ec = errc::mailbox_io;
      dotlock.reset();
      detail::mbox_lock(fd_.get(), F_UNLCK);
      return;
    }
    std::optional<detail::MboxSignalBlock> no_signals;
    update_locked(deletions, ec, no_signals);
    dotlock.reset();
    detail::mbox_lock(fd_.get(), F_UNLCK);
  }  // signals are unblocked here, after the unlock

 private:
  // On huge pages: each whole 2 MiB of the table costs one page fault instead of 512
  // (huge_page_allocator.hpp).
  using TableAllocator = detail::HugePageAllocator<MboxMessage<Digest>>;
  using Table = std::vector<MboxMessage<Digest>, TableAllocator>;

  // Files from this size on are scanned by two threads (scan_file()); the split point is
  // looked for this far past the middle, else one thread scans the whole file.
  static constexpr std::uint64_t parallel_scan_min = std::uint64_t{32} << 20;
  static constexpr std::uint64_t parallel_split_search = std::uint64_t{16} << 20;
  static_assert(chunk_bytes <= Source::window_bytes && MboxScanner<Digest>::max_carry <= detail::AlignedBuffer::min_head);
  static_assert(detail::journal_block_min <= Source::window_bytes);

  void fail(std::error_code& ec, errc e) noexcept {
    close_all();  // closing the descriptor also drops our fcntl lock
    ec = e;
  }

  // Forgets the file; the source's buffer is kept for the next open().
  void close_all() noexcept {
    fd_.reset();
    table_.clear();
    table_.shrink_to_fit();
    login_size_ = 0;
    mtime_ = 0;
    stale_ = false;
    path_.clear();
    source_.drop();
  }

  // Scans the first `size` bytes of the file into `table`. ec: errc::mailbox_changed if the
  // file gave fewer than `size` bytes, errc::mailbox_io if a read failed or there was no
  // memory for the table (which is then emptied and its memory given back); the status then
  // means nothing. On a large file with a second core, the part from the first separator
  // past the middle is scanned by a second thread at the same time: a "\n\nFrom " always
  // separates messages and the scan starts afresh at each message, so the two tables
  // joined are the table of one pass (the mbox tests check this).
  ScanStatus scan_file(Table& table, std::uint32_t max_messages, std::uint64_t size, std::error_code& ec) {
    // data() reads the file afresh after every scan, as popa3d does, and no window of the
    // scan stays mapped.
    source_.drop();
    struct DropAtExit {
      Source& source;
      ~DropAtExit() { source.drop(); }
    } drop_at_exit{source_};
    try {
      if (size < parallel_scan_min || std::thread::hardware_concurrency() < 2)
        return scan_range(source_, table, max_messages, 0, size, ec);
      const std::uint64_t split = find_separator_after(size / 2, size, ec);
      if (ec || split == size) return scan_range(source_, table, max_messages, 0, size, ec);

      Table second;
      std::error_code second_ec;
      ScanStatus second_status = ScanStatus::ok;
      bool second_out_of_memory = false;
      Source second_source;
      // Declared after everything the thread uses: if the first half throws, unwinding
      // joins the thread before those go away.
      std::optional<std::jthread> worker;
      if (second_source.prepare()) {
        try {
          worker.emplace([&] {
            try {
              second_status = scan_range(second_source, second, max_messages, split, size, second_ec);
            } catch (const std::bad_alloc&) {
              second_out_of_memory = true;
            }
          });
        } catch (const std::system_error&) {
          // No thread to be had: one pass does the same work.
        }
      }
      if (!worker) return scan_range(source_, table, max_messages, 0, size, ec);
      const ScanStatus first_status = scan_range(source_, table, max_messages, 0, split, ec);
      worker.reset();  // joins
      // Both scans' last windows go (MmapSource: 2 MiB mapped each) before the join below
      // briefly holds the table twice, the peak of open(): 14.4 MB resident at 100,000
      // messages without this, 12.0 MB with it (measured with /proc/self/status VmHWM).
      source_.drop();
      second_source.drop();
      if (second_out_of_memory) throw std::bad_alloc();
      if (!ec) ec = second_ec;
      if (ec || first_status != ScanStatus::ok) return first_status;
      if (second_status != ScanStatus::ok || table.size() + second.size() > max_messages) {
        table.clear();
        return second_status != ScanStatus::ok ? second_status : ScanStatus::too_many_messages;
      }
      table.reserve(table.size() + second.size());
      table.insert(table.end(), second.begin(), second.end());
      return ScanStatus::ok;
    } catch (const std::bad_alloc&) {
      // The table of a huge mailbox met a memory limit: a mailbox that cannot be loaded.
      Table().swap(table);
      ec = errc::mailbox_io;
      return ScanStatus::ok;
    }
  }

  // Scans bytes [begin, end) of the file as a whole mbox file of their own (begin is the
  // start of the file or of a "From " line), in the windows of `source`. The tail that
  // MboxScanner leaves unconsumed (at most max_carry bytes) is the start of the next
  // window: the source keeps it in place and reads on after it. Offsets in `table` are
  // file offsets.
  ScanStatus scan_range(Source& source, Table& table, std::uint32_t max_messages, std::uint64_t begin,
                        std::uint64_t end, std::error_code& ec) const {
    MboxScanner<Digest, TableAllocator> scanner(table, max_messages);
    for (std::uint64_t at = begin;;) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(Source::window_bytes, end - at));
      const std::string_view bytes = source.view(fd_.get(), at, want, end, ec);
      if (ec) return ScanStatus::ok;
      const bool at_eof = at + bytes.size() == end;
      const std::size_t used = scanner.feed(bytes, at_eof);
      // Zeros where the file shrank under a mapped window: the table means nothing.
      if (!source.intact(fd_.get())) {
        ec = errc::mailbox_changed;
        return ScanStatus::ok;
      }
      if (at_eof || scanner.status() != ScanStatus::ok) break;
      assert(bytes.size() - used <= MboxScanner<Digest>::max_carry);
      at += used;
    }
    if (begin != 0) {
      for (auto& m : table) {
        m.from_offset += begin;
        m.data_offset += begin;
      }
    }
    return scanner.status();
  }

  // The offset of the "From " line of the first "\n\nFrom " whose first LF is at or after
  // `from`, looking no further than parallel_split_search bytes; `end` if there is none.
  std::uint64_t find_separator_after(std::uint64_t from, std::uint64_t end, std::error_code& ec) {
    constexpr std::string_view separator = "\n\nFrom ";
    const std::uint64_t limit = std::min(end, from + parallel_split_search);
    while (from + separator.size() <= limit) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(Source::window_bytes, limit - from));
      const std::string_view window = source_.view(fd_.get(), from, want, limit, ec);
      if (ec) return end;
      const auto k = window.find(separator);
      if (!source_.intact(fd_.get())) {
        ec = errc::mailbox_changed;
        return end;
      }
      if (k != std::string_view::npos) return from + k + 2;
      from += window.size() - (separator.size() - 1);  // a separator may straddle two windows
    }
    return end;
  }

  // The re-check of spec section 12, with a lock held: the file must not be shorter than
  // at login, and its first login-size bytes must parse to the same table.
  void recheck(bool hold_past_mtime, std::error_code& ec) {
    struct stat st {};
    if (fstat(fd_.get(), &st) != 0) {
      ec = errc::mailbox_io;
      return;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < login_size_) {
      ec = errc::mailbox_changed;
      return;
    }
    if (size > limits_.max_mailbox_bytes) {  // popa3d MAX_MAILBOX_WORK_BYTES: a failure, not a conflict
      ec = errc::mailbox_io;
      return;
    }
    if (!same_table(ec)) {
      if (!ec) ec = errc::mailbox_changed;
      return;
    }
    mtime_ = st.st_mtim.tv_sec;
    if (hold_past_mtime) detail::mbox_hold_past_mtime(mtime_);
  }

  // True if lstat(path_) still gives the file that `opened` (fstat of fd_.get()) describes. A file
  // renamed over the path, or the path gone or made a symlink, is a conflict: popa3d
  // compacts the old, unlinked file then, so the deletions are lost while the client got
  // "+OK".
  bool path_names(const struct stat& opened, std::error_code& ec) const {
    struct stat named {};
    if (lstat(path_.c_str(), &named) != 0) {
      ec = errno == ENOENT || errno == ENOTDIR ? errc::mailbox_changed : errc::mailbox_io;
      return false;
    }
    if (!S_ISREG(named.st_mode) || named.st_dev != opened.st_dev || named.st_ino != opened.st_ino) {
      ec = errc::mailbox_changed;
      return false;
    }
    return true;
  }

  // True if the first login-size bytes parse to the table loaded at open(), message by
  // message. False with ec set if the file could not be read (see scan_file()).
  bool same_table(std::error_code& ec) {
    Table again;
    try {
      again.reserve(table_.size());
    } catch (const std::bad_alloc&) {
      ec = errc::mailbox_io;
      return false;
    }
    // More messages than at login is already a conflict, so the scan stops there and
    // the second table never outgrows the first.
    const ScanStatus status = scan_file(again, count(), login_size_, ec);
    if (ec || status != ScanStatus::ok || again.size() != table_.size()) return false;
    for (std::size_t k = 0; k < table_.size(); ++k) {
      const auto& a = table_[k];
      const auto& b = again[k];
      if (a.from_offset != b.from_offset || a.data_offset != b.data_offset ||
          a.data_length != b.data_length || a.size != b.size || a.digest != b.digest)
        return false;
    }
    return true;
  }

  // Under the exclusive lock: check that the path still names the file, check as verify()
  // does, then compact in place (mbox_update.hpp).
  // Blocks signals through `no_signals`, which the caller ends after unlocking (popa3d order).
  void update_locked(const DeletionSet& deletions, std::error_code& ec,
                     std::optional<detail::MboxSignalBlock>& no_signals) {
    struct stat st {};
    if (fstat(fd_.get(), &st) != 0) {
      ec = errc::mailbox_io;
      return;
    }
    if (!path_names(st, ec)) return;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (st.st_mtim.tv_sec != mtime_ || size < login_size_) {
      recheck(false, ec);  // no 1-second wait at UPDATE (popa3d)
      if (ec) return;
    } else if (size > limits_.max_mailbox_bytes) {
      ec = errc::mailbox_io;
      return;
    }

    const std::span<char> block = source_.block(ec);
    if (ec) return;
    stale_ = true;  // from here on the file no longer matches the table
    no_signals.emplace();
    const auto from_offset = [this](std::uint32_t k) { return table_[k].from_offset; };
    if (journal_.fd) {
      std::string why;
      switch (detail::mbox_journaled_compact(fd_.get(), journal_target(st), count(), from_offset, deletions,
                                             login_size_, limits_.max_mailbox_bytes, block, why)) {
        case detail::MboxJournaled::done: return;
        case detail::MboxJournaled::failed: ec = errc::mailbox_io; return;
        case detail::MboxJournaled::unjournaled:
          log_line(journal_.log, LogPriority::crit, "Cannot write the journal of " + path_ + " (" + why +
                                                        "), updating it in place");
          break;
      }
    }
    if (!detail::mbox_compact(fd_.get(), count(), from_offset, deletions, login_size_, limits_.max_mailbox_bytes,
                              block))
      ec = errc::mailbox_io;
  }

  detail::MboxJournalTarget journal_target(const struct stat& st) const noexcept {
    return {journal_.fd.get(), static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), path_,
            journal_.options};
  }

  // At open(), before the shared lock: a journal made for another file is dropped (logged), and
  // one that holds anything is recovered from under the exclusive lock. False: recovery could
  // not finish, and the file must not be read.
  bool recover_if_needed(const struct stat& st, std::error_code& ec) {
    if (!journal_.fd) return true;
    if (static_cast<std::uint64_t>(st.st_dev) != journal_.device ||
        static_cast<std::uint64_t>(st.st_ino) != journal_.inode) {
      log_line(journal_.log, LogPriority::notice, "The journal was made for another file than " + path_ +
                                                      ", updating it in place");
      journal_ = {};
      return true;
    }
    if (detail::mbox_journal_idle(journal_.fd.get())) return true;  // the usual case: no lock taken
    const bool ok = detail::mbox_lock(fd_.get(), F_WRLCK) && recover_locked(ec);
    return ok;  // the caller's F_RDLCK then turns the lock into a shared one without waiting
  }

  // Under the exclusive lock: finishes an UPDATE the journal says was interrupted (the
  // session's own first, or another's that crashed). A journal that is not this file's is
  // logged and left for the administrator, and this session updates in place.
  bool recover_locked(std::error_code& ec) {
    if (!journal_.fd) return true;
    struct stat st {};
    const std::span<char> block = source_.block(ec);
    if (ec || fstat(fd_.get(), &st) != 0) return false;
    std::string why;
    detail::MboxRecovery result;
    {
      const detail::MboxSignalBlock no_signals;
      result = detail::mbox_recover(fd_.get(), journal_target(st), limits_.max_mailbox_bytes, limits_.max_messages,
                                    block, why);
    }
    switch (result) {
      case detail::MboxRecovery::clean: return true;
      case detail::MboxRecovery::recovered:
        log_line(journal_.log, LogPriority::notice, "Finished an interrupted update of " + path_ + " from its journal");
        return true;
      case detail::MboxRecovery::refused:
        log_line(journal_.log, LogPriority::crit, "Journal of " + path_ + " refused: " + why + "; updating in place");
        journal_ = {};
        return true;
      case detail::MboxRecovery::failed: break;
    }
    log_line(journal_.log, LogPriority::crit, "Cannot finish the interrupted update of " + path_ + " from its journal");
    ec = errc::mailbox_io;
    return false;
  }

  Limits limits_;
  DotlockOptions dotlock_;  // taken for commit() besides the fcntl lock, if enabled
  detail::UniqueFd fd_;
  Source source_;                   // the file's bytes; see the class comment
  Table table_;
  std::uint64_t login_size_ = 0;    // bytes scanned at open: the extent the table describes
  std::time_t mtime_ = 0;           // whole seconds, as popa3d compares it
  bool stale_ = false;              // commit() rewrote the file, or data() found it shorter
  std::string path_;                // the maildrop's path, which commit() checks still names fd_
  MboxJournal journal_;             // empty: UPDATE in place
};

static_assert(MailboxPolicy<MboxMailbox<>>, "MboxMailbox must satisfy MailboxPolicy");

}  // namespace pop3
