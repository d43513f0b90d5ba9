// Tests for pop3/mailbox/mbox_scan.hpp: one test per rule of spec sections 9.2
// (where messages are) and 10 (which header lines feed the UIDL digest), golden
// checks against the recorded popa3d conversations, a comparison with a naive
// line-by-line model on random mailboxes, and the message limit. MboxScanner fed in
// windows of every size must give exactly the table of one whole-file scan.
#define BOOST_TEST_MODULE mbox_scan
#include <boost/test/unit_test.hpp>

#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/mbox_scan.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Message = pop3::MboxMessage<pop3::Md5>;
using namespace std::string_literals;

struct Scan {
  pop3::ScanStatus status;
  std::vector<Message> table;
};

// Scans a copy in a heap block of exactly bytes.size(), so that AddressSanitizer sees
// any read past the end (a std::string has spare capacity there).
Scan scan(std::string_view bytes, std::uint32_t max_messages = 2097152) {
  const auto exact = std::make_unique<char[]>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), exact.get());
  Scan s{};
  s.status = pop3::scan_mbox<pop3::Md5>({exact.get(), bytes.size()}, s.table, max_messages);
  return s;
}

std::string data_of(std::string_view bytes, const Message& m) {
  return std::string(bytes.substr(m.data_offset, m.data_length));
}

std::string uid(const Message& m) { return std::string(pop3::popa3d_unique_id(m.digest).view()); }

std::string uid_of_hashed(std::string_view hashed) {
  pop3::Md5 md5;
  md5.update(hashed);
  return std::string(pop3::popa3d_unique_id(md5.final()).view());
}

const std::string empty_uid = "d98c1dd404b2008f";

// The UIDL id of a one-message mailbox made of `headers`.
std::string uid_of_headers(std::string_view headers) {
  const std::string box = "From a\n" + std::string(headers);
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE((s.status == pop3::ScanStatus::ok));
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  return uid(s.table[0]);
}

// Lines in `data` as popa3d counts them: LFs, plus a last line without LF.
std::uint64_t count_lines(std::string_view data) {
  auto n = static_cast<std::uint64_t>(std::count(data.begin(), data.end(), '\n'));
  if (!data.empty() && data.back() != '\n') ++n;
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------
// Section 9.2: where messages are

BOOST_AUTO_TEST_CASE(empty_input_has_no_messages) {
  const Scan s = scan("");
  BOOST_TEST((s.status == pop3::ScanStatus::ok));
  BOOST_TEST(s.table.empty());
}

BOOST_AUTO_TEST_CASE(spec_example_from_and_blank_line) {
  // Spec 9.2: "From x\n\n" is one message whose data is "\n", size 2.
  const std::string box = "From x\n\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE((s.status == pop3::ScanStatus::ok));
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(data_of(box, s.table[0]) == "\n");
  BOOST_TEST(s.table[0].size == 2u);
  BOOST_TEST(uid(s.table[0]) == empty_uid);
}

BOOST_AUTO_TEST_CASE(from_line_belongs_to_no_message) {
  const std::string box = "From a@b Mon Jan  1 00:00:00 2001\nSubject: x\n\nhello\n\nFrom c\nX: y\n\nbye\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(s.table[0].from_offset == 0u);
  BOOST_TEST(s.table[0].data_offset == box.find("Subject"));
  BOOST_TEST(data_of(box, s.table[0]) == "Subject: x\n\nhello\n");
  BOOST_TEST(s.table[1].from_offset == box.find("From c"));
  BOOST_TEST(s.table[1].data_offset == box.find("X: y"));
  BOOST_TEST(data_of(box, s.table[1]) == "X: y\n\nbye\n");
}

BOOST_AUTO_TEST_CASE(size_is_data_plus_lines) {
  // Each LF counts as CR LF: 4 lines, 17 bytes of data.
  const std::string box = "From a\nA: 1\nB: 22\n\nbody\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(s.table[0].data_length == 17u);
  BOOST_TEST(s.table[0].size == 21u);
}

BOOST_AUTO_TEST_CASE(only_a_blank_line_is_blank) {
  // "\r\n", " \n" and "\t\n" do not end the headers, so the "From " lines after them
  // are ordinary lines.
  for (const std::string not_blank : {"\r\n", " \n", "\t\n"}) {
    const std::string box = "From a\nA: 1\n" + not_blank + "From b\nx\n";
    const Scan s = scan(box);
    BOOST_TEST_REQUIRE(s.table.size() == 1u);
    BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n" + not_blank + "From b\nx\n");
  }
}

BOOST_AUTO_TEST_CASE(only_capital_from_space_separates) {
  for (const std::string line : {"FROM x\n", "from x\n", "From:x\n", "From\tx\n", ">From x\n", "From\n"}) {
    const std::string box = "From a\nA: 1\n\nbody\n\n" + line + "more\n";
    const Scan s = scan(box);
    BOOST_TEST_REQUIRE(s.table.size() == 1u, line);
    BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\nbody\n\n" + line + "more\n");
  }
  const std::string two_spaces = "From a\nA: 1\n\nbody\n\nFrom  x\nmore\n";
  BOOST_TEST(scan(two_spaces).table.size() == 2u);
}

BOOST_AUTO_TEST_CASE(from_separates_only_after_a_blank_line) {
  const std::string box = "From a\nA: 1\nFrom b\n\nbody\nFrom c\nend\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\nFrom b\n\nbody\nFrom c\nend\n");
}

BOOST_AUTO_TEST_CASE(from_right_after_from_is_refused) {
  BOOST_TEST((scan("From a\nFrom b\nx\n").status == pop3::ScanStatus::not_mbox));
  BOOST_TEST((scan("From a\nA: 1\n\nbody\n\nFrom b\nFrom c\nx\n").status == pop3::ScanStatus::not_mbox));
  // The second line after a blank line is a separator even right after the headers.
  BOOST_TEST((scan("From a\nA: 1\n\nFrom b\nFrom c\n").status == pop3::ScanStatus::not_mbox));
}

