// pop3/mailbox/mbox.hpp: the mbox maildrop, as popa3d 1.0.3 reads and updates it.
//
// Opens the file with lstat/open/fcntl as popa3d does, maps it, and takes the
// message table from scan_mbox(). Messages are streamed straight out of the
// mapping; UPDATE compacts the file in place under an exclusive lock.
//
//   pop3::MboxMailbox<pop3::Md5> box{pop3::Limits{}};
//   std::error_code ec; box.open(account, ec);
//   if (!ec) for (auto c = box.data(pop3::MsgIndex{0}, 0, ec); !c.empty(); ) { /* ... */ }
//
// @par Concepts
//   MailboxPolicy
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/detail/mapping_guard.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/error.hpp"
#include "pop3/limits.hpp"
#include "pop3/mailbox/mbox_scan.hpp"

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

// Block size of the UPDATE copy; popa3d uses 64 KiB (FILE_BUFFER_SIZE).
inline constexpr std::size_t mbox_copy_block = std::size_t{1} << 20;

// Copies `length` bytes at `from` to `to` (to <= from) in the same file, front to back,
// so overlapping ranges move like memmove. pread, not the mapping, is the source: the
// bytes after the login size are not mapped, and a file shortened behind our lock gives
// a short read (an I/O error) rather than a fault.
inline bool mbox_move_down(int fd, std::uint64_t from, std::uint64_t length, std::uint64_t to,
                           std::span<char> buffer) noexcept {
  while (length > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
    const ssize_t got = pread(fd, buffer.data(), want, static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    std::size_t done = 0;
    while (done < static_cast<std::size_t>(got)) {
      const ssize_t put = pwrite(fd, buffer.data() + done, static_cast<std::size_t>(got) - done,
                                 static_cast<off_t>(to + done));
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) return false;
      done += static_cast<std::size_t>(put);
    }
    from += done;
    to += done;
    length -= done;
  }
  return true;
}

