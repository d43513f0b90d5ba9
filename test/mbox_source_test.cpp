// Tests of pop3/mailbox/mbox_source.hpp, for both byte sources: views give the file's bytes
// whatever the carry, a pread always lands at a page boundary, a file truncated under a view
// is found (never a signal), and a mapped source keeps at most mapping_bytes resident.
#define BOOST_TEST_MODULE mbox_source
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include "pop3/mailbox/mbox_source.hpp"
#include "support/temp_dir.hpp"

namespace {

using Sources = boost::mpl::list<pop3::PreadSource, pop3::MmapSource>;

std::string random_bytes(std::size_t n) {
  std::mt19937 random(7);
  std::string bytes(n, '\0');
  for (std::size_t i = 0; i < n; i += 4) {
    const auto r = random();
    for (std::size_t k = i; k < std::min(n, i + 4); ++k) bytes[k] = static_cast<char>('a' + (r >> (8 * (k - i))) % 26);
  }
  return bytes;
}

struct File {
  pop3::test::TempDir dir;
  std::string bytes;
  std::string path;
  int fd = -1;
  explicit File(std::size_t size) : bytes(random_bytes(size)), path(dir.write("mbox", bytes)) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
  }
  ~File() { ::close(fd); }
};

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// Resident KiB of this process's mappings of `path` (/proc/self/smaps, as test_memory.py reads it).
std::size_t resident_kib_of(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool ours = false;
  std::size_t kib = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      ours = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
    } else if (ours && line.rfind("Rss:", 0) == 0) {
      kib += std::stoul(line.substr(4));
    }
  }
  return kib;
}

}  // namespace

// A scanner leaves 0 to max_carry bytes unconsumed and asks again from there: every carry
// from 0 to 64, across every window boundary of a file of several mappings.
BOOST_AUTO_TEST_CASE_TEMPLATE(views_give_the_file_at_every_carry, Source, Sources) {
  const std::size_t page = pop3::detail::page_bytes();
  File file(3 * pop3::MmapSource::mapping_bytes + 123);
  Source source;
  std::error_code ec;
  std::uint64_t at = 0;
  std::size_t carry = 0;
  for (std::size_t step = 0; at < file.bytes.size(); ++step) {
    const std::string_view v = source.view(file.fd, at, Source::window_bytes, file.bytes.size(), ec);
    BOOST_REQUIRE(!ec);
    BOOST_REQUIRE(v.size() >= std::min<std::uint64_t>(Source::window_bytes, file.bytes.size() - at));
    BOOST_REQUIRE(v == std::string_view(file.bytes).substr(at, v.size()));
    if constexpr (std::is_same_v<Source, pop3::PreadSource>) {
      BOOST_TEST((address(v.data()) + carry) % page == 0u);   // the read landed at a page boundary
    } else {
      BOOST_TEST(address(v.data()) % page == at % page);      // mapped at the page that holds `at`
    }
    BOOST_REQUIRE(source.intact(file.fd));
    if (at + v.size() == file.bytes.size()) break;
    carry = step % 65;
    at += v.size() - carry;
  }
  BOOST_TEST(source.intact(file.fd));
}

