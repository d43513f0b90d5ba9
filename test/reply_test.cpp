// pop3/protocol/reply.hpp: reply formatting and the RETR/TOP encoder (spec sections 3, 11).
#define BOOST_TEST_MODULE reply
#include <boost/test/unit_test.hpp>

#include <string>

#include "pop3/protocol/reply.hpp"

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