BOOST_AUTO_TEST_CASE(from_line_with_nothing_after_is_refused) {
  BOOST_TEST((scan("From a\n").status == pop3::ScanStatus::not_mbox));
  BOOST_TEST((scan("From a").status == pop3::ScanStatus::not_mbox));
  BOOST_TEST((scan("From ").status == pop3::ScanStatus::not_mbox));
  BOOST_TEST((scan("From a\nA: 1\n\nbody\n\nFrom b\n").status == pop3::ScanStatus::not_mbox));
  BOOST_TEST((scan("From a\nA: 1\n\nbody\n\nFrom b").status == pop3::ScanStatus::not_mbox));
  // "From" without its space at the very end is an ordinary line.
  BOOST_TEST(scan("From a\nA: 1\n\nbody\n\nFrom").table.size() == 1u);
}

BOOST_AUTO_TEST_CASE(file_must_start_with_from) {
  for (const std::string box : {"\nFrom a\nx\n", " From a\nx\n", "Subject: x\n\nbody\n", "from a\nx\n", "\n"}) {
    const Scan s = scan(box);
    BOOST_TEST((s.status == pop3::ScanStatus::not_mbox));
    BOOST_TEST(s.table.empty());
  }
}

BOOST_AUTO_TEST_CASE(header_only_message_keeps_following_blank_line) {
  const std::string box = "From a\nA: 1\n\nFrom b\nB: 2\n\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\n");
  BOOST_TEST(s.table[0].size == 8u);
  BOOST_TEST(data_of(box, s.table[1]) == "B: 2\n\n");
}

BOOST_AUTO_TEST_CASE(header_only_message_without_blank_line) {
  const std::string box = "From a\nA: 1\nB: 2\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\nB: 2\n");
  BOOST_TEST(s.table[0].size == 12u);
}

BOOST_AUTO_TEST_CASE(final_blank_line_dropped_before_from) {
  const std::string box = "From a\nA: 1\n\nbody\n\nFrom b\nx\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\nbody\n");
  BOOST_TEST(s.table[0].size == 14u);
}

BOOST_AUTO_TEST_CASE(final_blank_line_dropped_at_end_of_file) {
  const std::string box = "From a\nA: 1\n\nbody\n\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\nbody\n");
  BOOST_TEST(s.table[0].size == 14u);
}

BOOST_AUTO_TEST_CASE(only_one_of_several_trailing_blank_lines_is_dropped) {
  const std::string box = "From a\nA: 1\n\nbody\n\n\n\nFrom b\nx\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\nbody\n\n\n");
  const std::string at_end = "From a\nA: 1\n\nbody\n\n\n";
  BOOST_TEST(data_of(at_end, scan(at_end).table.at(0)) == "A: 1\n\nbody\n\n");
}

BOOST_AUTO_TEST_CASE(body_of_only_blank_lines) {
  // The body's single line is blank and last: dropped, at the end and before "From ".
  const std::string one = "From a\nA: 1\n\n\n";
  BOOST_TEST(data_of(one, scan(one).table.at(0)) == "A: 1\n\n");
  const std::string before_from = "From a\nA: 1\n\n\nFrom b\nx\n";
  const Scan s = scan(before_from);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(data_of(before_from, s.table[0]) == "A: 1\n\n");
  BOOST_TEST(data_of(before_from, s.table[1]) == "x\n");
}

BOOST_AUTO_TEST_CASE(data_starting_with_blank_line) {
  // No headers: the first line is the blank one that ends them.
  const std::string box = "From a\n\nDate: in the body\n\nFrom b\n\n\nFrom c\n\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 3u);
  BOOST_TEST(data_of(box, s.table[0]) == "\nDate: in the body\n");
  BOOST_TEST(uid(s.table[0]) == empty_uid);
  BOOST_TEST(data_of(box, s.table[1]) == "\n");
  BOOST_TEST(data_of(box, s.table[2]) == "\n");
  BOOST_TEST(s.table[2].size == 2u);
}

BOOST_AUTO_TEST_CASE(last_line_without_lf) {
  const std::string box = "From a\nA: 1\n\nbody";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\nbody");
  BOOST_TEST(s.table[0].size == 13u);   // 10 bytes, 3 lines
  const std::string header_only = "From a\nA: 1";
  BOOST_TEST(scan(header_only).table.at(0).size == 5u);
  const std::string after_blank = "From a\nA: 1\n\n\nx";
  BOOST_TEST(data_of(after_blank, scan(after_blank).table.at(0)) == "A: 1\n\n\nx");
}

BOOST_AUTO_TEST_CASE(crlf_mailbox_is_one_message) {
  const std::string box = "From a\r\nDate: 1\r\n\r\nbody\r\n\r\nFrom b\r\nDate: 2\r\n\r\nbye\r\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 1u);
  BOOST_TEST(s.table[0].data_offset == 8u);
  BOOST_TEST(s.table[0].data_length == box.size() - 8);
  BOOST_TEST(s.table[0].size == box.size() - 8 + 8);   // 8 lines after the first
  // Every line is a header line, so both Date: lines count, CRs included.
  BOOST_TEST(uid(s.table[0]) == uid_of_hashed("Date: 1\r\nDate: 2\r\n"));
}

BOOST_AUTO_TEST_CASE(nul_bytes_are_ordinary) {
  const std::string box = "From a\nA: \0\n\n\0\n\nFrom b\n\0\0\0"s;
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(data_of(box, s.table[0]) == "A: \0\n\n\0\n"s);
  BOOST_TEST(data_of(box, s.table[1]) == "\0\0\0"s);
  BOOST_TEST(s.table[1].size == 4u);
}