// Blocks every signal that can be blocked usefully while UPDATE rewrites the file, as
// popa3d does, so a signal cannot leave a half-compacted mailbox. Synchronous fault
// signals are left alone: blocking them does not stop them, it only makes them fatal.
class MboxSignalBlock {
 public:
  MboxSignalBlock() noexcept {
    sigset_t all;
    sigfillset(&all);
    for (int s : {SIGBUS, SIGSEGV, SIGFPE, SIGILL}) sigdelset(&all, s);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~MboxSignalBlock() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  MboxSignalBlock(const MboxSignalBlock&) = delete;
  MboxSignalBlock& operator=(const MboxSignalBlock&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace detail

/// An mbox maildrop (popa3d 1.0.3, spec sections 8, 9 and 12).
///
/// - open(): a missing file or one of size 0 is an empty mailbox that is never
///   opened or created; anything but a regular file (symlinks included) is refused.
///   The table is built under a shared lock from a read-only shared mapping.
/// - data() hands out spans into that mapping, at most chunk_bytes each.
/// - verify() is popa3d's mtime test: if the whole-second mtime changed, the first
///   login-size bytes are parsed again under a shared lock and must give the same
///   extents, sizes and digests (new mail after them is allowed and stays invisible).
/// - commit() compacts the same file in place under an exclusive lock.
/// A truncation by a program that ignores locks cannot kill the process: faults in the
/// mapping read zeros (detail::FileMapping), intact() turns false and verify() reports
/// errc::mailbox_changed.
/// Memory: 48 bytes per message for the table (MboxMessage with a 16-byte digest), one
/// bit per message for deletions; verify() briefly holds a second table.
template <DigestPolicy Digest>
class MboxMailbox {
 public:
  // Largest span data() returns, so the engine can flush between chunks of a large message.
  static constexpr std::size_t chunk_bytes = 256 * 1024;

  explicit MboxMailbox(Limits limits = {}) noexcept : limits_(limits) {}

  MboxMailbox(MboxMailbox&& other) noexcept
      : limits_(other.limits_),
        fd_(std::exchange(other.fd_, -1)),
        map_(std::move(other.map_)),
        table_(std::move(other.table_)),
        deleted_(std::move(other.deleted_)),
        deleted_count_(std::exchange(other.deleted_count_, 0)),
        login_size_(std::exchange(other.login_size_, 0)),
        current_size_(std::exchange(other.current_size_, 0)),
        mtime_(other.mtime_),
        stale_(std::exchange(other.stale_, false)) {}

  MboxMailbox& operator=(MboxMailbox&& other) noexcept {
    if (this != &other) {
      close_all();
      limits_ = other.limits_;
      fd_ = std::exchange(other.fd_, -1);
      map_ = std::move(other.map_);
      table_ = std::move(other.table_);
      deleted_ = std::move(other.deleted_);
      deleted_count_ = std::exchange(other.deleted_count_, 0);
      login_size_ = std::exchange(other.login_size_, 0);
      current_size_ = std::exchange(other.current_size_, 0);
      mtime_ = other.mtime_;
      stale_ = std::exchange(other.stale_, false);
    }
    return *this;
  }

  MboxMailbox(const MboxMailbox&) = delete;
  MboxMailbox& operator=(const MboxMailbox&) = delete;
  ~MboxMailbox() { close_all(); }

  // Spec 9.1. ec: errc::mailbox_refused (not a regular file, not mbox, over the limits)
  // or errc::mailbox_io (cannot stat, open, lock or map).
  void open(const Account& account, std::error_code& ec) {
    ec.clear();
    close_all();
    const char* path = account.maildrop.c_str();
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
    fd_ = ::open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      ec = errc::mailbox_io;
      return;
    }
    if (fstat(fd_, &st) != 0) return fail(ec, errc::mailbox_io);
    if (!S_ISREG(st.st_mode)) return fail(ec, errc::mailbox_refused);
    if (!detail::mbox_lock(fd_, F_RDLCK)) return fail(ec, errc::mailbox_io);
    if (fstat(fd_, &st) != 0) return fail(ec, errc::mailbox_io);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > limits_.max_mailbox_bytes) return fail(ec, errc::mailbox_refused);
    if (size == 0) {  // emptied between lstat and lock: nothing to map
      close_all();
      return;
    }
    map_ = detail::FileMapping::map(fd_, static_cast<std::size_t>(size), ec);
    if (ec) return fail(ec, errc::mailbox_io);

    const auto bytes = map_.bytes();
    const ScanStatus status =
        scan_mbox<Digest>(std::string_view(bytes.data(), bytes.size()), table_, limits_.max_messages,
                          release_behind());
    if (status != ScanStatus::ok) return fail(ec, errc::mailbox_refused);
    // Shortened under our shared lock by a program that ignores locks: what we parsed
    // was partly zero pages, so the table cannot be trusted.
    if (map_.faults() != 0) return fail(ec, errc::mailbox_io);
    table_.shrink_to_fit();  // keep the table at sizeof(MboxMessage) per message

    login_size_ = current_size_ = size;
    mtime_ = st.st_mtim.tv_sec;
    detail::mbox_hold_past_mtime(mtime_);
    detail::mbox_lock(fd_, F_UNLCK);
    deleted_.assign(table_.size(), false);
  }

  [[nodiscard]] std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(table_.size()); }
  [[nodiscard]] std::uint64_t size(MsgIndex i) const noexcept { return table_[i.value].size; }
  [[nodiscard]] UniqueId unique_id(MsgIndex i) const noexcept {
    return popa3d_unique_id(std::span<const std::uint8_t>(table_[i.value].digest));
  }

  // Spec section 12. Cheap when the whole-second mtime is unchanged (one fstat).
  // ec: errc::mailbox_changed (conflicting change, or the mapping lost bytes),
  // errc::mailbox_io (cannot stat or lock, or the file grew past max_mailbox_bytes).
  void verify(std::error_code& ec) {
    ec.clear();
    if (stale_ || map_.faults() != 0) {
      ec = errc::mailbox_changed;
      return;
    }
    if (fd_ < 0) return;  // empty or missing mailbox: nothing to change under us
    struct stat st {};
    if (fstat(fd_, &st) != 0) {
      ec = errc::mailbox_io;
      return;
    }
    // popa3d looks at the mtime only. A size below the login size is checked as well:
    // it costs nothing and catches a truncation within the same second.
    if (st.st_mtim.tv_sec == mtime_ && static_cast<std::uint64_t>(st.st_size) >= login_size_) return;
    if (!detail::mbox_lock(fd_, F_RDLCK)) {
      ec = errc::mailbox_io;
      return;
    }
    recheck(true, ec);
    detail::mbox_lock(fd_, F_UNLCK);
  }

