// pop3/mailbox/mbox_update.hpp: UPDATE of an mbox file: the kept mail moved down in place,
// then the mail that arrived during the session, then the truncate (spec section 8); with a
// journal (mbox_journal.hpp) so that a kill or a power cut at any point leaves the file as
// before or as after once recovered (DESIGN.md, "Crash-safe UPDATE").
//
// The caller holds the exclusive lock and has checked the file against its table; this only
// moves bytes. Messages are given by their From-line offsets, as the scan found them.
//
//   pop3::detail::MboxSignalBlock no_signals;   // lock first; unblock after unlocking
//   bool ok = pop3::detail::mbox_compact(fd, count, [&](std::uint32_t k) { return table[k].from_offset; },
//                                        deletions, login_size, max_bytes, buffer);   // truncated, fsynced
//   // or mbox_journaled_compact(...) with a journal, and mbox_recover(...) before the scan
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/detail/unique_fd.hpp"
#include "pop3/log.hpp"
#include "pop3/mailbox/mbox_journal.hpp"
#include "pop3/types.hpp"

namespace pop3 {

// What the journal's fsyncs protect against (DESIGN.md, "Crash-safe UPDATE"). full: every
// write the next step relies on is on the disk first, so a power cut is survived too;
// process: the order of writes is that of the system calls, which survives the process being
// killed (the page cache stays) with no fsync but popa3d's one after the truncate.
enum class MboxDurability { full, process };

// The named points of a journaled UPDATE and of recovery, in the order they are crossed.
// The *_write points are crossed before each pwrite with the bytes about to be written, so
// a test can write part of them and stop there, as a kill inside the system call would.
enum class MboxJournalPoint {
  plan_built,       // the runs are known; nothing written yet
  journal_write,    // before each pwrite of journal records
  journal_written,  // a group or END is written, before its fsync
  journal_synced,   // after that fsync (crossed in both modes)
  move_write,       // before each pwrite of a kept move
  between_moves,    // after each run of kept mail moved
  arrival_write,    // before each pwrite of a move of arrived mail
  before_end_mark,
  after_end_mark,
  before_truncate,
  after_truncate,
  before_done,      // before the journal is emptied
  after_done,
  recovery_begun,   // recovery found a valid journal, before it writes anything
};

// For tests only: called at each MboxJournalPoint. The daemon never sets it; unset it costs
// one predictable branch per point, a few per UPDATE (DESIGN.md says why a pointer and not a
// macro).
using MboxJournalHook = void (*)(MboxJournalPoint point, int fd, std::span<const char> bytes, std::uint64_t offset);

struct MboxJournalOptions {
  MboxDurability durability = MboxDurability::full;
  MboxJournalHook hook = nullptr;
};

// A mailbox's journal, as MboxMailbox::use_journal() takes it (mbox_journal_dir.hpp opens
// one): the descriptor, the identity of the file it was made for (a session whose mailbox
// turns out to be another file does without), and where recovery and fallbacks are logged.
struct MboxJournal {
  detail::UniqueFd fd;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  MboxJournalOptions options;
  LogSink log;
};

}  // namespace pop3

