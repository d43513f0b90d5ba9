// Tests for pop3/digest/md5.hpp: RFC 1321 appendix A.5 vectors, incremental
// updates cut at every offset, and inputs longer than one block.
#define BOOST_TEST_MODULE md5
#include <boost/test/unit_test.hpp>

#include "pop3/digest/md5.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

std::string hex(const pop3::Md5::value_type& digest) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : digest) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

std::string md5_hex(std::string_view bytes) {
  pop3::Md5 md5;
  md5.update(bytes);
  return hex(md5.final());
}

struct Vector {
  std::string_view input;
  std::string_view digest;
};

// RFC 1321 appendix A.5, all seven.
constexpr Vector rfc1321_suite[] = {
    {"", "d41d8cd98f00b204e9800998ecf8427e"},
    {"a", "0cc175b9c0f1b6a831c399e269772661"},
    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
    {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "d174ab98d277d9f5a5611c2c9f419d9f"},
    {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "57edf4a22be3c955ac49da2e2107b67a"},
};

}  // namespace

BOOST_AUTO_TEST_CASE(rfc1321_test_vectors) {
  for (const auto& v : rfc1321_suite) BOOST_TEST(md5_hex(v.input) == v.digest, "input \"" << v.input << '"');
}

BOOST_AUTO_TEST_CASE(update_cut_at_every_offset) {
  for (const auto& v : rfc1321_suite) {
    for (std::size_t cut = 0; cut <= v.input.size(); ++cut) {
      pop3::Md5 md5;
      md5.update(v.input.substr(0, cut));
      md5.update(v.input.substr(cut));
      BOOST_TEST(hex(md5.final()) == v.digest, "cut " << cut);
    }
  }
}

BOOST_AUTO_TEST_CASE(update_in_two_cuts_across_blocks) {
  // 200 bytes crosses three block boundaries; every pair of cuts exercises a partly
  // filled buffer followed by whole blocks taken from the input directly.
  std::string input;
  for (int i = 0; i < 200; ++i) input += static_cast<char>('!' + (i * 7) % 90);
  const std::string whole = md5_hex(input);
  const std::string_view in = input;
  for (std::size_t a = 0; a <= in.size(); ++a) {
    for (std::size_t b = a; b <= in.size(); b += 3) {
      pop3::Md5 md5;
      md5.update(in.substr(0, a));
      md5.update(in.substr(a, b - a));
      md5.update(in.substr(b));
      BOOST_TEST_REQUIRE(hex(md5.final()) == whole, "cuts " << a << ' ' << b);
    }
  }
}

BOOST_AUTO_TEST_CASE(padding_boundaries) {
  // Lengths 55, 56 and 64 decide whether the bit length fits in the last block.
  // Reference values from coreutils md5sum.
  BOOST_TEST(md5_hex(std::string(55, 'a')) == "ef1772b6dff9a122358552954ad0df65");
  BOOST_TEST(md5_hex(std::string(56, 'a')) == "3b0c8ac703f828b04c6c197006d17218");
  BOOST_TEST(md5_hex(std::string(63, 'a')) == "b06521f39153d618550606be297466d5");
  BOOST_TEST(md5_hex(std::string(64, 'a')) == "014842d480b571495a4a0363793f7367");
}

BOOST_AUTO_TEST_CASE(one_million_a) {
  // The classic long vector: one million 'a', fed in 1000-byte pieces.
  const std::string piece(1000, 'a');
  pop3::Md5 md5;
  for (int i = 0; i < 1000; ++i) md5.update(piece);
  BOOST_TEST(hex(md5.final()) == "7707d6ae4e027c70eea2a935c2296f21");
}

BOOST_AUTO_TEST_CASE(final_resets_the_state) {
  pop3::Md5 md5;
  md5.update("some bytes that must not leak into the next digest");
  (void)md5.final();
  md5.update("abc");
  BOOST_TEST(hex(md5.final()) == "900150983cd24fb0d6963f7d28e17f72");
  BOOST_TEST(hex(md5.final()) == "d41d8cd98f00b204e9800998ecf8427e");
}

BOOST_AUTO_TEST_CASE(all_byte_values) {
  // NUL and bytes 128-255 are ordinary input (mailbox headers may hold them).
  std::string input;
  for (int i = 0; i < 256; ++i) input += static_cast<char>(i);
  BOOST_TEST(md5_hex(input) == "e2c865db4162bed963bfaa9ef6ac18f0");
}
