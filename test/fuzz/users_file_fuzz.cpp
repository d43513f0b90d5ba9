// A users file's text through index_users_file (the sorted index the daemon builds once)
// against the plain top-down reading it replaced: the same first error ("line N: why"), and
// without one, the same accounts at the same lines. The reference checks duplicates pairwise,
// so the input is kept to a few hundred lines (fuzz.sh's -max_len).
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "fuzz_input.hpp"
#include "pop3/auth/users_file.hpp"

namespace {

using Entry = std::tuple<std::string, std::size_t, std::size_t, std::size_t>;  // name, line, offset, size

struct Reading {
  std::string error;
  std::vector<Entry> entries;
};

Reading read_top_down(std::string_view text) {
  Reading r;
  std::size_t number = 0;
  for (std::size_t offset = 0; offset < text.size();) {
    ++number;
    const std::size_t eol = text.find('\n', offset);
    const std::size_t end = eol == std::string_view::npos ? text.size() : eol;
    const std::string_view line = text.substr(offset, end - offset);
    const std::size_t line_offset = offset;
    offset = end + 1;
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    pop3::detail::UsersLine parsed;
    if (const char* why = pop3::detail::parse_users_line(line, parsed)) {
      r.error = "line " + std::to_string(number) + ": " + why;
      break;
    }
    for (const Entry& e : r.entries) {
      if (std::get<0>(e) == parsed.name) {
        r.error = "line " + std::to_string(number) + ": user name already defined on line " +
                  std::to_string(std::get<1>(e));
        break;
      }
    }
    if (!r.error.empty()) break;
    r.entries.emplace_back(std::string(parsed.name), number, line_offset, line.size());
  }
  if (!r.error.empty()) r.entries.clear();
  std::sort(r.entries.begin(), r.entries.end());
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  pop3::detail::UsersIndex index;
  pop3::detail::index_users_file(text, index);
  const Reading want = read_top_down(text);
  POP3_FUZZ_CHECK(index.error == want.error);
  std::vector<Entry> got;
  for (const auto& slot : index.slots) {
    got.emplace_back(std::string(index.name(slot)), slot.line, slot.line_offset, slot.line_size);
    // The index points at the line it names, and that line parses to the same name.
    pop3::detail::UsersLine again;
    POP3_FUZZ_CHECK(pop3::detail::parse_users_line(text.substr(slot.line_offset, slot.line_size), again) == nullptr);
    POP3_FUZZ_CHECK(again.name == index.name(slot));
  }
  POP3_FUZZ_CHECK(got == want.entries);  // the reference sorted by name, as the index is
  return 0;
}