namespace pop3::detail {

inline void cross(const MboxJournalOptions& options, MboxJournalPoint point, int fd = -1,
                  std::span<const char> bytes = {}, std::uint64_t offset = 0) {
  if (options.hook != nullptr) options.hook(point, fd, bytes, offset);
}

inline bool mbox_pwrite_all(int fd, const char* bytes, std::size_t n, std::uint64_t at) noexcept {
  while (n > 0) {
    const ssize_t put = pwrite(fd, bytes, n, static_cast<off_t>(at));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    bytes += put;
    n -= static_cast<std::size_t>(put);
    at += static_cast<std::uint64_t>(put);
  }
  return true;
}

// Reads exactly `n` bytes at `at`; a shorter file is a failure.
inline bool mbox_pread_all(int fd, char* bytes, std::size_t n, std::uint64_t at) noexcept {
  while (n > 0) {
    const ssize_t got = pread(fd, bytes, n, static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    bytes += got;
    n -= static_cast<std::size_t>(got);
    at += static_cast<std::uint64_t>(got);
  }
  return true;
}

// Starts the disk writes of [from, to) of `fd` once at least mbox_writeback_bytes have
// gathered there, and advances `from`, so that the fdatasync that follows waits for less
// (a hint only: that fdatasync is the guarantee, so a failure here changes nothing).
inline constexpr std::uint64_t mbox_writeback_bytes = std::uint64_t{8} << 20;
inline void mbox_start_writeback(int fd, std::uint64_t& from, std::uint64_t to) noexcept {
  if (to < from + mbox_writeback_bytes) return;
  (void)sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(to - from), SYNC_FILE_RANGE_WRITE);
  from = to;
}

// Copies `length` bytes at `from` to `to` (to <= from) in the same file, front to back,
// so overlapping ranges move like memmove. A file shortened behind our lock gives a
// short read, which is an I/O error here. With the journal's `journaled` options, each write
// crosses `point`, and in full durability its disk writes start as it goes.
inline bool mbox_move_down(int fd, std::uint64_t from, std::uint64_t length, std::uint64_t to,
                           std::span<char> buffer, const MboxJournalOptions* journaled = nullptr,
                           MboxJournalPoint point = MboxJournalPoint::move_write) {
  std::uint64_t written_from = to;
  while (length > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer.size()));
    const ssize_t got = pread(fd, buffer.data(), want, static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    const auto done = static_cast<std::size_t>(got);
    if (journaled != nullptr) cross(*journaled, point, fd, {buffer.data(), done}, to);
    if (!mbox_pwrite_all(fd, buffer.data(), done, to)) return false;
    from += done;
    to += done;
    length -= done;
    if (journaled != nullptr && journaled->durability == MboxDurability::full) mbox_start_writeback(fd, written_from, to);
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

// Size checks once the kept mail has moved (mbox_move_arrivals()): each one after the first
// runs only if mail arrived, without the lock, during the move before it.
inline constexpr unsigned mbox_max_arrival_checks = 64;

// Moves every byte past `from` (the login size) down to `to`, advancing `to`. A program that
// appends without the lock may add mail at any moment, so the size is checked again after
// each move and what arrived is moved in turn, until a check finds nothing new; that fstat is
// then the last system call before the caller's ftruncate, as popa3d's last read() is.
// False if a move failed, the file shrank under us, or it was still growing at the last of
// mbox_max_arrival_checks checks or had grown past `max_bytes` (these bound the work): the
// caller must not truncate then, which would cut off mail; the file keeps stale bytes
// between the kept mail and the arrivals, but loses nothing.
inline bool mbox_move_arrivals(int fd, std::uint64_t from, std::uint64_t& to, std::uint64_t max_bytes,
                               std::span<char> block) noexcept {
  for (unsigned check = 0; check < mbox_max_arrival_checks; ++check) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return false;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size == from) return true;
    if (size < from || size > max_bytes) return false;
    if (!mbox_move_down(fd, from, size - from, to, block)) return false;
    to += size - from;
    from = size;
  }
  return false;
}

// Compacts the file: message k of the table starts at from_offset(k) (its From line) and runs
// to the next message's From line (so it keeps the blank separator line), or to `login_size`
// for the last one; the messages `deletions` marks go, the others move down in runs, and mail
// delivered during the session follows them. Then truncates and fsyncs. `deletions` marks at
// least one of the `count` messages. False on any I/O failure (the file may then be left
// partly compacted, as in popa3d).
template <class FromOffset>
bool mbox_compact(int fd, std::uint32_t count, FromOffset from_offset, const DeletionSet& deletions,
                  std::uint64_t login_size, std::uint64_t max_bytes, std::span<char> block) noexcept {
  const auto kept = [&](std::uint32_t k) { return !deletions.marked(MsgIndex{k}); };
  std::uint32_t k = 0;
  while (k < count && kept(k)) ++k;  // messages before the first deletion stay put
  std::uint64_t to = from_offset(k);
  bool ok = true;
  while (ok && k < count) {
    if (!kept(k)) {
      ++k;
      continue;
    }
    const std::uint64_t from = from_offset(k);  // a run of kept messages moves at once
    while (k < count && kept(k)) ++k;
    const std::uint64_t length = (k < count ? from_offset(k) : login_size) - from;
    ok = mbox_move_down(fd, from, length, to, block);
    to += length;
  }
  return ok && mbox_move_arrivals(fd, login_size, to, max_bytes, block) &&
         ftruncate(fd, static_cast<off_t>(to)) == 0 && fsync(fd) == 0;
}

