// Maildir names, message text and location templates, all bytes a mailbox or an admin
// chooses: the ,KEY= field reader and the delivery order against plain models, the CR-LF
// normalisation cut at fuzzer-chosen points against the whole text, and a template that
// check_location_template() accepts expands to an absolute path (or none) under locate().
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/mailbox/maildir.hpp"

namespace {

namespace d = pop3::detail;

std::optional<std::uint64_t> model_field(std::string_view name, char key) {
  const std::string_view base = name.substr(0, name.find(':'));
  std::size_t at = 0;
  while ((at = base.find(',', at)) != std::string_view::npos) {
    ++at;
    std::size_t end = base.find(',', at);
    if (end == std::string_view::npos) end = base.size();
    const std::string_view field = base.substr(at, end - at);
    if (field.size() > 2 && field[0] == key && field[1] == '=') {
      std::uint64_t v = 0;
      for (const char c : field.substr(2)) {
        if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      return v;
    }
  }
  return std::nullopt;
}

void check_names(std::string_view a, std::string_view b) {
  for (const char key : {'S', 'W'}) {
    const auto got = d::maildir_name_field(a, key);
    const auto want = model_field(a, key);
    // The model refuses a little below UINT64_MAX; from_chars takes every value that fits.
    if (want) POP3_FUZZ_CHECK(got == want);
    if (got && !want) POP3_FUZZ_CHECK(*got > (UINT64_MAX - 9) / 10);
  }
  // A strict weak order: irreflexive, asymmetric, and names that differ are ordered one way.
  POP3_FUZZ_CHECK(!d::maildir_delivered_before(a, a));
  const bool ab = d::maildir_delivered_before(a, b), ba = d::maildir_delivered_before(b, a);
  POP3_FUZZ_CHECK(!(ab && ba));
  if (a != b) {
    // Equal only with the same timestamp value and the same rest: leading zeros may differ.
    if (!ab && !ba) {
      const auto rest = [](std::string_view s) { return s.substr(std::min(s.find_first_not_of("0123456789"), s.size())); };
      POP3_FUZZ_CHECK(rest(a) == rest(b));
    }
  }
}

void check_crlf(pop3::fuzz::FuzzInput& input, std::string_view text) {
  std::string model;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '\r' && k + 1 < text.size() && text[k + 1] == '\n') continue;
    model += text[k];
  }
  std::string got;
  d::CrlfToLf lf;
  std::string buffer;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t n = std::min(input.size_in(64), text.size() - at);
    buffer.assign(1, '\0');
    buffer.append(text.substr(at, n));
    char* out = nullptr;
    const std::size_t produced = lf.convert(buffer.data() + 1, n, out);
    POP3_FUZZ_CHECK(out == buffer.data() || out == buffer.data() + 1);
    POP3_FUZZ_CHECK(produced <= n + 1);
    got.append(out, produced);
    at += n;
  }
  if (lf.held_cr()) got += '\r';
  POP3_FUZZ_CHECK(got == model);
}

void check_template(std::string_view text, std::string_view user, std::string_view home) {
  if (pop3::check_location_template(text) != nullptr) return;
  const pop3::MailboxLocator locator{"/var/mail", std::string(text)};
  const pop3::Account account{std::string(user), "", 1, 1, std::string(home)};
  const std::string located = locator.locate(account);
  const std::string_view path = pop3::parse_location(located).path;
  POP3_FUZZ_CHECK(path.empty() || path.front() == '/');
  POP3_FUZZ_CHECK(pop3::parse_location(located).scheme == pop3::parse_location(text).scheme);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input(data, size);
  const std::size_t cut = input.size_in(255);
  const std::string_view rest = input.rest();
  const std::string_view a = rest.substr(0, std::min(cut, rest.size()));
  const std::string_view b = rest.substr(a.size(), std::min<std::size_t>(255, rest.size() - a.size()));
  check_names(a, b);
  check_template(a, b.substr(0, b.find('/')), b.substr(std::min(b.find('/'), b.size())));
  check_crlf(input, rest);
  return 0;
}