BOOST_AUTO_TEST_CASE(separator_found_at_every_alignment) {
  // Long bodies are crossed in 32-byte steps; the "\n\nFrom " must be found wherever it
  // falls, including within the last bytes where the step no longer fits.
  for (std::size_t pad = 0; pad < 80; ++pad) {
    std::string body;
    for (int i = 0; i < 5; ++i) body += std::string(60, 'B') + '\n';
    body += std::string(pad, 'p') + "\n\n";
    const std::string box = "From a\nA: 1\n\n" + body + "From b\n" + std::string(1 + pad % 7, 'y');
    const Scan s = scan(box);
    BOOST_TEST_REQUIRE(s.table.size() == 2u, "pad " << pad);
    BOOST_TEST(data_of(box, s.table[0]) == "A: 1\n\n" + body.substr(0, body.size() - 1), "pad " << pad);
    BOOST_TEST(s.table[0].size == s.table[0].data_length + 8, "pad " << pad);   // A:, blank, 5 B, pad or blank
    BOOST_TEST(s.table[1].from_offset == box.find("From b"));
  }
}

BOOST_AUTO_TEST_CASE(blank_lines_without_from_in_long_bodies) {
  // "\n\n" followed by something other than "From " is crossed, at every alignment.
  for (std::size_t pad = 0; pad < 40; ++pad) {
    const std::string body =
        std::string(pad, 'q') + "\n\nFrom\n\nfrom x\n\n>From y\n" + std::string(100, 'z') +
        "\n\nFrom:x\n\nFrog\n\nFROM z\n\nF\n\nFrom\tw\n\n\nFro";
    const std::string box = "From a\nA: 1\n\n" + body;
    const Scan s = scan(box);
    BOOST_TEST_REQUIRE(s.table.size() == 1u);
    BOOST_TEST(s.table[0].data_length == box.size() - 7);
    BOOST_TEST(s.table[0].size == s.table[0].data_length + count_lines(body) + 2);
  }
}

BOOST_AUTO_TEST_CASE(message_limit) {
  const std::string three = "From a\nx\n\nFrom b\ny\n\nFrom c\nz\n";
  BOOST_TEST((scan(three, 3).status == pop3::ScanStatus::ok));
  BOOST_TEST(scan(three, 3).table.size() == 3u);
  const Scan over = scan(three, 2);
  BOOST_TEST((over.status == pop3::ScanStatus::too_many_messages));
  BOOST_TEST(over.table.empty());
  BOOST_TEST((scan(three, 0).status == pop3::ScanStatus::too_many_messages));
  BOOST_TEST((scan("", 0).status == pop3::ScanStatus::ok));
}

BOOST_AUTO_TEST_CASE(table_is_cleared_first) {
  std::vector<Message> table(5);
  BOOST_TEST((pop3::scan_mbox<pop3::Md5>("From a\nx\n", table, 10) == pop3::ScanStatus::ok));
  BOOST_TEST(table.size() == 1u);
}

// ---------------------------------------------------------------------------
// Section 10: which header lines feed the UIDL digest

