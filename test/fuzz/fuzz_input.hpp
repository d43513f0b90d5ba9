// test/fuzz/fuzz_input.hpp: takes parameters (chunk sizes, counts) off the front of a fuzzer's
// input, so that one byte string decides both the data and how it is cut.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pop3::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) noexcept
      : rest_(reinterpret_cast<const char*>(data), size) {}

  // A number in [1, max] from the next byte (1 when the input is used up).
  std::size_t size_in(std::size_t max) noexcept {
    if (rest_.empty()) return 1;
    const auto byte = static_cast<unsigned char>(rest_.front());
    rest_.remove_prefix(1);
    return 1 + byte % max;
  }
  // The next byte, or 0.
  std::uint8_t byte() noexcept {
    if (rest_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Everything not taken yet.
  [[nodiscard]] std::string_view rest() const noexcept { return rest_; }

 private:
  std::string_view rest_;
};

}  // namespace pop3::fuzz

// A failed check: abort, which libFuzzer reports as a crash with the input that caused it.
#define POP3_FUZZ_CHECK(condition) \
  do {                             \
    if (!(condition)) __builtin_trap(); \
  } while (0)