// ---- the journaled UPDATE -------------------------------------------------------------------

inline bool mbox_size(int fd, std::uint64_t& size) noexcept {
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  size = static_cast<std::uint64_t>(st.st_size);
  return true;
}

// The bytes the journaled UPDATE works in: the caller's block holds one record, its payload
// on a page boundary (so reads into it are page-aligned when the block is).
inline constexpr std::size_t journal_block_min = 4096 + journal_record_max;

// Appends records to the journal, each written with one pwrite from the block.
class MboxJournalWriter {
 public:
  MboxJournalWriter(int fd, const MboxJournalOptions& options, std::span<char> block, std::uint64_t nonce,
                    std::uint32_t seq, std::uint64_t offset) noexcept
      : fd_(fd), options_(options), nonce_(nonce), seq_(seq), offset_(offset) {
    const auto base = reinterpret_cast<std::uintptr_t>(block.data()) + journal_header_bytes;
    payload_ = block.data() + ((base + 4095) / 4096 * 4096 - base) + journal_header_bytes;
  }

  [[nodiscard]] char* payload() const noexcept { return payload_; }
  [[nodiscard]] std::uint64_t nonce() const noexcept { return nonce_; }

  bool write(JournalRecordType type, std::size_t payload_size) {
    char* record = payload_ - journal_header_bytes;
    const std::size_t n = finish_journal_record(record, type, seq_, nonce_, payload_size);
    cross(options_, MboxJournalPoint::journal_write, fd_, {record, n}, offset_);
    if (!mbox_pwrite_all(fd_, record, n, offset_)) return false;
    ++seq_;
    offset_ += n;
    if (options_.durability == MboxDurability::full) mbox_start_writeback(fd_, written_from_, offset_);
    return true;
  }

  // `length` bytes of the mailbox at `from` as DATA, packed with those before them: every
  // DATA record of a group but its last is full (journal_data_position).
  bool add_data(int mailbox, std::uint64_t from, std::uint64_t length) {
    while (length > 0) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, journal_data_max - pending_));
      if (!mbox_pread_all(mailbox, payload_ + pending_, n, from)) return false;
      pending_ += n;
      from += n;
      length -= n;
      if (pending_ == journal_data_max && !flush_data()) return false;
    }
    return true;
  }

  // Writes the group's last DATA record and the seal, and syncs.
  bool seal(std::uint64_t data_bytes, std::uint64_t runs) {
    if (pending_ > 0 && !flush_data()) return false;
    put_u64(payload_, data_bytes);
    put_u64(payload_ + 8, runs);
    return write(JournalRecordType::seal, 16) && sync();
  }

  // The group just written reaches the disk before anything relies on it (full durability).
  bool sync() {
    cross(options_, MboxJournalPoint::journal_written, fd_);
    if (options_.durability == MboxDurability::full && fdatasync(fd_) != 0) return false;
    cross(options_, MboxJournalPoint::journal_synced, fd_);
    return true;
  }

 private:
  int fd_;
  const MboxJournalOptions& options_;
  std::uint64_t nonce_;
  std::uint32_t seq_;
  std::uint64_t offset_;
  char* payload_ = nullptr;
  std::size_t pending_ = 0;  // DATA bytes in the payload, not yet written
  std::uint64_t written_from_ = 0;  // journal offset from which writeback has not been started

  bool flush_data() {
    const std::size_t n = pending_;
    pending_ = 0;
    return write(JournalRecordType::data, n);
  }
};

// Whether the journal holds nothing to recover: shorter than a record header, or beginning
// with the done mark. False when it cannot be read (recovery then says so).
inline bool mbox_journal_idle(int journal_fd) noexcept {
  std::array<char, journal_header_bytes> head{};
  const ssize_t got = pread(journal_fd, head.data(), head.size(), 0);
  return got >= 0 && (static_cast<std::size_t>(got) < head.size() || head == journal_done_mark);
}

