// pop3/detail/aligned_buffer.hpp: a page-aligned read buffer with room for a carry before it.
//
// The kernel copies a read() or pread() into user memory fastest when the destination is
// aligned: on an AMD EPYC a 256 KiB pread into a buffer 16 bytes past a page boundary ran at
// a quarter of the speed of one into an aligned buffer (DESIGN.md, "Read buffers"). An
// AlignedBuffer is an anonymous mapping whose body() starts at a page boundary; the `head`
// bytes before it (one page) hold what a parser left unconsumed, so that the next read
// still lands at body() and the parser sees carry and new bytes as one span.
//
//   pop3::detail::AlignedBuffer buffer(256 << 10);
//   if (buffer) { char* to = buffer.body(); /* pread(fd, to, buffer.size(), at) */ }
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <utility>

namespace pop3::detail {

inline std::size_t page_bytes() noexcept {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

class AlignedBuffer {
 public:
  AlignedBuffer() noexcept = default;

  // A buffer of `bytes` bytes from body(), rounded up to whole pages, with one page of head
  // before it; empty (false) if out of memory. The pages are populated at once: faulting a
  // fresh buffer in page by page on first use costs more than one MADV_POPULATE_WRITE call
  // (DESIGN.md, "Read buffers"); on an older kernel that hint is ignored.
  explicit AlignedBuffer(std::size_t bytes) noexcept {
    const std::size_t page = page_bytes();
    const std::size_t body = (bytes + page - 1) / page * page;
    void* const map = ::mmap(nullptr, page + body, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return;
#ifdef MADV_POPULATE_WRITE
    (void)::madvise(map, page + body, MADV_POPULATE_WRITE);
#endif
    map_ = static_cast<char*>(map);
    size_ = body;
  }

  AlignedBuffer(AlignedBuffer&& other) noexcept
      : map_(std::exchange(other.map_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      release();
      map_ = std::exchange(other.map_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  explicit operator bool() const noexcept { return map_ != nullptr; }

  // The first byte of the body: page-aligned. size() bytes follow, head() bytes precede it.
  [[nodiscard]] char* body() const noexcept { return map_ + (map_ != nullptr ? page_bytes() : 0); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] static std::size_t head() noexcept { return page_bytes(); }
  // head() at least: no page is smaller.
  static constexpr std::size_t min_head = 4096;

  // Copies the `n` bytes at `from` (which may lie in this buffer) to just before body(), so
  // that they and the bytes read next at body() are one span, which starts at the returned
  // pointer. n <= head().
  char* carry(const char* from, std::size_t n) const noexcept {
    char* const to = body() - n;
    if (n != 0) std::memmove(to, from, n);
    return to;
  }

 private:
  void release() noexcept {
    if (map_ != nullptr) ::munmap(map_, page_bytes() + size_);
    map_ = nullptr;
    size_ = 0;
  }

  char* map_ = nullptr;    // the head page, then the body
  std::size_t size_ = 0;   // bytes of the body
};

}  // namespace pop3::detail
