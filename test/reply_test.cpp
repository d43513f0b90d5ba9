// pop3/protocol/reply.hpp: reply formatting and the RETR/TOP encoder (spec sections 3, 11).
#define BOOST_TEST_MODULE reply
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>

#include "pop3/protocol/reply.hpp"

using namespace std::string_literals;

namespace {

// The encoding of `data` fed in `chunk`-byte pieces.
std::string encode(std::string_view data, std::uint64_t lines = pop3::MessageEncoder::all_lines,
                   std::size_t chunk = 1 << 20) {
  pop3::OutputBuffer out;
  pop3::MessageEncoder encoder{lines};
  for (std::size_t pos = 0; pos < data.size(); pos += chunk)
    if (!encoder.encode(data.substr(pos, chunk), out)) break;
  encoder.finish(out);
  return std::string(out.view());
}

}  // namespace

BOOST_AUTO_TEST_CASE(replies) {
  pop3::OutputBuffer out;
  pop3::append_ok(out);
  pop3::append_err(out);
  pop3::append_ok_pair(out, 3, 18446744073709551615ULL);
  pop3::append_ok_number(out, 0);
  pop3::append_listing_line(out, 7, "d98c1dd404b2008f");
  BOOST_TEST(out.view() == "+OK\r\n-ERR\r\n+OK 3 18446744073709551615\r\n+OK 0\r\n7 d98c1dd404b2008f\r\n");
}

BOOST_AUTO_TEST_CASE(crlf_and_dot_stuffing) {
  BOOST_TEST(encode("a\nb\n") == "a\r\nb\r\n");
  BOOST_TEST(encode(".\n..\n.x\nx.\n") == "..\r\n...\r\n..x\r\nx.\r\n");
  BOOST_TEST(encode("a\r\n") == "a\r\r\n");
  BOOST_TEST(encode("no end") == "no end\r\n");
  BOOST_TEST(encode(".") == "..\r\n");
  BOOST_TEST(encode("\n") == "\r\n");
  BOOST_TEST(encode(std::string("\0\n", 2)) == std::string("\0\r\n", 3));
}

BOOST_AUTO_TEST_CASE(top_counts_body_lines) {
  const std::string m = "H: 1\nH: 2\n\nb1\n\nb3\n.b4";
  BOOST_TEST(encode(m, 0) == "H: 1\r\nH: 2\r\n\r\n");
  BOOST_TEST(encode(m, 1) == "H: 1\r\nH: 2\r\n\r\nb1\r\n");
  BOOST_TEST(encode(m, 2) == "H: 1\r\nH: 2\r\n\r\nb1\r\n\r\n");
  BOOST_TEST(encode(m, 4) == "H: 1\r\nH: 2\r\n\r\nb1\r\n\r\nb3\r\n..b4\r\n");
  BOOST_TEST(encode(m, 2147483647) == encode(m));
  // No blank line: all header, sent whole. Data starting with a blank line: no headers.
  BOOST_TEST(encode("H: 1\r\nH: 2\r\n", 0) == "H: 1\r\r\nH: 2\r\r\n");
  BOOST_TEST(encode("\nbody\n", 0) == "\r\n");
}

BOOST_AUTO_TEST_CASE(chunking_does_not_change_the_encoding) {
  const std::string m = "H: 1\n.H: 2\n\n.b1\n\nb3\n..b4\nlast";
  for (std::uint64_t lines : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{3}, pop3::MessageEncoder::all_lines})
    for (std::size_t chunk = 1; chunk <= m.size(); ++chunk)
      BOOST_TEST(encode(m, lines, chunk) == encode(m, lines), "lines " << lines << " chunk " << chunk);
}

namespace {

// RETR's encoding, byte by byte, as spec 11 states it: CR before each LF, and a '.'
// before a '.' at the start of a line; a last line without LF gets CR LF.
// `line_start`: the first byte starts a line; set for the byte after the last.
std::string naive_retr_bytes(std::string_view data, bool& line_start) {
  std::string out;
  for (const char c : data) {
    if (line_start && c == '.') out += '.';
    if (c == '\n') out += '\r';
    out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string naive_retr(std::string_view data) {
  bool line_start = true;
  std::string out = naive_retr_bytes(data, line_start);
  if (!line_start) out += "\r\n";
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_messages_in_random_chunks_match_the_byte_rule) {
  // Long enough for the 64-byte block path (x86-64), with lines of every length, runs of
  // LFs and dots, and the same text cut into chunks of random sizes.
  std::mt19937 rng(20261129);
  const std::string alphabet = "..\n\n\nab.\r\0"s;
  for (int round = 0; round < 3000; ++round) {
    const std::size_t size = rng() % 1500;
    const unsigned density = 1 + rng() % 64;   // one special byte in `density`, on average
    std::string data(size, 'x');
    for (char& c : data)
      if (rng() % density == 0) c = alphabet[rng() % alphabet.size()];
    const std::string want = naive_retr(data);
    BOOST_TEST_REQUIRE(encode(data) == want, "round " << round);
    pop3::OutputBuffer out;
    pop3::MessageEncoder encoder;
    for (std::size_t pos = 0; pos < data.size();) {
      const std::size_t n = std::min<std::size_t>(data.size() - pos, 1 + rng() % 300);
      encoder.encode(std::string_view(data).substr(pos, n), out);
      pos += n;
    }
    encoder.finish(out);
    BOOST_TEST_REQUIRE(std::string(out.view()) == want, "round " << round << " in chunks");
  }
}

#if defined(POP3_AVX2_DISPATCH)
BOOST_AUTO_TEST_CASE(every_block_encoder_gives_the_byte_rule) {
  // MessageEncoder takes the widest block encoder the CPU has, so the cases above test only
  // that one: here each one this CPU runs must encode what it takes as the byte rule does,
  // carry line_start over, and leave fewer than 128 bytes to the line loop.
  std::mt19937 rng(20261201);
  const std::string alphabet = "..\n\n\nab.\r\0"s;
  for (const auto& [name, encode_blocks] : pop3::detail::retr_block_encoders()) {
    for (int round = 0; round < 3000; ++round) {
      std::string data(rng() % 1600, 'x');
      const unsigned density = 1 + rng() % 64;
      for (char& c : data)
        if (rng() % density == 0) c = alphabet[rng() % alphabet.size()];
      if (round % 7 == 0) std::fill(data.begin(), data.end(), round % 2 ? '\n' : '.');   // a mark at every byte
      const bool line_start = rng() % 2 == 0;
      std::string out(2 * data.size(), '\0');
      const char* p = data.data();
      char* o = out.data();
      bool start = line_start;
      encode_blocks(p, data.data() + data.size(), o, start);
      const auto taken = static_cast<std::size_t>(p - data.data());
      BOOST_TEST_REQUIRE(data.size() - taken < 128u, name << " round " << round);
      bool want_start = line_start;
      const std::string want = naive_retr_bytes(std::string_view(data).substr(0, taken), want_start);
      BOOST_TEST_REQUIRE(std::string_view(out.data(), static_cast<std::size_t>(o - out.data())) == want,
                         name << " round " << round);
      BOOST_TEST_REQUIRE(start == want_start, name << " round " << round);
    }
  }
}
#endif