BOOST_AUTO_TEST_CASE(unique_id_byte_order) {
  // d3 d2 d1 d0 d7 d6 d5 d4: the first two MD5 words as little-endian numbers.
  std::array<std::uint8_t, 16> digest{};
  for (std::size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<std::uint8_t>(i * 0x11);
  BOOST_TEST(pop3::popa3d_unique_id(digest).view() == "3322110077665544");
  pop3::Md5 md5;
  BOOST_TEST(pop3::popa3d_unique_id(md5.final()).view() == empty_uid);
}

BOOST_AUTO_TEST_CASE(no_counted_line_gives_empty_digest) {
  BOOST_TEST(uid_of_headers("Subject: x\nFrom: y\nTo: z\n\nDate: body\n") == empty_uid);
}

BOOST_AUTO_TEST_CASE(only_first_received_counts) {
  BOOST_TEST(uid_of_headers("Received: a\nReceived: b\nReceived: c\n\nx\n") == uid_of_hashed("Received: a\n"));
}

BOOST_AUTO_TEST_CASE(date_and_message_id_count_only_above_first_received) {
  BOOST_TEST(uid_of_headers("Date: 1\nMessage-ID: <m>\nReceived: r\nDate: 2\nMessage-ID: <n>\n\nx\n") ==
             uid_of_hashed("Date: 1\nMessage-ID: <m>\nReceived: r\n"));
}

BOOST_AUTO_TEST_CASE(every_delivered_to_counts) {
  BOOST_TEST(uid_of_headers("Delivered-To: a\nReceived: r\nDelivered-To: b\nSubject: s\nDelivered-To: c\n\n") ==
             uid_of_hashed("Delivered-To: a\nReceived: r\nDelivered-To: b\nDelivered-To: c\n"));
}

BOOST_AUTO_TEST_CASE(x_delivery_id_needs_capital_x) {
  BOOST_TEST(uid_of_headers("X-Delivery-ID: 1\nx-Delivery-ID: 2\nX-delivery-id: 3\nx-delivery-id: 4\n\n") ==
             uid_of_hashed("X-Delivery-ID: 1\nX-delivery-id: 3\n"));
  // Like Delivered-To:, every one counts, also below Received:.
  BOOST_TEST(uid_of_headers("Received: r\nX-DELIVERY-ID: 5\n") == uid_of_hashed("Received: r\nX-DELIVERY-ID: 5\n"));
}

BOOST_AUTO_TEST_CASE(header_names_match_in_any_case) {
  BOOST_TEST(uid_of_headers("dAtE: 1\nMESSAGE-id: <m>\nDELIVERED-TO: d\nreceived: r\nRECEIVED: s\n") ==
             uid_of_hashed("dAtE: 1\nMESSAGE-id: <m>\nDELIVERED-TO: d\nreceived: r\n"));
}

BOOST_AUTO_TEST_CASE(name_must_end_in_its_colon) {
  BOOST_TEST(uid_of_headers("Date :x\nDates: x\nReceived-SPF: x\nMessage-IDs: x\nDelivered-To-Original: x\n"
                            "X-Delivery-IDs: x\nDate\n") == empty_uid);
  BOOST_TEST(uid_of_headers("Date:x\n") == uid_of_hashed("Date:x\n"));
  // A short last line without LF cannot hold a name.
  BOOST_TEST(uid_of_headers("Dat") == empty_uid);
  BOOST_TEST(uid_of_headers("Date:") == uid_of_hashed("Date:"));
}

BOOST_AUTO_TEST_CASE(continuation_follows_its_header) {
  BOOST_TEST(uid_of_headers("Received: a\n\tb\n c\nSubject: s\n\td\nReceived: e\n\tf\nDate: g\n h\n\n") ==
             uid_of_hashed("Received: a\n\tb\n c\n"));
}

BOOST_AUTO_TEST_CASE(continuation_at_top_does_not_count) {
  BOOST_TEST(uid_of_headers(" a\n\tb\nDate: d\n\te\n\n") == uid_of_hashed("Date: d\n\te\n"));
}

BOOST_AUTO_TEST_CASE(lines_hashed_whole_with_cr_and_nul) {
  BOOST_TEST(uid_of_headers("Date: \0x\r\n\n"s) == uid_of_hashed("Date: \0x\r\n"s));
  BOOST_TEST(uid_of_headers("Date: \r\r\n\n") != uid_of_headers("Date: \r\n\n"));
}

BOOST_AUTO_TEST_CASE(body_lines_never_count) {
  BOOST_TEST(uid_of_headers("Subject: s\n\nReceived: r\nDate: d\nDelivered-To: x\n") == empty_uid);
}

BOOST_AUTO_TEST_CASE(header_only_message_all_lines_are_headers) {
  BOOST_TEST(uid_of_headers("Subject: s\r\n\r\nDate: d\r\n") == uid_of_hashed("Date: d\r\n"));
}

BOOST_AUTO_TEST_CASE(identical_counted_lines_share_an_id) {
  const std::string box = "From a\nDate: 1\nSubject: one\n\nfirst\n\nFrom b\nDate: 1\nSubject: two\n\nsecond\n";
  const Scan s = scan(box);
  BOOST_TEST_REQUIRE(s.table.size() == 2u);
  BOOST_TEST(uid(s.table[0]) == uid(s.table[1]));
}

BOOST_AUTO_TEST_CASE(long_folded_header_is_hashed_whole) {
  std::string headers = "Received: from x";
  for (int i = 0; i < 2000; ++i) headers += "\n\tby relay" + std::to_string(i) + ".example.org with ESMTP";
  headers += "\n";
  BOOST_TEST_REQUIRE(headers.size() > 65536u);
  BOOST_TEST(uid_of_headers(headers + "Subject: s\n\nbody\n") == uid_of_hashed(headers));
}

// ---------------------------------------------------------------------------
// Random mailboxes against a naive line-by-line model of the same rules

namespace {

// Spec 9.2 and 10 read literally, a line at a time; slow and obviously right.
Scan naive_scan(std::string_view bytes, std::uint32_t max_messages) {
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos < bytes.size();) {
    const std::size_t lf = bytes.find('\n', pos);
    const std::size_t next = lf == std::string_view::npos ? bytes.size() : lf + 1;
    lines.push_back(bytes.substr(pos, next - pos));
    pos = next;
  }
  const auto is_from = [](std::string_view l) { return l.substr(0, 5) == "From "; };
  Scan s{pop3::ScanStatus::ok, {}};
  if (lines.empty()) return s;
  if (!is_from(lines[0])) return {pop3::ScanStatus::not_mbox, {}};

  struct Extent {
    std::size_t from_line, first, last;
  };
  std::vector<Extent> extents;
  bool after_blank = true;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (after_blank && is_from(lines[i])) {
      if (!extents.empty() && extents.back().first == extents.back().last) return {pop3::ScanStatus::not_mbox, {}};
      if (extents.size() >= max_messages) return {pop3::ScanStatus::too_many_messages, {}};
      extents.push_back({i, i + 1, i + 1});
      continue;   // the "From " line does not change after_blank
    }
    extents.back().last = i + 1;
    after_blank = lines[i] == "\n";
  }
  if (extents.back().first == extents.back().last) return {pop3::ScanStatus::not_mbox, {}};

  std::vector<std::size_t> offsets{0};
  for (auto l : lines) offsets.push_back(offsets.back() + l.size());
  const auto starts_icase = [](std::string_view l, std::string_view name) {
    if (l.size() < name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(l[i])) != name[i]) return false;
    return true;
  };
  for (const auto& e : extents) {
    std::size_t header_end = e.first;   // one past the blank line, or e.last
    while (header_end < e.last && lines[header_end] != "\n") ++header_end;
    const bool has_blank = header_end < e.last;
    std::size_t last = e.last;
    if (has_blank && header_end + 1 < e.last && lines[e.last - 1] == "\n") --last;
    pop3::Md5 md5;
    bool counted = false, received = false;
    for (std::size_t i = e.first; i < header_end; ++i) {
      const auto l = lines[i];
      if (l[0] != ' ' && l[0] != '\t') {
        if (starts_icase(l, "received:")) {
          counted = !received;
          received = true;
        } else if (starts_icase(l, "date:") || starts_icase(l, "message-id:")) {
          counted = !received;
        } else {
          counted = starts_icase(l, "delivered-to:") || (l[0] == 'X' && starts_icase(l, "x-delivery-id:"));
        }
      }
      if (counted) md5.update(l);
    }
    Message m{};
    m.from_offset = offsets[e.from_line];
    m.data_offset = offsets[e.first];
    m.data_length = offsets[last] - offsets[e.first];
    m.size = m.data_length + (last - e.first);
    m.digest = md5.final();
    s.table.push_back(m);
  }
  return s;
}