  // The raw (LF) bytes of message i from `offset`, at most chunk_bytes, as a span into the
  // mapping; empty at the end. Valid until the next call that may change the mailbox
  // (commit, open, destruction). Check intact() after using the bytes.
  [[nodiscard]] std::span<const char> data(MsgIndex i, std::uint64_t offset, std::error_code& ec) noexcept {
    ec.clear();
    if (stale_ || map_.faults() != 0) {
      ec = errc::mailbox_changed;
      return {};
    }
    const auto& m = table_[i.value];
    if (offset >= m.data_length) return {};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, m.data_length - offset));
    const auto begin = static_cast<std::size_t>(m.data_offset + offset);
    // The engine is done with earlier chunks when it asks for the next one: release them
    // now and then, so sending every message does not make the whole file resident.
    if (handed_end_ - handed_begin_ >= release_step) {
      map_.release(handed_begin_, handed_end_);
      handed_end_ = handed_begin_;
    }
    if (handed_end_ == handed_begin_) handed_begin_ = handed_end_ = begin;
    handed_begin_ = std::min(handed_begin_, begin);
    handed_end_ = std::max(handed_end_, begin + n);
    return {map_.bytes().data() + begin, n};
  }

  [[nodiscard]] bool intact() const noexcept { return map_.faults() == 0; }

  void mark_deleted(MsgIndex i) noexcept {
    if (!deleted_[i.value]) {
      deleted_[i.value] = true;
      ++deleted_count_;
    }
  }
  [[nodiscard]] bool deleted(MsgIndex i) const noexcept { return deleted_[i.value]; }
  void reset_deleted() noexcept {
    std::fill(deleted_.begin(), deleted_.end(), false);
    deleted_count_ = 0;
  }

  // Spec section 8. Nothing marked deleted: the file is not touched, not even locked.
  // ec: errc::mailbox_changed (conflict: file untouched), errc::mailbox_io (lock, check or
  // write failed; a write failure may leave the file partly compacted, as in popa3d).
  // Afterwards the table no longer describes the file: verify(), data() and commit()
  // report errc::mailbox_changed.
  void commit(std::error_code& ec) {
    ec.clear();
    if (deleted_count_ == 0) return;
    if (stale_) {
      ec = errc::mailbox_changed;
      return;
    }
    if (!detail::mbox_lock(fd_, F_WRLCK)) {
      ec = errc::mailbox_io;
      return;
    }
    std::optional<detail::MboxSignalBlock> no_signals;
    update_locked(ec, no_signals);
    detail::mbox_lock(fd_, F_UNLCK);
  }  // signals are unblocked here, after the unlock

 private:
  using Table = std::vector<MboxMessage<Digest>>;

  void fail(std::error_code& ec, errc e) noexcept {
    close_all();  // closing the descriptor also drops our fcntl lock
    ec = e;
  }

  void close_all() noexcept {
    map_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    table_.clear();
    table_.shrink_to_fit();
    deleted_.clear();
    deleted_count_ = 0;
    login_size_ = current_size_ = 0;
    mtime_ = 0;
    stale_ = false;
  }

  // The re-check of spec section 12, with a lock held: the file must not be shorter than
  // at login, and its first login-size bytes must parse to the same table.
  void recheck(bool hold_past_mtime, std::error_code& ec) {
    struct stat st {};
    if (fstat(fd_, &st) != 0) {
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
    if (!same_table()) {
      ec = errc::mailbox_changed;
      return;
    }
    mtime_ = st.st_mtim.tv_sec;
    current_size_ = size;
    if (hold_past_mtime) detail::mbox_hold_past_mtime(mtime_);
  }

  // A scan_mbox() progress callback that releases the mapping behind the scan every
  // release_step bytes, so a 1 GiB mailbox does not become 1 GiB of resident memory.
  auto release_behind() const noexcept {
    return [this, released = std::uint64_t{0}](std::uint64_t done) mutable noexcept {
      if (done - released < release_step) return;
      map_.release(static_cast<std::size_t>(released), static_cast<std::size_t>(done));
      released = done;
    };
  }

  bool same_table() const {
    Table again;
    again.reserve(table_.size());
    const auto bytes = map_.bytes();
    // More messages than at login is already a conflict, so the scan stops there and
    // the second table never outgrows the first.
    const ScanStatus status =
        scan_mbox<Digest>(std::string_view(bytes.data(), bytes.size()), again, count(),
                          release_behind());
    if (map_.faults() != 0 || status != ScanStatus::ok || again.size() != table_.size()) return false;
    for (std::size_t k = 0; k < table_.size(); ++k) {
      const auto& a = table_[k];
      const auto& b = again[k];
      if (a.from_offset != b.from_offset || a.data_offset != b.data_offset ||
          a.data_length != b.data_length || a.size != b.size || a.digest != b.digest)
        return false;
    }
    return true;
  }

  // Under the exclusive lock: check as verify() does, then compact in place.
  // Blocks signals through `no_signals`, which the caller ends after unlocking (popa3d order).
  void update_locked(std::error_code& ec, std::optional<detail::MboxSignalBlock>& no_signals) {
    if (map_.faults() != 0) {
      ec = errc::mailbox_changed;
      return;
    }
    struct stat st {};
    if (fstat(fd_, &st) != 0) {
      ec = errc::mailbox_io;
      return;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (st.st_mtim.tv_sec != mtime_ || size < login_size_) {
      recheck(false, ec);  // no 1-second wait at UPDATE (popa3d)
      if (ec) return;
    } else if (size > limits_.max_mailbox_bytes) {
      ec = errc::mailbox_io;
      return;
    } else {
      current_size_ = size;
    }

    std::unique_ptr<char[]> buffer(new (std::nothrow) char[detail::mbox_copy_block]);
    if (!buffer) {
      ec = errc::mailbox_io;
      return;
    }
    const std::span<char> block(buffer.get(), detail::mbox_copy_block);
    stale_ = true;  // from here on the file no longer matches the table
    no_signals.emplace();

    // The raw extent of a message runs from its From line to the next From line (so it
    // keeps the blank separator line), or to the login size for the last one.
    std::size_t k = 0;
    while (k < table_.size() && !deleted_[k]) ++k;  // messages before the first deletion stay put
    std::uint64_t to = table_[k].from_offset;
    bool ok = true;
    while (ok && k < table_.size()) {
      if (deleted_[k]) {
        ++k;
        continue;
      }
      const std::uint64_t from = table_[k].from_offset;  // a run of kept messages moves at once
      while (k < table_.size() && !deleted_[k]) ++k;
      const std::uint64_t length = (k < table_.size() ? table_[k].from_offset : login_size_) - from;
      ok = detail::mbox_move_down(fd_, from, length, to, block);
      to += length;
    }
    // Mail delivered during the session follows the kept messages.
    if (ok && current_size_ > login_size_)
      ok = detail::mbox_move_down(fd_, login_size_, current_size_ - login_size_, to, block);
    if (ok) to += current_size_ - login_size_;
    if (!ok || ftruncate(fd_, static_cast<off_t>(to)) != 0 || fsync(fd_) != 0) ec = errc::mailbox_io;
  }

  Limits limits_;
  int fd_ = -1;
  detail::FileMapping map_;
  Table table_;
  std::vector<bool> deleted_;
  std::uint32_t deleted_count_ = 0;
  std::uint64_t login_size_ = 0;    // bytes scanned at open: the extent the table describes
  std::uint64_t current_size_ = 0;  // size at the last check; bytes past login_size_ are new mail
  std::time_t mtime_ = 0;           // whole seconds, as popa3d compares it
  bool stale_ = false;              // commit() rewrote the file
  // The range of the mapping handed out by data() since its pages were last released.
  std::size_t handed_begin_ = 0;
  std::size_t handed_end_ = 0;
  // Resident memory a scan or a transfer may build up before releasing it (see release()).
  static constexpr std::uint64_t release_step = 8 << 20;
};

static_assert(MailboxPolicy<MboxMailbox<Md5>>, "MboxMailbox must satisfy MailboxPolicy");

}  // namespace pop3
