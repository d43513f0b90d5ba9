// config_file.hpp: the syntax of popa3d's configuration file, with no I/O of its own: the
// file's bytes in, `keyword value` entries or one "FILE:LINE: why" out. Which keywords exist
// and what their values mean is options.hpp's business.
//
//   std::vector<popa3d::ConfigEntry> entries;
//   std::string error;
//   if (!popa3d::parse_config("/etc/popa3d.conf", bytes, entries, error)) fail(error);
//   // "port 1110\n" -> {keyword "port", value "1110", line 1}
//
// One setting per line: a keyword, blanks (spaces or tabs), one value. Blank lines and lines
// whose first non-blank character is '#' are comments; there are no comments after a value.
// There is no quoting: a value is one word, and a second word is an error rather than part
// of a path. A line may end in CR LF, and the last line needs no LF. Any other control
// character is an error, so that no value carries bytes a log line would show wrongly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace popa3d {

struct ConfigEntry {
  std::string keyword;
  std::string value;
  std::size_t line = 0;  // 1-based
};

namespace detail {

inline bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

inline std::string_view next_word(std::string_view& rest) noexcept {
  std::size_t begin = 0;
  while (begin < rest.size() && is_blank(rest[begin])) ++begin;
  std::size_t end = begin;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  const std::string_view word = rest.substr(begin, end - begin);
  rest.remove_prefix(end);
  return word;
}

}  // namespace detail

// Appends the file's entries to `entries` in file order; false with `error` set, and
// `entries` as it was, at the first bad line.
inline bool parse_config(std::string_view file, std::string_view text, std::vector<ConfigEntry>& entries,
                         std::string& error) {
  std::vector<ConfigEntry> found;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text.remove_prefix(lf == std::string_view::npos ? text.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto bad = [&](const std::string& why) {
      error = std::string(file) + ":" + std::to_string(number) + ": " + why;
      return false;
    };
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
        constexpr const char* hex = "0123456789abcdef";
        return bad(std::string("control character 0x") + hex[byte >> 4] + hex[byte & 0xf]);
      }
    }
    std::string_view rest = line;
    const std::string_view keyword = detail::next_word(rest);
    if (keyword.empty() || keyword.front() == '#') continue;
    const std::string_view value = detail::next_word(rest);
    if (value.empty()) return bad(std::string(keyword) + " needs a value");
    if (!detail::next_word(rest).empty()) {
      return bad(std::string(keyword) + " takes one value, without blanks (no quoting, no comment after it)");
    }
    found.push_back({std::string(keyword), std::string(value), number});
  }
  entries.insert(entries.end(), found.begin(), found.end());
  return true;
}

}  // namespace popa3d
