// pop3/mailbox/mbox_source.hpp: how MboxMailbox gets the bytes of its file (a policy).
//
// PreadSource reads windows with pread() into a page-aligned buffer; MmapSource maps the
// windows the scan walks, guarded against SIGBUS (detail/mapping_guard.hpp), and reads
// message bytes as PreadSource does. Both keep the
// bytes from a given offset on when the next window is asked for from inside the last one,
// so a scanner's carry never shifts where the next read lands (DESIGN.md, "Read buffers"),
// and both hold at most a few MiB of the file at a time, whatever its size.
//
//   pop3::MmapSource source;
//   std::error_code ec;
//   auto bytes = source.view(fd, 0, 4096, file_size, ec);   // at least 4096 bytes, or ec
//   if (!ec && source.intact(fd)) { /* the bytes were the file's */ }
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "pop3/detail/aligned_buffer.hpp"
#include "pop3/detail/mapping_guard.hpp"
#include "pop3/error.hpp"

namespace pop3 {

/// MboxByteSource: the bytes of one mbox file, a window at a time. `fd` is the open file,
/// `end` the size the caller believes it has; `want` <= S::window_bytes.
///   S s;                                 : holds nothing; allocates on first use
///   s.prepare()             -> bool      : allocates what later calls need; false if out of memory
///   s.view(fd, offset, want, end, ec) -> string_view
///                                        : file bytes from `offset`, at least min(want, end - offset)
///                                          of them and none at or past `end`, valid until the next
///                                          call of view, read or block, or drop(). If `offset` lies
///                                          in the last view, the bytes still held are kept, not read
///                                          again. ec: errc::mailbox_changed if the file holds fewer
///                                          bytes than that now, errc::mailbox_io if reading failed.
///                                          The bytes may read as zeros if the file shrinks under the
///                                          view (a program that ignores locks): see intact().
///   s.read(fd, offset, want, end, ec) -> span<const char>
///                                        : as view, but bytes that nothing changes any more once it
///                                          returns (a copy if need be), and checked as intact() does
///   s.intact(fd)            -> bool      : false if a byte of a view given since the last drop()
///                                          may have read as zero because the file shrank
///   s.drop()                             : forgets every window, so the next view reads again
///   s.block(ec)             -> span<char>: after drop(), window_bytes page-aligned bytes the caller
///                                          may use until the next call (UPDATE's copy buffer);
///                                          empty with errc::mailbox_io if out of memory
/// No call raises a signal or throws; a source is move-only and holds no descriptor.
template <class S>
concept MboxByteSource = std::default_initializable<S> && std::movable<S> &&
  requires(S& s, int fd, std::uint64_t offset, std::size_t want, std::error_code& ec) {
    { S::window_bytes } -> std::convertible_to<std::size_t>;
    { s.prepare() } -> std::same_as<bool>;
    { s.view(fd, offset, want, offset, ec) } -> std::same_as<std::string_view>;
    { s.read(fd, offset, want, offset, ec) } -> std::same_as<std::span<const char>>;
    { s.intact(fd) } -> std::same_as<bool>;
    { s.drop() } -> std::same_as<void>;
    { s.block(ec) } -> std::same_as<std::span<char>>;
  };

namespace detail {

// Bytes per pread() of the scan, of data()'s read-ahead and per block of the UPDATE copy;
// popa3d uses 64 KiB (FILE_BUFFER_SIZE). Chosen over 1 MiB by measurement (DESIGN.md, "Read
// buffers"): each new session process pays for every page of the buffer.
inline constexpr std::size_t mbox_block = std::size_t{256} << 10;

// Reads `n` bytes at `offset`, continuing after partial reads and EINTR. Returns the bytes
// read, fewer than `n` only at the end of the file, or -1 if a read failed.
inline ssize_t mbox_pread(int fd, char* to, std::size_t n, std::uint64_t offset) noexcept {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = pread(fd, to + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace detail

/// pread() windows of mbox_block bytes into one page-aligned buffer. A view asked for from
/// at most a page before the end of the last one moves those bytes in front of the buffer's
/// body and reads on at the body, so every read lands at a page boundary.
class PreadSource {
 public:
  static constexpr std::size_t window_bytes = detail::mbox_block;

  bool prepare() noexcept {
    if (!buffer_) buffer_ = detail::AlignedBuffer(window_bytes);
    return static_cast<bool>(buffer_);
  }

  std::string_view view(int fd, std::uint64_t offset, std::size_t want, std::uint64_t end, std::error_code& ec) noexcept {
    ec.clear();
    assert(want <= window_bytes && offset <= end);
    want = static_cast<std::size_t>(std::min<std::uint64_t>(want, end - offset));
    if (offset >= begin_ && offset + want <= end_) return held(offset, end);
    if (!prepare()) {
      ec = errc::mailbox_io;
      return {};
    }
    std::uint64_t read_at = offset;
    const char* first = buffer_.body();
    if (offset >= begin_ && offset < end_ && end_ - offset <= detail::AlignedBuffer::head()) {
      first = buffer_.carry(data_ + (offset - begin_), static_cast<std::size_t>(end_ - offset));
      read_at = end_;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(window_bytes, end - read_at));
    const ssize_t got = detail::mbox_pread(fd, buffer_.body(), n, read_at);
    if (got < 0 || read_at + static_cast<std::uint64_t>(got) < offset + want) {
      drop();
      ec = got < 0 ? errc::mailbox_io : errc::mailbox_changed;
      return {};
    }
    data_ = first;
    begin_ = offset;
    end_ = read_at + static_cast<std::uint64_t>(got);
    return held(offset, end);
  }

  // pread() copies: nothing changes the bytes once they are read.
  std::span<const char> read(int fd, std::uint64_t offset, std::size_t want, std::uint64_t end, std::error_code& ec) noexcept {
    const std::string_view bytes = view(fd, offset, want, end, ec);
    return {bytes.data(), bytes.size()};
  }

  [[nodiscard]] bool intact(int) const noexcept { return true; }

  void drop() noexcept {
    data_ = nullptr;
    begin_ = end_ = 0;
  }

  std::span<char> block(std::error_code& ec) noexcept {
    ec.clear();
    drop();
    if (!prepare()) {
      ec = errc::mailbox_io;
      return {};
    }
    return {buffer_.body(), window_bytes};
  }

 private:
  // The bytes held from `offset` on, up to `end`.
  std::string_view held(std::uint64_t offset, std::uint64_t end) const noexcept {
    return {data_ + (offset - begin_), static_cast<std::size_t>(std::min(end_, end) - offset)};
  }

  detail::AlignedBuffer buffer_;
  // File bytes [begin_, end_) are at data_ (in buffer_, or in its head before the body).
  const char* data_ = nullptr;
  std::uint64_t begin_ = 0;
  std::uint64_t end_ = 0;
};

static_assert(MboxByteSource<PreadSource>, "PreadSource must satisfy MboxByteSource");

/// Windows of the file mapped read-only, mapping_bytes at a time at page boundaries, the last
/// one unmapped when the next is mapped, so that at most mapping_bytes of the file are
/// resident in this process. A window asked for from inside the last one but past what it
/// holds is mapped from the page that holds `offset`: the carry costs nothing. The file is
/// checked (fstat) to be long enough before each window is mapped; if it shrinks while a
/// window is in use, pages past its new end fault, and the SIGBUS guard puts zero pages in
/// their place; the rest of the page that holds the new end reads as zeros without a fault.
/// So intact() counts the faults and compares the file's size (fstat) with the bytes handed
/// out. read() and block() are PreadSource's: message bytes must be copied out of the file
/// before they are sent anyway (so that zeros a shrinking file left in a mapping never reach
/// a client), and pread() copies them with no page faults (DESIGN.md, "pread or mmap").
class MmapSource {
 public:
  static constexpr std::size_t window_bytes = detail::mbox_block;
  // Bytes mapped at once: the bound on resident file pages (DESIGN.md, "pread or mmap").
  static constexpr std::size_t mapping_bytes = std::size_t{2} << 20;
  static_assert(mapping_bytes >= 2 * window_bytes);

  // Windows are mapped when needed, and read() and block() allocate their buffer then.
  bool prepare() noexcept { return true; }

  std::string_view view(int fd, std::uint64_t offset, std::size_t want, std::uint64_t end, std::error_code& ec) noexcept {
    ec.clear();
    assert(want <= window_bytes && offset <= end);
    want = static_cast<std::size_t>(std::min<std::uint64_t>(want, end - offset));
    if (mapping_.mapped() && offset >= begin_ && offset + want <= begin_ + mapping_.bytes().size()) return held(offset, end);
    if (want == 0) return {};
    unmap();
    const std::uint64_t page = detail::page_bytes();
    const std::uint64_t first = offset / page * page;
    const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(mapping_bytes, end - first));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      ec = errc::mailbox_io;
      return {};
    }
    if (static_cast<std::uint64_t>(st.st_size) < first + length) {
      ec = errc::mailbox_changed;
      return {};
    }
    mapping_ = detail::FileMapping::map(fd, first, length, ec);
    if (ec) return {};
    begin_ = first;
    return held(offset, end);
  }

  std::span<const char> read(int fd, std::uint64_t offset, std::size_t want, std::uint64_t end, std::error_code& ec) noexcept {
    return reader_.read(fd, offset, want, end, ec);
  }

  [[nodiscard]] bool intact(int fd) const noexcept { return holds(fd, handed_out_); }

  void drop() noexcept {
    mapping_.reset();
    shrank_ = false;
    handed_out_ = 0;
    reader_.drop();
  }

  std::span<char> block(std::error_code& ec) noexcept {
    drop();
    return reader_.block(ec);
  }

 private:
  // The bytes mapped from `offset` on, up to `end`.
  std::string_view held(std::uint64_t offset, std::uint64_t end) noexcept {
    const std::uint64_t last = std::min(begin_ + mapping_.bytes().size(), end);
    handed_out_ = std::max(handed_out_, last);
    return {mapping_.bytes().data() + (offset - begin_), static_cast<std::size_t>(last - offset)};
  }

  // No fault since drop(), and the file still has its bytes up to `end`.
  bool holds(int fd, std::uint64_t end) const noexcept {
    if (shrank_ || mapping_.faults() != 0) return false;
    struct stat st {};
    return fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) >= end;
  }

  // Unmaps the window, remembering whether the file shrank under it.
  void unmap() noexcept {
    shrank_ = shrank_ || mapping_.faults() != 0;
    mapping_.reset();
  }

  detail::FileMapping mapping_;   // file bytes from begin_ on
  std::uint64_t begin_ = 0;
  bool shrank_ = false;           // an earlier window since drop() faulted
  std::uint64_t handed_out_ = 0;  // the end of the furthest view since drop()
  PreadSource reader_;            // read() and block()
};

static_assert(MboxByteSource<MmapSource>, "MmapSource must satisfy MboxByteSource");

}  // namespace pop3