// A window asked for near its end: fewer bytes than wanted are never given.
BOOST_AUTO_TEST_CASE_TEMPLATE(views_stop_at_end_and_give_at_least_want, Source, Sources) {
  File file(100000);
  Source source;
  std::error_code ec;
  BOOST_TEST(source.view(file.fd, 0, 1000, 5000, ec).size() == 5000u);   // none at or past `end`
  BOOST_TEST(source.view(file.fd, 4990, 100, 5000, ec).size() == 10u);
  BOOST_TEST(source.view(file.fd, 4990, 100, 100000, ec).size() >= 100u);
  BOOST_TEST(source.view(file.fd, 100000, 100, 100000, ec).empty());
  BOOST_TEST(!ec);
  const auto bytes = source.read(file.fd, 777, 3000, 100000, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(std::string_view(bytes.data(), bytes.size()).substr(0, 3000) == std::string_view(file.bytes).substr(777, 3000));
}

// The file is shorter than the caller believes before the window is read: mailbox_changed.
BOOST_AUTO_TEST_CASE_TEMPLATE(a_file_shorter_than_end_is_changed, Source, Sources) {
  File file(50000);
  Source source;
  std::error_code ec;
  BOOST_TEST(source.view(file.fd, 0, 60000, 60000, ec).empty());
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
  BOOST_TEST(source.read(file.fd, 40000, 20000, 60000, ec).empty());
  BOOST_TEST(ec == pop3::errc::mailbox_changed);
}

// Truncated by a program that ignores locks while a window is in use, at a page boundary
// (the pages after it fault) and inside a page (its rest reads as zeros, no fault): every
// byte of the view can still be read, and intact() and read() say the file changed.
BOOST_AUTO_TEST_CASE_TEMPLATE(truncation_under_a_view_is_found_without_a_signal, Source, Sources) {
  const std::size_t page = pop3::detail::page_bytes();
  for (const std::size_t cut : {5 * page, 5 * page + 100}) {
    File file(Source::window_bytes + 5000);
    Source source;
    std::error_code ec;
    const std::string_view v = source.view(file.fd, 0, Source::window_bytes, file.bytes.size(), ec);
    BOOST_REQUIRE(!ec);
    BOOST_REQUIRE(truncate(file.path.c_str(), static_cast<off_t>(cut)) == 0);
    std::size_t letters = 0;
    for (const char c : v) letters += c != '\0' ? 1 : 0;
    if constexpr (std::is_same_v<Source, pop3::MmapSource>) {
      BOOST_TEST(letters == cut);
      BOOST_TEST(!source.intact(file.fd));
      BOOST_TEST(source.read(file.fd, 2 * page, 6 * page, file.bytes.size(), ec).empty());
      BOOST_TEST(ec == pop3::errc::mailbox_changed);
    } else {
      BOOST_TEST(letters == v.size());   // pread() copied the bytes before the cut
    }
    source.drop();   // read again
    BOOST_TEST(source.read(file.fd, 2 * page, 6 * page, file.bytes.size(), ec).empty());
    BOOST_TEST(ec == pop3::errc::mailbox_changed);
  }
}

// What read() gave stays as it was when the file changes afterwards.
BOOST_AUTO_TEST_CASE_TEMPLATE(read_bytes_do_not_change_with_the_file, Source, Sources) {
  File file(3 * Source::window_bytes);
  Source source;
  std::error_code ec;
  const auto bytes = source.read(file.fd, 100, Source::window_bytes, file.bytes.size(), ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(truncate(file.path.c_str(), 0) == 0);
  BOOST_TEST(std::string_view(bytes.data(), Source::window_bytes) == std::string_view(file.bytes).substr(100, Source::window_bytes));
}

// Walking a file of 8 mappings, never more than one mapping of it is resident.
BOOST_AUTO_TEST_CASE(a_mapped_source_keeps_one_window_resident) {
  File file(8 * pop3::MmapSource::mapping_bytes);
  pop3::MmapSource source;
  std::error_code ec;
  std::size_t most_kib = 0;
  std::uint64_t sum = 0;
  for (std::uint64_t at = 0; at < file.bytes.size();) {
    const std::string_view v = source.view(file.fd, at, pop3::MmapSource::window_bytes, file.bytes.size(), ec);
    BOOST_REQUIRE(!ec);
    for (std::size_t i = 0; i < v.size(); i += 512) sum += static_cast<unsigned char>(v[i]);
    most_kib = std::max(most_kib, resident_kib_of(file.path));
    at += v.size() - 6;   // as the search for a separator that straddles two windows
    if (v.size() <= 6) break;
  }
  BOOST_TEST(sum > 0u);
  BOOST_TEST(most_kib > 0u);
  BOOST_TEST(most_kib <= pop3::MmapSource::mapping_bytes / 1024);
  source.drop();
  BOOST_TEST(resident_kib_of(file.path) == 0u);
}
