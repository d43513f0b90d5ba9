// Client bytes, cut into reads of fuzzer-chosen sizes, through LineReader, against a model of
// popa3d's line rules over the whole input (spec 4); each line then through split_command,
// next_argument and parse_number, against strtol-like reference parsing (spec 5).
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "pop3/protocol/command.hpp"
#include "pop3/protocol/line.hpp"

namespace {

constexpr std::size_t line_buffer = 128;  // popa3d's POP_BUFFER_SIZE

// Spec 4: a line keeps its first 127 bytes; a CR right before the LF goes if it was kept; a
// NUL anywhere empties the line; an unterminated last line of one byte or more counts too.
std::vector<std::string> model_lines(std::string_view in) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t lf = in.find('\n', pos);
    const bool at_lf = lf != std::string_view::npos;
    const std::string_view whole = in.substr(pos, at_lf ? lf - pos : std::string_view::npos);
    std::string line(whole.substr(0, line_buffer - 1));
    if (at_lf && whole.size() == line.size() && !line.empty() && line.back() == '\r') line.pop_back();
    if (whole.find('\0') != std::string_view::npos) line.clear();
    lines.push_back(std::move(line));
    if (!at_lf) break;
    pos = lf + 1;
  }
  return lines;
}

// strtol's view of a POP3 number (spec 5), written as plainly as possible.
std::optional<std::uint32_t> model_number(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && std::strchr("\t\v\f\r", s[i]) != nullptr && s[i] != '\0') ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i == s.size()) return std::nullopt;
  unsigned long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
    if (v > 2147483647ull) return std::nullopt;
  }
  if (negative && v != 0) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

void check_command(std::string_view line) {
  const auto cmd = pop3::split_command(line);
  const auto space = line.find(' ');
  POP3_FUZZ_CHECK(cmd.verb == line.substr(0, space));
  POP3_FUZZ_CHECK(cmd.params.has_value() == (space != std::string_view::npos && space + 1 < line.size()));
  // Arguments: single-space separated, each at most 40 bytes, as RFC 1939 s.3 and popa3d.
  auto params = cmd.params;
  std::string_view rest = cmd.params.value_or("");
  for (int guard = 0; params && guard < 200; ++guard) {
    const auto arg = pop3::next_argument(params, 40);
    const auto sp = rest.find(' ');
    const std::string_view want = rest.substr(0, sp);
    POP3_FUZZ_CHECK(arg.has_value() == (want.size() <= 40));
    if (arg) {
      POP3_FUZZ_CHECK(*arg == want);
      POP3_FUZZ_CHECK(pop3::parse_number(*arg) == model_number(*arg));
    }
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    POP3_FUZZ_CHECK(params.has_value() == !rest.empty());
  }
  POP3_FUZZ_CHECK(!params);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  const std::size_t read_size = input.size_in(pop3::input_buffer_size);
  const bool copy_in = input.byte() & 1;  // append() (handed-over bytes) or read_space()/commit()
  const std::string_view bytes = input.rest();

  const std::vector<std::string> want = model_lines(bytes);
  std::vector<std::string> got;
  pop3::LineReader reader{line_buffer};
  std::size_t pos = 0;
  for (;;) {
    while (auto line = reader.next_line()) got.emplace_back(*line);
    if (pos == bytes.size()) break;
    if (copy_in) {
      const std::size_t n = std::min(read_size, bytes.size() - pos);
      reader.append(bytes.substr(pos, n));
      pos += n;
    } else {
      const auto space = reader.read_space();
      POP3_FUZZ_CHECK(!space.empty());
      const std::size_t n = std::min({read_size, space.size(), bytes.size() - pos});
      std::memcpy(space.data(), bytes.data() + pos, n);
      reader.commit(n);
      pos += n;
    }
  }
  if (auto line = reader.last_line()) got.emplace_back(*line);
  POP3_FUZZ_CHECK(got == want);
  for (const std::string& line : got) check_command(line);
  return 0;
}