// Ends the journal's use for this UPDATE. In full durability the done mark: the journal's
// blocks, synced, stay for the next UPDATE (freeing 200 MiB of them and allocating them again
// cost more than popa3d's whole QUIT). In process durability the journal is emptied instead,
// so that its pages, never synced, are dropped rather than written to the disk later (and
// waited for by the next UPDATE that rewrites them).
inline bool mbox_mark_journal_done(int journal_fd, const MboxJournalOptions& options) noexcept {
  if (options.durability == MboxDurability::process) return ftruncate(journal_fd, 0) == 0;
  return mbox_pwrite_all(journal_fd, journal_done_mark.data(), journal_done_mark.size(), 0);
}

// Allocates the journal's first `bytes` bytes (zeros, which are no record) before the first
// move, so that no write after the point of no return can fail for want of space: a full disk
// fails here, where the update can still be done in place. A file system without fallocate
// gets no reservation.
inline bool mbox_reserve_journal(int journal_fd, std::uint64_t bytes) noexcept {
  return fallocate(journal_fd, 0, 0, static_cast<off_t>(bytes)) == 0 || errno == EOPNOTSUPP;
}

// The mailbox's writes so far reach the disk before a journal record says they happened.
inline bool mbox_sync_moves(int fd, const MboxJournalOptions& options) noexcept {
  return options.durability != MboxDurability::full || fdatasync(fd) == 0;
}

// The checksum of the last bytes before `final_size` (at most 4 KiB, none before `end`), as END
// records it: after a crash past END, the same bytes there mean the truncate never happened,
// other bytes that it did and mail was appended since (DESIGN.md).
inline bool mbox_tail_hash(int fd, std::uint64_t end, std::uint64_t final_size, std::uint64_t nonce,
                           std::span<char> block, std::uint64_t& hash) noexcept {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(4096, final_size - end));
  if (!mbox_pread_all(fd, block.data(), n, final_size - n)) return false;
  hash = journal_hash(nonce, {block.data(), n});
  return true;
}

// From (from, to) on, as after the kept moves: moves the mail that arrived, writes END, and
// truncates; then empties the journal. Each arrival group is in the journal before it moves,
// and the file is checked again after END, so that an append before the truncate is still
// moved (the window that remains is popa3d's: between that fstat and the ftruncate).
// `ended`: the journal's last record is END for (from, to). False on any failure, or if mail
// kept arriving for mbox_max_arrival_checks moves: the journal then says how to finish.
inline bool mbox_finish(int fd, MboxJournalWriter& journal, int journal_fd, const MboxJournalOptions& options,
                        std::uint64_t from, std::uint64_t to, bool ended, std::uint64_t max_bytes,
                        std::span<char> block) {
  unsigned moves = 0;
  for (;;) {
    std::uint64_t size = 0;
    if (!mbox_size(fd, size) || size < from || size > max_bytes) return false;
    if (size == from) {
      if (ended) break;
      std::uint64_t tail = 0;
      if (!mbox_tail_hash(fd, to, from, journal.nonce(), block, tail)) return false;
      cross(options, MboxJournalPoint::before_end_mark, fd);
      put_u64(journal.payload(), to);
      put_u64(journal.payload() + 8, from);
      put_u64(journal.payload() + 16, tail);
      if (!journal.write(JournalRecordType::end, 24) || !journal.sync()) return false;
      cross(options, MboxJournalPoint::after_end_mark, fd);
      ended = true;
      continue;  // look once more, after END
    }
    if (++moves > mbox_max_arrival_checks) return false;
    // The arrived bytes, which their writer may not have synced, reach the disk before a
    // journal record names them.
    if (!mbox_sync_moves(fd, options)) return false;
    const bool journaled = arrival_journaled(from, size, to);
    put_u64(journal.payload(), from);
    put_u64(journal.payload() + 8, size);
    put_u64(journal.payload() + 16, to);
    if (!journal.write(JournalRecordType::arrival, 24) || (journaled && !journal.add_data(fd, from, size - from)) ||
        !journal.seal(journaled ? size - from : 0, 0))
      return false;
    if (!mbox_move_down(fd, from, size - from, to, block, &options, MboxJournalPoint::arrival_write) ||
        !mbox_sync_moves(fd, options))
      return false;
    to += size - from;
    from = size;
    ended = false;
  }
  cross(options, MboxJournalPoint::before_truncate, fd);
  if (ftruncate(fd, static_cast<off_t>(to)) != 0) return false;
  cross(options, MboxJournalPoint::after_truncate, fd);
  if (fsync(fd) != 0) return false;
  cross(options, MboxJournalPoint::before_done, journal_fd);
  if (!mbox_mark_journal_done(journal_fd, options)) return false;
  cross(options, MboxJournalPoint::after_done, journal_fd);
  return true;
}

