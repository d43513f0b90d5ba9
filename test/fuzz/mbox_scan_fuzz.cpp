// Mailbox bytes through the incremental MboxScanner in windows of fuzzer-chosen sizes, as
// MboxMailbox reads the file, against scan_mbox over the whole buffer: the same status and
// the same table, and every promise of feed() kept (mailbox/mbox_scan.hpp). Then the same
// bytes as a file (a memfd) through both byte sources (mailbox/mbox_source.hpp), fed to the
// scanner as MboxMailbox feeds it: the same table again. And each version of the separator
// search gives the reference version's answers on the same bytes.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/mbox_scan.hpp"
#include "pop3/mailbox/mbox_separator.hpp"
#include "pop3/mailbox/mbox_source.hpp"

namespace {

using Scanner = pop3::MboxScanner<pop3::Md5>;
using Table = Scanner::Table;

bool same(const Table& a, const Table& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].from_offset != b[i].from_offset || a[i].data_offset != b[i].data_offset ||
        a[i].data_length != b[i].data_length || a[i].size != b[i].size || a[i].digest != b[i].digest)
      return false;
  }
  return true;
}

// The scan of MboxMailbox::scan_range over `fd`'s first `size` bytes, through `source`.
template <class Source>
pop3::ScanStatus scan_file(int fd, std::uint64_t size, std::uint32_t max_messages, Table& table) {
  Source source;
  Scanner scanner(table, max_messages);
  std::error_code ec;
  for (std::uint64_t at = 0;;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(Source::window_bytes, size - at));
    const std::string_view bytes = source.view(fd, at, want, size, ec);
    POP3_FUZZ_CHECK(!ec && bytes.size() >= want && at + bytes.size() <= size);
    const bool at_eof = at + bytes.size() == size;
    const std::size_t used = scanner.feed(bytes, at_eof);
    POP3_FUZZ_CHECK(source.intact(fd));
    if (at_eof || scanner.status() != pop3::ScanStatus::ok) break;
    at += used;
  }
  return scanner.status();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  // Up to 4 window sizes, used in turn; a small message limit now and then.
  std::size_t windows[4];
  for (std::size_t& w : windows) w = input.size_in(300);
  const std::uint8_t limit_byte = input.byte();
  const std::uint32_t max_messages = limit_byte < 16 ? limit_byte : 1u << 20;
  const std::string_view bytes = input.rest();

  Table whole;
  const pop3::ScanStatus whole_status = pop3::scan_mbox<pop3::Md5>(bytes, whole, max_messages);
  if (whole_status != pop3::ScanStatus::ok) POP3_FUZZ_CHECK(whole.empty());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    const auto& m = whole[i];
    POP3_FUZZ_CHECK(m.from_offset < m.data_offset && m.data_offset + m.data_length <= bytes.size());
    POP3_FUZZ_CHECK(bytes.substr(m.from_offset, 5) == "From ");
    POP3_FUZZ_CHECK(i == 0 || whole[i - 1].data_offset + whole[i - 1].data_length <= m.from_offset);
    const auto d = bytes.substr(m.data_offset, m.data_length);
    const auto lines = static_cast<std::uint64_t>(std::count(d.begin(), d.end(), '\n'));
    POP3_FUZZ_CHECK(m.size == m.data_length + lines + (!d.empty() && d.back() != '\n'));
  }

  // Every version of the body scan's separator search against the reference, from each
  // separator found on (mailbox/mbox_separator.hpp).
  const auto finders = pop3::detail::separator_finders();
  for (const char *p = bytes.data(), *const end = p + bytes.size(); p != end;) {
    std::uint64_t lfs = 0;
    const char* const k = finders[0].find(p, end, lfs);
    for (std::size_t f = 1; f < finders.size(); ++f) {
      std::uint64_t other_lfs = 0;
      POP3_FUZZ_CHECK(finders[f].find(p, end, other_lfs) == k && other_lfs == lfs);
    }
    p = k == end ? end : k + 1;
  }

  Table table;
  Scanner scanner(table, max_messages);
  std::string left;
  std::size_t pos = 0;
  for (std::size_t k = 0;; ++k) {
    const std::size_t n = std::min(windows[k % 4], bytes.size() - pos);
    const bool at_eof = pos + n == bytes.size();
    // An exact heap block, so that AddressSanitizer sees any read past the window.
    const std::size_t held = left.size() + n;
    const auto block = std::make_unique<char[]>(held);
    std::copy(left.begin(), left.end(), block.get());
    std::copy_n(bytes.data() + pos, n, block.get() + left.size());
    pos += n;
    POP3_FUZZ_CHECK(scanner.done_offset() == pos - held);
    const std::size_t used = scanner.feed({block.get(), held}, at_eof);
    POP3_FUZZ_CHECK(used <= held);
    POP3_FUZZ_CHECK(scanner.done_offset() == pos - held + used);
    if (at_eof || scanner.status() != pop3::ScanStatus::ok) {
      POP3_FUZZ_CHECK(used == held);
      if (at_eof) break;
    }
    left.assign(block.get() + used, held - used);
    POP3_FUZZ_CHECK(left.size() <= Scanner::max_carry);
  }
  POP3_FUZZ_CHECK(scanner.status() == whole_status);
  POP3_FUZZ_CHECK(same(table, whole));

  if (bytes.empty()) return 0;   // MboxMailbox never reads an empty file
  const int fd = memfd_create("mbox_scan_fuzz", MFD_CLOEXEC);
  POP3_FUZZ_CHECK(fd >= 0 && write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  Table from_pread;
  Table from_mmap;
  POP3_FUZZ_CHECK(scan_file<pop3::PreadSource>(fd, bytes.size(), max_messages, from_pread) == whole_status);
  POP3_FUZZ_CHECK(scan_file<pop3::MmapSource>(fd, bytes.size(), max_messages, from_mmap) == whole_status);
  close(fd);
  POP3_FUZZ_CHECK(same(from_pread, whole) && same(from_mmap, whole));
  return 0;
}