std::string random_mailbox(std::mt19937& rng) {
  static const std::vector<std::string> odd_lines = {
      "From x@y Mon Jan  1 00:00:00 2001\n", "From \n", "From", "From  two\n", "\n", "\n", "\n", "\r\n", " \n",
      "\t\n", "\tcontinued\n", " folded more\n", "Received: from a by b\n", "received:x\n", "RECEIVED: y\n",
      "Received-SPF: pass\n", "Date: Mon, 1 Jan 2001\n", "DATE:x\n", "Date :x\n", "Message-ID: <m@x>\n",
      "Message-IDs: no\n", "Delivered-To: a@b\n", "delivered-to: c\n", "X-Delivery-ID: 1\n",
      "x-Delivery-ID: 2\n", "X-delivery-id: 3\n", "Subject: s\n", ">From x\n", "FROM x\n", "From:x\n",
      ".\n", "..\n", "\0\n"s, "a\0b\r\n"s, "\xff\xfe\n", "\r", "body text of a message\n"};
  std::string box = rng() % 8 != 0 ? "From a\n" : "";
  const std::size_t n = rng() % 60;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned pick = rng() % 10;
    if (pick == 0) {
      box += std::string(1 + rng() % 300, 'A' + static_cast<char>(rng() % 26)) + '\n';   // body runs
    } else if (pick == 1) {
      for (std::size_t j = rng() % 40; j > 0; --j) box += std::string(rng() % 90, 'b') + '\n';
    } else {
      box += odd_lines[rng() % odd_lines.size()];
    }
  }
  if (rng() % 2 != 0) box.resize(rng() % (box.size() + 1));   // cut anywhere, mid-line too
  return box;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_mailboxes_match_naive_model) {
  std::mt19937 rng(20240601);
  std::size_t ok_count = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string box = random_mailbox(rng);
    const std::uint32_t max = rng() % 4 == 0 ? rng() % 5 : 2097152;
    const Scan got = scan(box, max);
    const Scan want = naive_scan(box, max);
    BOOST_TEST_REQUIRE((got.status == want.status), "round " << round);
    BOOST_TEST_REQUIRE(got.table.size() == want.table.size(), "round " << round);
    std::uint64_t sum_sizes = 0, sum_expected = 0;
    for (std::size_t i = 0; i < got.table.size(); ++i) {
      const Message& g = got.table[i];
      const Message& w = want.table[i];
      BOOST_TEST_REQUIRE(g.from_offset == w.from_offset, "round " << round << " message " << i);
      BOOST_TEST_REQUIRE(g.data_offset == w.data_offset, "round " << round << " message " << i);
      BOOST_TEST_REQUIRE(g.data_length == w.data_length, "round " << round << " message " << i);
      BOOST_TEST_REQUIRE(g.size == w.size, "round " << round << " message " << i);
      BOOST_TEST_REQUIRE((g.digest == w.digest), "round " << round << " message " << i);
      // Extents are in order and within the bytes; sizes add up from the data itself.
      BOOST_TEST_REQUIRE(g.from_offset < g.data_offset);
      BOOST_TEST_REQUIRE(g.data_offset + g.data_length <= box.size());
      if (i + 1 < got.table.size()) BOOST_TEST_REQUIRE(g.data_offset + g.data_length <= got.table[i + 1].from_offset);
      sum_sizes += g.size;
      sum_expected += g.data_length + count_lines(std::string_view(box).substr(g.data_offset, g.data_length));
    }
    BOOST_TEST_REQUIRE(sum_sizes == sum_expected, "round " << round);
    if (got.status == pop3::ScanStatus::ok && !got.table.empty()) ++ok_count;
  }
  // The generator must produce plenty of loadable mailboxes, not just refusals.
  BOOST_TEST(ok_count > 5000u);
}

// ---------------------------------------------------------------------------
// Golden: sizes and ids popa3d 1.0.3 reported for the recorded cases

