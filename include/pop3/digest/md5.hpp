// pop3/digest/md5.hpp: MD5 (RFC 1321), the Digest that popa3d's UIDL uses.
//
// An incremental hash with no allocation and no virtual calls. Whole 64-byte
// blocks are hashed straight from the caller's bytes; only a partial block is
// copied. It hashes the UIDL header lines of every message at each login.
//
//   pop3::Md5 md5;
//   md5.update("Message-ID: <1@example.org>\n");
//   pop3::Md5::value_type digest = md5.final();   // and md5 is fresh again
//
// @par Concepts
//   DigestPolicy
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "pop3/concepts.hpp"

namespace pop3 {

class Md5 {
 public:
  using value_type = std::array<std::uint8_t, 16>;

  void update(std::string_view bytes) noexcept {
    const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size();
    const std::size_t used = static_cast<std::size_t>(length_ % 64);
    length_ += n;
    if (used != 0) {
      const std::size_t take = n < 64 - used ? n : 64 - used;
      std::memcpy(buffer_.data() + used, in, take);
      in += take;
      n -= take;
      if (used + take < 64) return;
      transform(buffer_.data());
    }
    for (; n >= 64; in += 64, n -= 64) transform(in);
    if (n != 0) std::memcpy(buffer_.data(), in, n);
  }

  // RFC 1321 s.3.4-3.5: pad with 0x80 and zeros to 56 mod 64, append the bit
  // length (little-endian), output A B C D little-endian. Then start afresh.
  [[nodiscard]] value_type final() noexcept {
    const std::uint64_t bits = length_ * 8;
    std::size_t used = static_cast<std::size_t>(length_ % 64);
    buffer_[used++] = 0x80;
    if (used > 56) {
      std::memset(buffer_.data() + used, 0, 64 - used);
      transform(buffer_.data());
      used = 0;
    }
    std::memset(buffer_.data() + used, 0, 56 - used);
    for (int i = 0; i < 8; ++i) buffer_[56 + i] = static_cast<std::uint8_t>(bits >> (8 * i));
    transform(buffer_.data());

    value_type out{};
    const std::uint32_t words[4] = {a_, b_, c_, d_};
    for (int w = 0; w < 4; ++w)
      for (int i = 0; i < 4; ++i) out[4 * w + i] = static_cast<std::uint8_t>(words[w] >> (8 * i));
    *this = Md5{};
    return out;
  }

