// pop3/mailbox/mbox_update.hpp: UPDATE of an mbox file: the kept mail moved down in place,
// then the mail that arrived during the session, then the truncate (spec section 8).
//
// The caller holds the exclusive lock and has checked the file against its table; this only
// moves bytes. Messages are given by their From-line offsets, as the scan found them.
//
//   pop3::detail::MboxSignalBlock no_signals;   // lock first; unblock after unlocking
//   bool ok = pop3::detail::mbox_compact(fd, count, [&](std::uint32_t k) { return table[k].from_offset; },
//                                        deletions, login_size, max_bytes, buffer);   // truncated, fsynced
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

#include "pop3/types.hpp"

namespace pop3::detail {

// Copies `length` bytes at `from` to `to` (to <= from) in the same file, front to back,
// so overlapping ranges move like memmove. A file shortened behind our lock gives a
// short read, which is an I/O error here.
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

}  // namespace pop3::detail