// What a journaled UPDATE needs besides the table: the journal and the mailbox's identity.
struct MboxJournalTarget {
  int journal_fd = -1;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::string_view path;
  MboxJournalOptions options;
};

enum class MboxJournaled {
  done,        // compacted, truncated, fsynced; the journal is empty again
  unjournaled, // the journal could not be written (why says why); the mailbox is untouched
  failed,      // an I/O error after the plan was durable: recovery will finish the update
};

inline std::uint64_t journal_nonce() noexcept {
  std::uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof nonce)) {
    nonce = static_cast<std::uint64_t>(std::time(nullptr)) * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint64_t>(getpid());
  }
  return nonce;
}

// mbox_compact() with a journal: the plan and the kept bytes the moves will overwrite go to
// the journal and reach the disk (full) first; then the moves; then mbox_finish(). `block`
// holds at least journal_block_min bytes.
template <class FromOffset>
MboxJournaled mbox_journaled_compact(int fd, const MboxJournalTarget& target, std::uint32_t count,
                                     FromOffset from_offset, const DeletionSet& deletions, std::uint64_t login_size,
                                     std::uint64_t max_bytes, std::span<char> block, std::string& why) {
  const MboxJournalOptions& options = target.options;
  const auto kept = [&](std::uint32_t k) { return !deletions.marked(MsgIndex{k}); };
  MboxJournalPlan plan;
  plan.nonce = journal_nonce();
  plan.device = target.device;
  plan.inode = target.inode;
  plan.login_size = login_size;
  try {
    plan.path.assign(target.path);
    std::uint32_t k = 0;
    while (k < count && kept(k)) ++k;
    plan.first_to = from_offset(k);
    std::uint64_t to = plan.first_to;
    while (k < count) {
      if (!kept(k)) {
        ++k;
        continue;
      }
      const std::uint64_t from = from_offset(k);
      while (k < count && kept(k)) ++k;
      const std::uint64_t length = (k < count ? from_offset(k) : login_size) - from;
      plan.runs.push_back({from, length, to});
      to += length;
    }
    plan.kept_end = to;
  } catch (const std::bad_alloc&) {
    why = "no memory for the journal's plan";
    return MboxJournaled::unjournaled;
  }
  for (const MboxJournalRun& run : plan.runs) plan.journaled += journaled_part(run, plan.kept_end);
  const std::uint64_t run_records = (plan.runs.size() + journal_runs_per_record - 1) / journal_runs_per_record;
  const std::uint64_t journal_bytes =
      journal_record_bytes(journal_plan_fixed + plan.path.size()) + plan.runs.size() * journal_run_bytes +
      run_records * journal_record_bytes(0) + journal_data_bytes(plan.journaled) + journal_record_bytes(16) +
      journal_tail_bytes(mbox_max_arrival_checks);
  cross(options, MboxJournalPoint::plan_built, fd);

  // The plan group. Any failure here leaves the mailbox as it was: empty the journal again.
  MboxJournalWriter journal(target.journal_fd, options, block, plan.nonce, 0, 0);
  std::size_t plan_bytes = 0;
  bool written = mbox_reserve_journal(target.journal_fd, journal_bytes) &&
                 encode_journal_plan(plan, journal.payload(), plan_bytes) &&
                 journal.write(JournalRecordType::plan, plan_bytes);
  for (std::size_t r = 0; written && r < plan.runs.size(); r += journal_runs_per_record) {
    const std::size_t n = std::min(journal_runs_per_record, plan.runs.size() - r);
    for (std::size_t i = 0; i < n; ++i) {
      const MboxJournalRun& run = plan.runs[r + i];
      put_u64(journal.payload() + i * journal_run_bytes, run.from);
      put_u64(journal.payload() + i * journal_run_bytes + 8, run.length);
      put_u64(journal.payload() + i * journal_run_bytes + 16, run.to);
    }
    written = journal.write(JournalRecordType::runs, n * journal_run_bytes);
  }
  for (std::size_t r = 0; written && r < plan.runs.size(); ++r) {
    const std::uint64_t n = journaled_part(plan.runs[r], plan.kept_end);
    if (n == 0) break;
    written = journal.add_data(fd, plan.runs[r].from, n);
  }
  written = written && journal.seal(plan.journaled, plan.runs.size());
  if (!written) {
    why = std::strerror(errno);
    // Frees what the plan took; if even that fails the plan is still no valid group.
    if (ftruncate(target.journal_fd, 0) != 0) why += ", and the journal could not be emptied";
    return MboxJournaled::unjournaled;
  }

  for (const MboxJournalRun& run : plan.runs) {
    if (!mbox_move_down(fd, run.from, run.length, run.to, block, &options)) return MboxJournaled::failed;
    cross(options, MboxJournalPoint::between_moves, fd);
  }
  if (!mbox_sync_moves(fd, options) ||
      !mbox_finish(fd, journal, target.journal_fd, options, login_size, plan.kept_end, false, max_bytes, block))
    return MboxJournaled::failed;
  return MboxJournaled::done;
}