namespace {

std::optional<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string strip_line_end(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return std::string(line);
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "<n> <value>" -> (n, value)
std::optional<std::pair<std::uint64_t, std::string>> parse_pair(std::string_view s) {
  const std::size_t sp = s.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  const auto n = parse_u64(s.substr(0, sp));
  if (!n) return std::nullopt;
  return std::pair{*n, std::string(s.substr(sp + 1))};
}

struct GoldenTally {
  std::size_t cases = 0, sizes = 0, ids = 0, stats = 0, refusals = 0;
};

// Replays the reply stream of one case in step with its command pieces (split after each
// LF, as the README's lockstep mode does) and checks every listing against scan_mbox.
void check_case(const std::filesystem::path& dir, GoldenTally& tally) {
  const auto commands = read_file(dir / "commands");
  const auto out = read_file(dir / "expected.out");
  const auto mailbox = read_file(dir / "mailbox");
  BOOST_TEST_REQUIRE((commands && out && mailbox));
  const Scan s = scan(*mailbox);
  const std::string name = dir.filename().string();

  std::size_t pos = 0;
  const auto next_line = [&]() -> std::optional<std::string_view> {
    if (pos >= out->size()) return std::nullopt;
    const std::size_t lf = out->find('\n', pos);
    const std::size_t end = lf == std::string::npos ? out->size() : lf + 1;
    std::string_view line = std::string_view(*out).substr(pos, end - pos);
    pos = end;
    return line;
  };
  if (!next_line()) return;   // greeting

  std::string user;
  bool logged_in = false, deleted = false, checked = false;
  for (std::size_t start = 0; start < commands->size();) {
    const std::size_t lf = commands->find('\n', start);
    const std::size_t end = lf == std::string::npos ? commands->size() : lf + 1;
    const std::string_view piece = std::string_view(*commands).substr(start, end - start);
    start = end;

    const std::string line = strip_line_end(piece);
    const std::size_t sp = line.find(' ');
    const std::string verb = upper(line.substr(0, sp));
    const std::string rest = sp == std::string::npos ? "" : line.substr(sp);
    const bool nul = piece.find('\0') != std::string_view::npos;
    const bool listing = (verb == "LIST" || verb == "UIDL") && (rest.empty() || rest == " ");
    const bool multi = !nul && (verb == "RETR" || verb == "TOP" || listing);

    const auto reply = next_line();
    if (!reply) break;   // the server closed its output
    const bool ok = reply->substr(0, 3) == "+OK";
    std::vector<std::string> block;
    if (multi && ok) {
      for (;;) {
        const auto l = next_line();
        BOOST_TEST_REQUIRE(l.has_value(), name << ": unterminated multi-line reply to " << line);
        if (*l == ".\r\n") break;
        block.push_back(strip_line_end(*l));
      }
    }
    if (nul) continue;

    if (!logged_in) {
      if (verb == "USER" && ok && user.empty()) user = rest.empty() ? "" : rest.substr(1);
      if (verb == "PASS" && user == "alice" && line == "PASS secret") {
        if (ok) {
          logged_in = true;
          BOOST_TEST_REQUIRE((s.status == pop3::ScanStatus::ok), name << ": popa3d loaded this mailbox");
        } else {
          // The right password refused: popa3d could not load the mailbox (spec 9.1).
          BOOST_TEST((s.status == pop3::ScanStatus::not_mbox), name << ": popa3d refused this mailbox");
          ++tally.refusals;
          checked = true;
          break;
        }
      }
      continue;
    }

    if (verb == "DELE" && ok) deleted = true;
    if (verb == "STAT" && rest.empty() && ok && !deleted) {
      const auto pair = parse_pair(strip_line_end(reply->substr(4)));
      BOOST_TEST_REQUIRE(pair.has_value(), name << ": STAT reply " << *reply);
      std::uint64_t total = 0;
      for (const auto& m : s.table) total += m.size;
      BOOST_TEST(pair->first == s.table.size(), name << ": STAT count");
      BOOST_TEST(pair->second == std::to_string(total), name << ": STAT total");
      ++tally.stats;
      checked = true;
    }
    if (verb != "LIST" && verb != "UIDL") continue;
    if (!multi && ok) {
      // "LIST n" / "UIDL n": "+OK n value" on one line.
      const auto pair = parse_pair(strip_line_end(reply->substr(4)));
      if (pair) block.push_back(std::to_string(pair->first) + " " + pair->second);
    }
    for (const std::string& entry : block) {
      const auto pair = parse_pair(entry);
      BOOST_TEST_REQUIRE(pair.has_value(), name << ": listing line " << entry);
      BOOST_TEST_REQUIRE((pair->first >= 1 && pair->first <= s.table.size()), name << ": message " << pair->first);
      const Message& m = s.table[pair->first - 1];
      if (verb == "LIST") {
        BOOST_TEST(pair->second == std::to_string(m.size), name << ": LIST " << pair->first);
        ++tally.sizes;
      } else {
        BOOST_TEST(pair->second == uid(m), name << ": UIDL " << pair->first);
        ++tally.ids;
      }
      checked = true;
    }
  }
  if (checked) ++tally.cases;
}

std::filesystem::path conformance_cases() {
  return std::filesystem::path(POP3_SOURCE_DIR) / ".." / "shared" / "conformance" / "cases";
}

}  // namespace

BOOST_AUTO_TEST_CASE(golden_listings_from_recorded_cases) {
  const auto dir = conformance_cases();
  if (!std::filesystem::is_directory(dir)) {
    const char* ci = std::getenv("CI");
    BOOST_TEST_REQUIRE(!(ci != nullptr && std::string_view(ci) == "true"),
                       "CI=true but the recorded cases are missing: " << dir);
    BOOST_TEST_MESSAGE("skipped: no recorded cases at " << dir);
    return;
  }
  std::vector<std::filesystem::path> cases;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    // Cases with hooks change the mailbox while connected; without a mailbox file
    // there is nothing to scan.
    if (entry.is_directory() && !std::filesystem::exists(entry.path() / "hooks") &&
        std::filesystem::exists(entry.path() / "mailbox"))
      cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  GoldenTally tally;
  for (const auto& c : cases) check_case(c, tally);
  BOOST_TEST_MESSAGE("golden: " << tally.cases << " cases, " << tally.sizes << " sizes, " << tally.ids << " ids, "
                                << tally.stats << " STATs, " << tally.refusals << " refusals");
  // The recorded set has dozens of such cases; a parse that silently matched nothing
  // must not pass.
  BOOST_TEST(tally.cases >= 20u);
  BOOST_TEST(tally.sizes >= 100u);
  BOOST_TEST(tally.ids >= 100u);
  BOOST_TEST(tally.refusals >= 2u);
}

// ---------------------------------------------------------------------------
// MboxScanner fed in windows, as the mailbox reads the file: the same table as one scan
// of the whole file, however the file is cut

namespace {

struct Windowed {
  Scan scan;
  std::size_t max_left = 0;   // most bytes a feed() before the end left unconsumed
  std::string problem;        // the first broken promise of feed(), if any
};

// Feeds `bytes` to an MboxScanner as the mailbox does: each call gets the bytes the last
// one left, then the next next_window() (>= 1) bytes of the file, in a heap block of
// exactly that size so that AddressSanitizer sees any read past it. Feeding goes on to
// the end even after a refusal, to check that nothing more happens.
template <class NextWindow>
Windowed scan_windows(std::string_view bytes, std::uint32_t max_messages, NextWindow&& next_window) {
  Windowed w;
  pop3::MboxScanner<pop3::Md5> scanner(w.scan.table, max_messages);
  std::string left;
  std::size_t pos = 0;   // file offset of the first byte not given yet
  for (;;) {
    const std::size_t n = std::min<std::size_t>(next_window(), bytes.size() - pos);
    const bool at_eof = pos + n == bytes.size();
    const std::size_t size = left.size() + n;
    const auto exact = std::make_unique<char[]>(size);
    std::copy(left.begin(), left.end(), exact.get());
    std::copy_n(bytes.data() + pos, n, exact.get() + left.size());
    pos += n;
    const bool refused = scanner.status() != pop3::ScanStatus::ok;
    if (scanner.done_offset() != pos - size) w.problem = "done_offset() is not the offset of the bytes fed";
    const std::size_t used = scanner.feed({exact.get(), size}, at_eof);
    if (used > size) w.problem = "consumed more than it was given";
    if (scanner.done_offset() != pos - size + used) w.problem = "done_offset() did not advance by the bytes consumed";
    if ((at_eof || refused) && used != size) w.problem = "left bytes at the end of the file or after a refusal";
    if (refused && !w.scan.table.empty()) w.problem = "a table after a refusal";
    if (!w.problem.empty() || at_eof) break;
    left.assign(exact.get() + used, size - used);
    w.max_left = std::max(w.max_left, left.size());
    if (left.size() > pop3::MboxScanner<pop3::Md5>::max_carry) {
      w.problem = "left more than max_carry bytes";
      break;
    }
  }
  w.scan.status = scanner.status();
  return w;
}

// Empty if `got` is exactly `want`, else what differs.
std::string difference(const Scan& got, const Scan& want) {
  if (got.status != want.status) return "status";
  if (got.table.size() != want.table.size()) return "message count";
  for (std::size_t i = 0; i < got.table.size(); ++i) {
    const Message& g = got.table[i];
    const Message& w = want.table[i];
    if (g.from_offset != w.from_offset || g.data_offset != w.data_offset || g.data_length != w.data_length ||
        g.size != w.size || g.digest != w.digest)
      return "message " + std::to_string(i);
  }
  return {};
}

constexpr std::array<std::size_t, 10> window_sizes{1, 2, 3, 5, 7, 13, 64, 65, 127, 4096};

// Scans `box` whole and in windows of every size above and of random sizes; empty if every
// way gives the same result and keeps feed()'s promises, else the first way that did not.
std::string check_every_window(std::string_view box, std::uint32_t max_messages, std::mt19937& rng) {
  const Scan whole = scan(box, max_messages);
  const auto check = [&](const Windowed& w, const std::string& how) -> std::string {
    if (!w.problem.empty()) return how + ": " + w.problem;
    const std::string diff = difference(w.scan, whole);
    return diff.empty() ? diff : how + ": " + diff + " differs from the whole scan";
  };
  for (const std::size_t size : window_sizes) {
    const std::string problem =
        check(scan_windows(box, max_messages, [&] { return size; }), "windows of " + std::to_string(size));
    if (!problem.empty()) return problem;
  }
  for (int i = 0; i < 2; ++i) {
    const auto seed = static_cast<std::uint32_t>(rng());
    std::mt19937 sizes(seed);
    const std::string problem = check(scan_windows(box, max_messages,
                                                   [&] { return 1 + sizes() % (sizes() % 8 == 0 ? 5000 : 100); }),
                                      "random windows, seed " + std::to_string(seed));
    if (!problem.empty()) return problem;
  }
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(windows_match_whole_scan_on_random_mailboxes) {
  // The same generator and seed as random_mailboxes_match_naive_model, so the whole scan
  // these are compared with is the one checked against the model there.
  std::mt19937 rng(20240601);
  std::mt19937 window_rng(7);
  std::size_t ok_count = 0;
  for (int round = 0; round < 2000; ++round) {
    const std::string box = random_mailbox(rng);
    const std::uint32_t max = rng() % 4 == 0 ? rng() % 5 : 2097152;
    const std::string problem = check_every_window(box, max, window_rng);
    BOOST_TEST_REQUIRE(problem.empty(), "round " << round << ": " << problem);
    if (scan(box, max).status == pop3::ScanStatus::ok) ++ok_count;
  }
  BOOST_TEST(ok_count > 500u);
}

BOOST_AUTO_TEST_CASE(windows_match_whole_scan_on_recorded_mailboxes) {
  const auto dir = conformance_cases();
  if (!std::filesystem::is_directory(dir)) {
    const char* ci = std::getenv("CI");
    BOOST_TEST_REQUIRE(!(ci != nullptr && std::string_view(ci) == "true"),
                       "CI=true but the recorded cases are missing: " << dir);
    BOOST_TEST_MESSAGE("skipped: no recorded cases at " << dir);
    return;
  }
  std::vector<std::filesystem::path> boxes;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (std::filesystem::exists(entry.path() / "mailbox")) boxes.push_back(entry.path() / "mailbox");
  std::sort(boxes.begin(), boxes.end());
  std::mt19937 window_rng(11);
  std::uint64_t bytes = 0;
  for (const auto& path : boxes) {
    const auto box = read_file(path);
    BOOST_TEST_REQUIRE(box.has_value());
    const std::string problem = check_every_window(*box, 2097152, window_rng);
    BOOST_TEST(problem.empty(), path.parent_path().filename().string() << ": " << problem);
    bytes += box->size();
  }
  BOOST_TEST(boxes.size() >= 20u);
  BOOST_TEST(bytes > 1000000u);   // large-2000, mbox-long-line and friends are among them
}

BOOST_AUTO_TEST_CASE(lines_far_longer_than_a_window) {
  // Spec 9.3: 200 KiB lines and header lines over 64 KiB occur. In 4 KiB windows they are
  // taken in pieces (the scanner never sees more than 4 KiB + max_carry at once).
  const std::string from_line = "From " + std::string(300 * 1024, 'f') + "\n";
  const std::string received = "Received: " + std::string(300 * 1024, 'r') + "\n";
  std::string folded = "Date: x";
  for (int i = 0; i < 4000; ++i) folded += "\n\tby relay" + std::to_string(i) + ".example.org";
  folded += "\n";
  BOOST_TEST_REQUIRE(folded.size() > 90u * 1024);
  const std::string subject = "Subject: " + std::string(300 * 1024, 's') + "\n";
  const std::string box = from_line + received + subject + "\nbody " + std::string(300 * 1024, 'b') + "\n\n" +
                          from_line + folded + subject + "X-Delivery-ID: " + std::string(300 * 1024, 'x');
  const Windowed w = scan_windows(box, 10, [] { return std::size_t{4096}; });
  BOOST_TEST_REQUIRE(w.problem.empty(), w.problem);
  BOOST_TEST(difference(w.scan, scan(box, 10)).empty());
  BOOST_TEST_REQUIRE((w.scan.status == pop3::ScanStatus::ok));
  BOOST_TEST_REQUIRE(w.scan.table.size() == 2u);
  const Message& first = w.scan.table[0];
  BOOST_TEST(first.data_offset == from_line.size());
  BOOST_TEST(first.data_length == received.size() + subject.size() + 1 + 5 + 300 * 1024 + 1);
  BOOST_TEST(first.size == first.data_length + 4);
  BOOST_TEST(uid(first) == uid_of_hashed(received));
  const Message& second = w.scan.table[1];
  BOOST_TEST(second.from_offset == first.data_offset + first.data_length + 1);
  BOOST_TEST(second.data_length == box.size() - second.data_offset);
  BOOST_TEST(uid(second) == uid_of_hashed(folded + "X-Delivery-ID: " + std::string(300 * 1024, 'x')));
}

BOOST_AUTO_TEST_CASE(unconsumed_bytes_stay_within_max_carry) {
  // Every decision that needs bytes ahead, right at a window's end: a header name (14 bytes
  // for X-Delivery-ID:), "From " after a blank line and after a "From " line, the last
  // bytes of the file. One byte at a time, the scanner must wait for them, and never hold
  // more than max_carry.
  const std::string box =
      "From a\nX-Delivery-ID: 1\nx-delivery-id: 2\nDelivered-To: d\n\nFrom b\nMessage-ID: m\n\nbody\n\n"
      "From c\nFrom: c\n\n\nFrom  d\nReceived: r\n\nlast\n\n";
  const Windowed w = scan_windows(box, 10, [] { return std::size_t{1}; });
  BOOST_TEST_REQUIRE(w.problem.empty(), w.problem);
  BOOST_TEST(difference(w.scan, scan(box)).empty());
  BOOST_TEST(w.scan.table.size() == 4u);
  BOOST_TEST(w.max_left >= pop3::detail::UidlHeaderFilter::name_bytes - 1);
  BOOST_TEST(w.max_left <= pop3::MboxScanner<pop3::Md5>::max_carry);
  // A window of max_carry + 1 bytes after the carry always gets somewhere.
  const Windowed tight = scan_windows(box, 10, [] { return pop3::MboxScanner<pop3::Md5>::max_carry + 1; });
  BOOST_TEST(tight.problem.empty(), tight.problem);
  BOOST_TEST(difference(tight.scan, scan(box)).empty());
}

BOOST_AUTO_TEST_CASE(refusal_is_final_before_the_end_of_the_file) {
  using Scanner = pop3::MboxScanner<pop3::Md5>;
  {
    std::vector<Message> table(3);
    Scanner s(table, 10);
    BOOST_TEST(table.empty());
    BOOST_TEST(s.feed("Subject: not a mailbox\n", false) == 23u);
    BOOST_TEST((s.status() == pop3::ScanStatus::not_mbox));
    BOOST_TEST(s.feed("From a\nx\n", true) == 9u);
    BOOST_TEST((s.status() == pop3::ScanStatus::not_mbox));
    BOOST_TEST(s.done_offset() == 32u);
    BOOST_TEST(table.empty());
  }
  {
    // "Fro" may still become "From "; "Frox" cannot.
    std::vector<Message> table;
    Scanner s(table, 10);
    s.feed("Fro", false);
    BOOST_TEST((s.status() == pop3::ScanStatus::ok));
    BOOST_TEST(s.feed("Frox", false) == 4u);
    BOOST_TEST((s.status() == pop3::ScanStatus::not_mbox));
  }
  {
    // A "From " line right after a "From " line, with the file going on.
    std::vector<Message> table;
    Scanner s(table, 10);
    const std::string_view bytes = "From a\nx\n\nFrom b\nFrom c\nmore\n";
    BOOST_TEST(s.feed(bytes, false) == bytes.size());
    BOOST_TEST((s.status() == pop3::ScanStatus::not_mbox));
    BOOST_TEST(table.empty());
  }
  {
    // The third message is one too many as soon as its "From " line is seen.
    std::vector<Message> table;
    Scanner s(table, 2);
    const std::string_view bytes = "From a\nx\n\nFrom b\ny\n\nFrom c";
    BOOST_TEST(s.feed(bytes, false) == bytes.size());
    BOOST_TEST((s.status() == pop3::ScanStatus::too_many_messages));
    BOOST_TEST(table.empty());
    BOOST_TEST(s.feed("\nz\n\nFrom d\n", false) == 11u);
    BOOST_TEST(s.feed("w\n", true) == 2u);
    BOOST_TEST((s.status() == pop3::ScanStatus::too_many_messages));
    BOOST_TEST(table.empty());
    BOOST_TEST(s.done_offset() == bytes.size() + 13);
  }
}
