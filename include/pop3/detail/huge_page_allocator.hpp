// pop3/detail/huge_page_allocator.hpp: an allocator whose large blocks use 2 MiB pages.
//
// For the message table, which a login fills once and which can run to megabytes (48 bytes
// a message: 4.8 MB for 100,000). Blocks of 2 MiB and more are mapped on their own, aligned
// to 2 MiB and marked MADV_HUGEPAGE, so that the kernel backs them with transparent huge
// pages: one page fault per 2 MiB instead of 512 (DESIGN.md, "Why the message table sits on
// huge pages", has what that saves). Smaller blocks come from operator new. Where transparent
// huge pages are off, the hint is ignored and the block is an ordinary anonymous mapping.
//
//   std::vector<Entry, pop3::detail::HugePageAllocator<Entry>> table;
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>

namespace pop3::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

// A mapping of `bytes` bytes that starts at a 2 MiB boundary, or nullptr. Only its whole
// 2 MiB ranges get huge pages; the rest of its last 2 MiB faults in 4 KiB pages as it is
// touched, so that no more than the bytes used are resident.
inline void* map_huge_pages(std::size_t bytes) noexcept {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t length = (bytes + page - 1) / page * page;
  // Map one huge page more than needed, then unmap what lies before the first 2 MiB
  // boundary and after the block: [first, aligned) and [aligned + length, end).
  void* const raw = ::mmap(nullptr, length + huge_page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto first = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = (first + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
  if (aligned != first) ::munmap(raw, aligned - first);
  ::munmap(reinterpret_cast<void*>(aligned + length), first + huge_page_bytes - aligned);   // never empty
  void* const block = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  (void)::madvise(block, length, MADV_HUGEPAGE);   // only a hint
#endif
  return block;
}

template <class T>
struct HugePageAllocator {
  using value_type = T;

  // Blocks below this size come from operator new.
  static constexpr std::size_t mapped_from_bytes = huge_page_bytes;

  HugePageAllocator() noexcept = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > (std::numeric_limits<std::size_t>::max() - 2 * huge_page_bytes) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < mapped_from_bytes) return static_cast<T*>(::operator new(bytes));
    void* const block = map_huge_pages(bytes);
    if (block == nullptr) throw std::bad_alloc();
    return static_cast<T*>(block);
  }

  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < mapped_from_bytes)
      ::operator delete(p);
    else
      ::munmap(p, bytes);
  }

  template <class U>
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator<U>&) noexcept {
    return true;
  }
};

}  // namespace pop3::detail