// Copies `length` journaled bytes, from byte `first` of a group's data on, to `to` in the
// mailbox, each DATA record checked again as it is read.
inline bool mbox_copy_journaled(int fd, int journal_fd, const MboxJournalOptions& options, std::uint64_t nonce,
                                std::uint64_t data_at, std::uint32_t data_seq, std::uint64_t first,
                                std::uint64_t length, std::uint64_t to, std::span<char> block) {
  while (length > 0) {
    const JournalDataPosition at = journal_data_position(data_at, data_seq, first);
    const ssize_t got = pread(journal_fd, block.data(), std::min(block.size(), journal_record_max),
                              static_cast<off_t>(at.record_at));
    JournalRecord record;
    if (got <= 0 ||
        parse_journal_record({block.data(), static_cast<std::size_t>(got)}, nonce, at.seq, record) <= 0 ||
        record.type != JournalRecordType::data || record.payload.size() <= at.in_payload)
      return false;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, record.payload.size() - at.in_payload));
    const std::span<const char> bytes = record.payload.subspan(at.in_payload, n);
    cross(options, MboxJournalPoint::move_write, fd, bytes, to);
    if (!mbox_pwrite_all(fd, bytes.data(), n, to)) return false;
    first += n;
    length -= n;
    to += n;
  }
  return true;
}

enum class MboxRecovery {
  clean,      // no journal to act on (none, empty, or never valid: then nothing was touched)
  recovered,  // the interrupted UPDATE is finished
  refused,    // the journal is not this mailbox's, or the file does not hold what it needs (why)
  failed,     // an I/O error: the journal still says how to finish
};

