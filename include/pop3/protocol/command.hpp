// pop3/protocol/command.hpp: one command line -> verb, arguments and numbers.
//
// popa3d's splitting rules (spec section 5): the verb ends at the first
// space, arguments are separated by single spaces, numbers read like strtol.
//
//   auto cmd = pop3::split_command("TOP 1 10");                     // verb "TOP"
//   auto n = pop3::parse_msg_number(*pop3::next_argument(cmd.params, 40), 3);   // MsgNumber{1}
//   auto k = pop3::parse_number(*pop3::next_argument(cmd.params, 40));         // 10
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pop3 {

// A message number as on the wire: 1-based.
struct MsgNumber {
  std::uint32_t value;
  friend bool operator==(MsgNumber, MsgNumber) = default;
};

struct CommandLine {
  std::string_view verb;
  // Everything after the first space; nullopt when there is none or the line ends right
  // after it ("STAT " is plain STAT).
  std::optional<std::string_view> params;
};

inline CommandLine split_command(std::string_view line) noexcept {
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return {line, std::nullopt};
  const auto rest = line.substr(space + 1);
  return {line.substr(0, space), rest.empty() ? std::nullopt : std::optional{rest}};
}

// ASCII case-insensitive comparison of a verb with an upper-case command name.
inline bool verb_is(std::string_view verb, std::string_view name) noexcept {
  if (verb.size() != name.size()) return false;
  for (std::size_t i = 0; i < verb.size(); ++i) {
    char c = verb[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != name[i]) return false;
  }
  return true;
}

// Takes the next argument off `params`: up to the next space, which is consumed; if the line
// ends right after that space no parameters remain. nullopt if there is no argument at all
// or it is longer than max_arg (RFC 1939 s.3: at most 40 characters).
inline std::optional<std::string_view> next_argument(std::optional<std::string_view>& params,
                                                     std::size_t max_arg) noexcept {
  if (!params) return std::nullopt;
  const std::string_view rest = *params;
  const auto space = rest.find(' ');
  const auto arg = rest.substr(0, space);
  if (space == std::string_view::npos || space + 1 == rest.size()) {
    params.reset();
  } else {
    params = rest.substr(space + 1);
  }
  if (arg.size() > max_arg) return std::nullopt;
  return arg;
}

// A non-negative number as popa3d reads one with strtol (spec 5): optional leading white
// space, an optional sign, decimal digits, nothing after; at most INT32_MAX, "-0" is 0.
inline std::optional<std::uint32_t> parse_number(std::string_view arg) noexcept {
  std::size_t i = 0;
  // isspace() in the C locale; a space cannot occur (it separates arguments) nor an LF.
  while (i < arg.size() && (arg[i] == '\t' || arg[i] == '\v' || arg[i] == '\f' || arg[i] == '\r'))
    ++i;
  bool negative = false;
  if (i < arg.size() && (arg[i] == '+' || arg[i] == '-')) negative = arg[i++] == '-';
  if (i == arg.size()) return std::nullopt;
  std::uint64_t value = 0;
  for (; i < arg.size(); ++i) {
    const char c = arg[i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 2147483647u) return std::nullopt;  // LIST 4294967297 must not wrap to 1
  }
  if (negative && value != 0) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

// A message number in 1..count.
inline std::optional<MsgNumber> parse_msg_number(std::string_view arg, std::uint32_t count) noexcept {
  const auto value = parse_number(arg);
  if (!value || *value == 0 || *value > count) return std::nullopt;
  return MsgNumber{*value};
}

}  // namespace pop3
