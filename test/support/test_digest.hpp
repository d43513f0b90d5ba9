// test/support/test_digest.hpp: a tiny DigestPolicy (FNV-1a, 64 bits) for engine tests that
// must not depend on MD5.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "pop3/concepts.hpp"

namespace pop3::test {

class FnvDigest {
 public:
  using value_type = std::array<std::uint8_t, 8>;
  void update(std::string_view bytes) {
    for (unsigned char c : bytes) hash_ = (hash_ ^ c) * 0x100000001b3ULL;
  }
  value_type final() {
    value_type out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(hash_ >> (8 * i));
    hash_ = basis;
    return out;
  }

 private:
  static constexpr std::uint64_t basis = 0xcbf29ce484222325ULL;
  std::uint64_t hash_ = basis;
};
static_assert(DigestPolicy<FnvDigest>);

}  // namespace pop3::test
