// Tests for pop3/detail/huge_page_allocator.hpp: blocks of every size are usable, large
// ones start at a 2 MiB boundary and are unmapped again, only touched pages of a block's
// last 2 MiB become resident, and a message table kept with it is the same table.
#define BOOST_TEST_MODULE huge_page_allocator
#include <boost/test/unit_test.hpp>

#include "pop3/detail/huge_page_allocator.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/mbox_scan.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

using pop3::detail::huge_page_bytes;
using pop3::detail::HugePageAllocator;

const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// Resident pages among the `bytes` bytes at `p` (page aligned).
std::size_t resident_pages(const void* p, std::size_t bytes) {
  std::vector<unsigned char> in_core((bytes + page - 1) / page);
  BOOST_TEST_REQUIRE(mincore(const_cast<void*>(p), bytes, in_core.data()) == 0);
  std::size_t n = 0;
  for (const unsigned char c : in_core) n += c & 1;
  return n;
}

bool mapped(const void* p) {
  unsigned char c;
  return mincore(const_cast<void*>(p), page, &c) == 0 || errno != ENOMEM;
}

}  // namespace

BOOST_AUTO_TEST_CASE(blocks_of_every_size_hold_their_bytes) {
  HugePageAllocator<char> allocator;
  for (const std::size_t bytes : {std::size_t{1}, std::size_t{4096}, huge_page_bytes - 1, huge_page_bytes,
                                  huge_page_bytes + 1, 3 * huge_page_bytes + 12345}) {
    char* const p = allocator.allocate(bytes);
    std::memset(p, 0x5a, bytes);
    BOOST_TEST(p[0] == 0x5a);
    BOOST_TEST(p[bytes - 1] == 0x5a);
    allocator.deallocate(p, bytes);
  }
}

BOOST_AUTO_TEST_CASE(large_blocks_are_aligned_and_unmapped_again) {
  HugePageAllocator<std::uint64_t> allocator;
  const std::size_t n = (huge_page_bytes + 3 * page) / sizeof(std::uint64_t);
  std::uint64_t* const p = allocator.allocate(n);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(p) % huge_page_bytes == 0u);
  BOOST_TEST(mapped(p));
  allocator.deallocate(p, n);
  BOOST_TEST(!mapped(p));
  BOOST_TEST(!mapped(reinterpret_cast<char*>(p) + huge_page_bytes));
}

BOOST_AUTO_TEST_CASE(only_touched_pages_past_the_whole_huge_pages_are_resident) {
  // A block of 2 MiB + 1 MiB: a byte written 1 MiB into its tail must not bring in a whole
  // huge page, as it would if the block were mapped to the next 2 MiB.
  HugePageAllocator<char> allocator;
  const std::size_t bytes = huge_page_bytes + (huge_page_bytes / 2);
  char* const p = allocator.allocate(bytes);
  char* const tail = p + huge_page_bytes;
  tail[huge_page_bytes / 4] = 1;
  BOOST_TEST(resident_pages(tail, bytes - huge_page_bytes) == 1u);
  allocator.deallocate(p, bytes);
}

BOOST_AUTO_TEST_CASE(impossible_sizes_throw) {
  HugePageAllocator<std::uint64_t> allocator;
  BOOST_CHECK_THROW((void)allocator.allocate(SIZE_MAX / 4), std::bad_array_new_length);
}

BOOST_AUTO_TEST_CASE(a_scanned_table_is_the_same_with_it) {
  // 60,000 messages: the table (48 bytes each) grows through blocks of both kinds.
  std::string box;
  for (int i = 0; i < 60000; ++i)
    box += "From a\nMessage-ID: <" + std::to_string(i) + ">\n\nbody " + std::to_string(i) + "\n\n";
  std::vector<pop3::MboxMessage<pop3::Md5>> plain;
  std::vector<pop3::MboxMessage<pop3::Md5>, HugePageAllocator<pop3::MboxMessage<pop3::Md5>>> huge;
  BOOST_TEST_REQUIRE((pop3::scan_mbox<pop3::Md5>(box, plain, 100000) == pop3::ScanStatus::ok));
  BOOST_TEST_REQUIRE((pop3::scan_mbox<pop3::Md5>(box, huge, 100000) == pop3::ScanStatus::ok));
  BOOST_TEST_REQUIRE(huge.size() == 60000u);
  BOOST_TEST(huge.capacity() * sizeof huge[0] >= huge_page_bytes);
  huge.shrink_to_fit();
  BOOST_TEST(std::memcmp(plain.data(), huge.data(), plain.size() * sizeof plain[0]) == 0);
}
