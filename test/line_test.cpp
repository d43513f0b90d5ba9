// pop3/protocol/line.hpp: popa3d's line reading rules (spec section 4).
#define BOOST_TEST_MODULE line
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "pop3/protocol/line.hpp"

namespace {

// All lines of `input` fed in `chunk`-byte reads, plus the last line at end of input.
std::vector<std::string> lines_of(const std::string& input, std::size_t chunk = 4096) {
  pop3::LineReader reader{128};
  std::vector<std::string> lines;
  std::size_t pos = 0;
  for (;;) {
    while (auto line = reader.next_line()) lines.emplace_back(*line);
    if (pos == input.size()) break;
    auto space = reader.read_space();
    const std::size_t n = std::min({space.size(), chunk, input.size() - pos});
    std::copy_n(input.data() + pos, n, space.data());
    reader.commit(n);
    pos += n;
  }
  if (auto last = reader.last_line()) lines.emplace_back(std::string(*last) + "<EOF>");
  return lines;
}

using Lines = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_CASE(crlf_and_lf_endings) {
  BOOST_TEST((lines_of("STAT\r\nNOOP\nQUIT\r\n") == Lines{"STAT", "NOOP", "QUIT"}));
}

BOOST_AUTO_TEST_CASE(only_the_cr_before_lf_goes) {
  BOOST_TEST((lines_of("NOOP\r\r\nA\rB\r\n\r\n") == Lines{"NOOP\r", "A\rB", ""}));
}

BOOST_AUTO_TEST_CASE(nul_empties_the_line) {
  BOOST_TEST((lines_of(std::string("NO\0OP\r\nX\r\n", 10)) == Lines{"", "X"}));
  // Also a NUL beyond the kept bytes.
  std::string long_nul = std::string(200, 'a') + '\0' + "\r\nX\r\n";
  BOOST_TEST((lines_of(long_nul) == Lines{"", "X"}));
}

BOOST_AUTO_TEST_CASE(long_lines_keep_127_bytes) {
  const std::string head(127, 'a');
  for (std::size_t chunk : {1u, 7u, 128u, 4096u}) {
    BOOST_TEST((lines_of(head + "bbbb\r\nX\n", chunk) == Lines{head, "X"}));
    // A CR as byte 128 is thrown away with the rest, and not removed from byte 127.
    BOOST_TEST((lines_of(std::string(126, 'a') + "\r\r\n", chunk) ==
                Lines{std::string(126, 'a') + "\r"}));
    // Longer than the whole input buffer.
    BOOST_TEST((lines_of(std::string(10000, 'z') + "\nQ\n", chunk) ==
                Lines{std::string(127, 'z'), "Q"}));
  }
}

BOOST_AUTO_TEST_CASE(last_line_without_lf) {
  BOOST_TEST((lines_of("STAT\r\nQUIT") == Lines{"STAT", "QUIT<EOF>"}));
  BOOST_TEST((lines_of("STAT\r\n") == Lines{"STAT"}));
  BOOST_TEST((lines_of("QUIT\r") == Lines{"QUIT\r<EOF>"}));
}

BOOST_AUTO_TEST_CASE(pending_bytes_survive_for_handover) {
  pop3::LineReader reader{128};
  reader.append("PASS x\r\nSTAT\r\nLI");
  BOOST_TEST(*reader.next_line() == "PASS x");
  BOOST_TEST(reader.pending() == "STAT\r\nLI");
  reader.wipe_consumed();
  BOOST_TEST(reader.pending() == "STAT\r\nLI");
  pop3::LineReader next{128};
  next.append(reader.pending());
  next.append("ST\r\n");
  BOOST_TEST(*next.next_line() == "STAT");
  BOOST_TEST(*next.next_line() == "LIST");
}

BOOST_AUTO_TEST_CASE(discard_forgets_whole_and_partial_lines) {
  // What STLS needs: plaintext read ahead, a partial line included, never runs afterwards.
  pop3::LineReader reader{128};
  reader.append("STLS\r\nSTAT\r\nLIST 1\r\nRET");
  BOOST_TEST(*reader.next_line() == "STLS");
  BOOST_TEST(reader.pending() == "STAT\r\nLIST 1\r\nRET");
  reader.discard();
  BOOST_TEST(reader.pending().empty());
  BOOST_TEST(!reader.next_line());
  BOOST_TEST(!reader.last_line());
  // The next bytes start a fresh line, with no head kept from before.
  reader.append("R 1\r\n");
  BOOST_TEST(*reader.next_line() == "R 1");
  // A long line cut in the middle of its discarded head: nothing of it is kept either.
  reader.append(std::string(300, 'x'));
  BOOST_TEST(!reader.next_line());
  reader.discard();
  reader.append("NOOP\r\n");
  BOOST_TEST(*reader.next_line() == "NOOP");
  BOOST_TEST(reader.read_space().size() == pop3::input_buffer_size);
}
