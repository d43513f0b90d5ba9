// Tests for pop3/mailbox/mbox_separator.hpp: every version this CPU runs (the byte-at-a-time
// reference, the 16-byte vector one, AVX2 where the CPU has it) against a model written
// from the contract, on adversarial inputs (a separator at every offset around the vector
// steps and the end, near misses, CR and NUL bytes, "From " at the start, long lines, runs
// of LFs that fill the per-lane counters) and on random ones. Each input sits in a heap
// block of exactly its size, so that AddressSanitizer sees a read past its end.
#define BOOST_TEST_MODULE mbox_separator
#include <boost/test/unit_test.hpp>

#include "pop3/mailbox/mbox_separator.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>

namespace {

struct Found {
  std::ptrdiff_t at;   // offset of k, or the size when there is none
  std::uint64_t lfs;
  bool operator==(const Found&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Found& f) { return os << "{at " << f.at << ", lfs " << f.lfs << "}"; }

// The contract of mbox_separator.hpp, written the slow way.
Found model(std::string_view bytes) {
  const std::size_t k = bytes.find("\n\nFrom ");
  const std::size_t stop = k == std::string_view::npos ? bytes.size() : k + 1;
  return {k == std::string_view::npos ? static_cast<std::ptrdiff_t>(bytes.size()) : static_cast<std::ptrdiff_t>(k),
          static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(stop), '\n'))};
}

Found run(pop3::detail::SeparatorFinder find, std::string_view bytes) {
  const auto exact = std::make_unique<char[]>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), exact.get());
  std::uint64_t lfs = 5;   // added to, never reset
  const char* const k = find(exact.get(), exact.get() + bytes.size(), lfs);
  return {k - exact.get(), lfs - 5};
}

// Every version gives the model's answer on `bytes`, and on each of its suffixes that start
// within the first `starts` bytes (another alignment of the same content).
void check_all(std::string_view bytes, std::size_t starts = 1) {
  for (std::size_t s = 0; s < std::min(starts, bytes.size() + 1); ++s) {
    const std::string_view from = bytes.substr(s);
    const Found expected = model(from);
    for (const auto& finder : pop3::detail::separator_finders())
      BOOST_TEST_REQUIRE(run(finder.find, from) == expected, finder.name << " at start " << s << " of " << bytes.size());
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(reference_and_vector16_always_run) {
  const auto finders = pop3::detail::separator_finders();
  BOOST_TEST_REQUIRE(finders.size() >= 2u);
  BOOST_TEST(finders[0].name == "scalar");
  BOOST_TEST(finders[1].name == "vector16");
}

BOOST_AUTO_TEST_CASE(short_and_empty_inputs) {
  for (std::string_view s : {"", "\n", "\n\n", "\n\nFrom", "\n\nFrom ", "x\n\nFrom y", "From \n\nFrom "})
    check_all(s, 8);
}

BOOST_AUTO_TEST_CASE(from_at_the_start_is_no_separator) {
  // Only "From " after a blank line counts: the caller is at the blank line's LF.
  check_all("From a\nFrom b\n" + std::string(200, 'x'), 3);
  check_all("\nFrom a\n" + std::string(200, 'x'), 2);
}

BOOST_AUTO_TEST_CASE(separator_at_every_offset_and_length) {
  // Around the 16-, 32- and 64-byte steps, their read-ahead, and the end of the input.
  for (std::size_t at = 0; at < 200; ++at)
    for (std::size_t after : {0u, 1u, 2u, 5u, 6u, 7u, 40u, 70u}) {
      std::string s(at, 'a');
      for (std::size_t i = 13; i < at; i += 29) s[i] = '\n';
      s += "\n\nFrom ";
      s += std::string(after, 'b');
      check_all(s);
      check_all(s.substr(0, s.size() - after - 1));   // cut inside "From ": no separator
    }
}

BOOST_AUTO_TEST_CASE(near_misses_are_crossed) {
  // Each of these shares a prefix with "\n\nFrom " (many set the "\n\nF" candidate bits).
  std::string s;
  for (int i = 0; i < 40; ++i) s += "\n\nFrom\n\nfrom \n\nFrog \n\nFROM \n\nF\n\n\n\r\nFrom \n\n From \n\nFrom\t\n\nFro";
  check_all(s, 70);
  check_all(s + "\n\nFrom x", 70);
}

BOOST_AUTO_TEST_CASE(cr_and_nul_are_ordinary_bytes) {
  std::string s;
  for (int i = 0; i < 300; ++i) s += std::string("\r\n\0\0x", 5);
  s += std::string("\r\n\r\nFrom \0\n\nFrom \0", 19);
  check_all(s, 70);
}

BOOST_AUTO_TEST_CASE(long_lines_and_runs_of_lfs) {
  // 127 steps of 64 bytes fill a lane's counter with up to 254; runs longer than that of
  // LFs alone must not wrap it.
  for (std::size_t run_length : {100u, 8128u, 8200u, 16256u, 40000u}) {
    check_all(std::string(run_length, '\n'), 3);
    check_all(std::string(run_length, '\n') + "From x", 3);
    check_all(std::string(run_length, 'L') + "\n\nFrom x", 3);
  }
}

BOOST_AUTO_TEST_CASE(random_inputs_match_the_model) {
  std::mt19937 rng(12);
  const std::string alphabet("\n\n\n\nFFrom  \r\0x", 14);
  for (int round = 0; round < 3000; ++round) {
    std::string s(std::uniform_int_distribution<std::size_t>(0, 400)(rng), 'x');
    for (char& c : s) c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    // Or text with LFs and one "\n\nFrom " somewhere, as bodies are.
    if (round % 2 == 0) {
      for (char& c : s)
        if (c != '\n') c = 'y';
      s.insert(std::uniform_int_distribution<std::size_t>(0, s.size())(rng), "\n\nFrom ");
    }
    check_all(s, 3);
  }
}