 private:
  static std::uint32_t load_le32(const unsigned char* p) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      std::uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    } else {
      return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
             std::uint32_t{p[3]} << 24;
    }
  }

  // RFC 1321 s.3.4 auxiliary functions (F and G in their cheaper equivalent forms).
  static std::uint32_t aux_f(std::uint32_t x, std::uint32_t y, std::uint32_t z) noexcept { return z ^ (x & (y ^ z)); }
  static std::uint32_t aux_g(std::uint32_t x, std::uint32_t y, std::uint32_t z) noexcept { return y ^ (z & (x ^ y)); }
  static std::uint32_t aux_h(std::uint32_t x, std::uint32_t y, std::uint32_t z) noexcept { return x ^ y ^ z; }
  static std::uint32_t aux_i(std::uint32_t x, std::uint32_t y, std::uint32_t z) noexcept { return y ^ (x | ~z); }

  template <std::uint32_t (*Fn)(std::uint32_t, std::uint32_t, std::uint32_t)>
  static void step(std::uint32_t& a, std::uint32_t b, std::uint32_t c, std::uint32_t d, std::uint32_t x,
                   int s, std::uint32_t t) noexcept {
    a = b + std::rotl(a + Fn(b, c, d) + x + t, s);
  }

  // RFC 1321 s.3.4, the four rounds of 16 steps, constants from its table T.
  void transform(const unsigned char* block) noexcept {
    std::uint32_t x[16];
    for (int k = 0; k < 16; ++k) x[k] = load_le32(block + 4 * k);
    std::uint32_t a = a_, b = b_, c = c_, d = d_;

    step<aux_f>(a, b, c, d, x[0], 7, 0xd76aa478);   step<aux_f>(d, a, b, c, x[1], 12, 0xe8c7b756);
    step<aux_f>(c, d, a, b, x[2], 17, 0x242070db);  step<aux_f>(b, c, d, a, x[3], 22, 0xc1bdceee);
    step<aux_f>(a, b, c, d, x[4], 7, 0xf57c0faf);   step<aux_f>(d, a, b, c, x[5], 12, 0x4787c62a);
    step<aux_f>(c, d, a, b, x[6], 17, 0xa8304613);  step<aux_f>(b, c, d, a, x[7], 22, 0xfd469501);
    step<aux_f>(a, b, c, d, x[8], 7, 0x698098d8);   step<aux_f>(d, a, b, c, x[9], 12, 0x8b44f7af);
    step<aux_f>(c, d, a, b, x[10], 17, 0xffff5bb1); step<aux_f>(b, c, d, a, x[11], 22, 0x895cd7be);
    step<aux_f>(a, b, c, d, x[12], 7, 0x6b901122);  step<aux_f>(d, a, b, c, x[13], 12, 0xfd987193);
    step<aux_f>(c, d, a, b, x[14], 17, 0xa679438e); step<aux_f>(b, c, d, a, x[15], 22, 0x49b40821);

    step<aux_g>(a, b, c, d, x[1], 5, 0xf61e2562);   step<aux_g>(d, a, b, c, x[6], 9, 0xc040b340);
    step<aux_g>(c, d, a, b, x[11], 14, 0x265e5a51); step<aux_g>(b, c, d, a, x[0], 20, 0xe9b6c7aa);
    step<aux_g>(a, b, c, d, x[5], 5, 0xd62f105d);   step<aux_g>(d, a, b, c, x[10], 9, 0x02441453);
    step<aux_g>(c, d, a, b, x[15], 14, 0xd8a1e681); step<aux_g>(b, c, d, a, x[4], 20, 0xe7d3fbc8);
    step<aux_g>(a, b, c, d, x[9], 5, 0x21e1cde6);   step<aux_g>(d, a, b, c, x[14], 9, 0xc33707d6);
    step<aux_g>(c, d, a, b, x[3], 14, 0xf4d50d87);  step<aux_g>(b, c, d, a, x[8], 20, 0x455a14ed);
    step<aux_g>(a, b, c, d, x[13], 5, 0xa9e3e905);  step<aux_g>(d, a, b, c, x[2], 9, 0xfcefa3f8);
    step<aux_g>(c, d, a, b, x[7], 14, 0x676f02d9);  step<aux_g>(b, c, d, a, x[12], 20, 0x8d2a4c8a);

    step<aux_h>(a, b, c, d, x[5], 4, 0xfffa3942);   step<aux_h>(d, a, b, c, x[8], 11, 0x8771f681);
    step<aux_h>(c, d, a, b, x[11], 16, 0x6d9d6122); step<aux_h>(b, c, d, a, x[14], 23, 0xfde5380c);
    step<aux_h>(a, b, c, d, x[1], 4, 0xa4beea44);   step<aux_h>(d, a, b, c, x[4], 11, 0x4bdecfa9);
    step<aux_h>(c, d, a, b, x[7], 16, 0xf6bb4b60);  step<aux_h>(b, c, d, a, x[10], 23, 0xbebfbc70);
    step<aux_h>(a, b, c, d, x[13], 4, 0x289b7ec6);  step<aux_h>(d, a, b, c, x[0], 11, 0xeaa127fa);
    step<aux_h>(c, d, a, b, x[3], 16, 0xd4ef3085);  step<aux_h>(b, c, d, a, x[6], 23, 0x04881d05);
    step<aux_h>(a, b, c, d, x[9], 4, 0xd9d4d039);   step<aux_h>(d, a, b, c, x[12], 11, 0xe6db99e5);
    step<aux_h>(c, d, a, b, x[15], 16, 0x1fa27cf8); step<aux_h>(b, c, d, a, x[2], 23, 0xc4ac5665);

    step<aux_i>(a, b, c, d, x[0], 6, 0xf4292244);   step<aux_i>(d, a, b, c, x[7], 10, 0x432aff97);
    step<aux_i>(c, d, a, b, x[14], 15, 0xab9423a7); step<aux_i>(b, c, d, a, x[5], 21, 0xfc93a039);
    step<aux_i>(a, b, c, d, x[12], 6, 0x655b59c3);  step<aux_i>(d, a, b, c, x[3], 10, 0x8f0ccc92);
    step<aux_i>(c, d, a, b, x[10], 15, 0xffeff47d); step<aux_i>(b, c, d, a, x[1], 21, 0x85845dd1);
    step<aux_i>(a, b, c, d, x[8], 6, 0x6fa87e4f);   step<aux_i>(d, a, b, c, x[15], 10, 0xfe2ce6e0);
    step<aux_i>(c, d, a, b, x[6], 15, 0xa3014314);  step<aux_i>(b, c, d, a, x[13], 21, 0x4e0811a1);
    step<aux_i>(a, b, c, d, x[4], 6, 0xf7537e82);   step<aux_i>(d, a, b, c, x[11], 10, 0xbd3af235);
    step<aux_i>(c, d, a, b, x[2], 15, 0x2ad7d2bb);  step<aux_i>(b, c, d, a, x[9], 21, 0xeb86d391);

    a_ += a;
    b_ += b;
    c_ += c;
    d_ += d;
  }

  // RFC 1321 s.3.3: the initial words A, B, C, D.
  std::uint32_t a_ = 0x67452301, b_ = 0xefcdab89, c_ = 0x98badcfe, d_ = 0x10325476;
  std::uint64_t length_ = 0;   // bytes hashed so far; length_ % 64 of them wait in buffer_
  std::array<unsigned char, 64> buffer_{};
};

static_assert(DigestPolicy<Md5>, "Md5 must model pop3::DigestPolicy");

}  // namespace pop3