// Recovery, under the exclusive lock, before the scan: reads the journal, and if it holds a
// sealed plan for this file, finishes the UPDATE it describes (DESIGN.md, "Crash-safe
// UPDATE"): redoes the last step that may not have completed (the kept moves, or the last
// arrival move), then goes on as mbox_finish() does. Repeating it after a crash repeats
// the same writes. `block` holds at least journal_block_min bytes.
inline MboxRecovery mbox_recover(int fd, const MboxJournalTarget& target, std::uint64_t max_bytes,
                                 std::uint32_t max_runs, std::span<char> block, std::string& why) {
  const int journal_fd = target.journal_fd;
  const MboxJournalOptions& options = target.options;
  std::uint64_t journal_size = 0;
  if (!mbox_size(journal_fd, journal_size)) return MboxRecovery::failed;
  if (journal_size == 0) return MboxRecovery::clean;
  MboxJournalScan scan(max_bytes, max_runs);
  try {
    std::size_t have = 0;
    for (;;) {
      const ssize_t got = pread(journal_fd, block.data() + have, std::min(block.size(), journal_record_max) - have,
                                static_cast<off_t>(scan.offset() + have));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return MboxRecovery::failed;
      have += static_cast<std::size_t>(got);
      const long n = scan.feed({block.data(), have});
      if (n > 0) {
        have -= static_cast<std::size_t>(n);
        std::memmove(block.data(), block.data() + n, have);
        continue;
      }
      if (n == journal_need_more && got > 0) continue;
      break;  // invalid, or the journal ends inside a record: its valid prefix counts
    }
  } catch (const std::bad_alloc&) {
    return MboxRecovery::failed;
  }
  if (!scan.plan_sealed()) {
    // The plan never became valid (or the journal is done), so the mailbox is not touched.
    return mbox_mark_journal_done(journal_fd, options) ? MboxRecovery::clean : MboxRecovery::failed;
  }
  const MboxJournalPlan& plan = scan.plan();
  if (plan.device != target.device || plan.inode != target.inode || plan.path != target.path) {
    why = "journal for " + plan.path + " (device " + std::to_string(plan.device) + ", inode " +
          std::to_string(plan.inode) + "), not this mailbox";
    return MboxRecovery::refused;
  }
  std::uint64_t size = 0;
  if (!mbox_size(fd, size)) return MboxRecovery::failed;
  cross(options, MboxJournalPoint::recovery_begun, fd);
  // New records go after the valid prefix, and nothing stale may follow them. The space for
  // them is taken again at once; past the point of no return, a failure to reserve it cannot
  // stop recovery (a write that then finds the disk full fails, and the next session retries).
  if (ftruncate(journal_fd, static_cast<off_t>(scan.valid_end())) != 0) return MboxRecovery::failed;
  (void)mbox_reserve_journal(journal_fd, scan.valid_end() + journal_tail_bytes(mbox_max_arrival_checks));
  MboxJournalWriter journal(journal_fd, options, block, plan.nonce, scan.valid_records(), scan.valid_end());

  if (!scan.kept_moved()) {
    if (size < plan.login_size) {
      why = "the mailbox is shorter than the journal's plan: left as it is";
      return MboxRecovery::refused;
    }
    std::uint64_t journaled = 0;
    for (const MboxJournalRun& run : plan.runs) {
      const std::uint64_t n = journaled_part(run, plan.kept_end);
      if (n > 0 && !mbox_copy_journaled(fd, journal_fd, options, plan.nonce, plan.data_at, plan.data_seq, journaled,
                                        n, run.to, block))
        return MboxRecovery::failed;
      journaled += n;
      if (n < run.length && !mbox_move_down(fd, run.from + n, run.length - n, run.to + n, block, &options))
        return MboxRecovery::failed;
      cross(options, MboxJournalPoint::between_moves, fd);
    }
    if (!mbox_sync_moves(fd, options)) return MboxRecovery::failed;
  } else if (!scan.arrivals().empty() && !scan.ended() && scan.next_from() == scan.arrivals().back().end) {
    // The last arrival group is the last record: its move may not have completed.
    const MboxJournalArrival& a = scan.arrivals().back();
    const bool journaled = arrival_journaled(a.from, a.end, a.to);
    if (!journaled && size < a.end) {
      why = "the mailbox is shorter than the journal's last arrival: left as it is";
      return MboxRecovery::refused;
    }
    const bool ok = journaled ? mbox_copy_journaled(fd, journal_fd, options, plan.nonce, a.data_at, a.data_seq, 0,
                                                    a.end - a.from, a.to, block)
                              : mbox_move_down(fd, a.from, a.end - a.from, a.to, block, &options,
                                               MboxJournalPoint::arrival_write);
    if (!ok || !mbox_sync_moves(fd, options)) return MboxRecovery::failed;
  }

  const std::uint64_t from = scan.next_from();
  const std::uint64_t to = scan.next_to();
  if (scan.ended()) {
    if (size < to) {
      why = "the mailbox is shorter than the journal's end mark: left as it is";
      return MboxRecovery::refused;
    }
    // Truncated already (and perhaps mail appended since), unless the bytes before the
    // end mark's final size are still the ones it recorded.
    std::uint64_t tail = 0;
    const bool truncated = size < from || !mbox_tail_hash(fd, to, from, plan.nonce, block, tail) ||
                           tail != scan.tail_hash();
    if (truncated) {
      cross(options, MboxJournalPoint::before_done, journal_fd);
      if (!mbox_mark_journal_done(journal_fd, options)) return MboxRecovery::failed;
      cross(options, MboxJournalPoint::after_done, journal_fd);
      return MboxRecovery::recovered;
    }
  }
  if (!mbox_finish(fd, journal, journal_fd, options, from, to, scan.ended(), max_bytes, block))
    return MboxRecovery::failed;
  return MboxRecovery::recovered;
}

}  // namespace pop3::detail
