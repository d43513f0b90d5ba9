// pop3/protocol/sasl.hpp: SASL responses as AUTH reads them (RFC 5034 s.4): strict base64
// (RFC 4648 s.4) and the PLAIN message (RFC 4616 s.2). Bytes in, no I/O, no allocation,
// with picohttpparser's contract: done, need more, or invalid.
//
//   std::array<char, 64> buf;
//   pop3::SaslResponse r = pop3::decode_sasl_response("AGFsaWNlAHNlY3JldA==", buf);   // data, 13 bytes
//   auto plain = pop3::parse_plain({buf.data(), r.size});   // plain->authcid == "alice"
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace pop3 {

// The SASL mechanisms AUTH offers, as CAPA's SASL line and "AUTH" alone list them.
inline constexpr std::string_view sasl_mechanisms = "PLAIN";

enum class ParseStatus : std::uint8_t {
  done,       // all of the input was used
  need_more,  // the input ends inside a unit: `consumed` bytes were used, bring the rest
  invalid,    // the input can never be valid
};

struct Base64Result {
  ParseStatus status = ParseStatus::invalid;
  std::size_t consumed = 0;  // input characters used: whole groups of four
  std::size_t produced = 0;  // bytes written to `out`
};

// Characters of base64 for `bytes` bytes of data.
[[nodiscard]] constexpr std::size_t base64_length(std::size_t bytes) noexcept { return (bytes + 2) / 3 * 4; }

namespace detail {
// The value of a base64 character, or -1 (RFC 4648 s.4's alphabet; no line breaks, no spaces).
constexpr int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace detail

// Decodes `in` into `out`, strictly: groups of four characters of the alphabet; "=" only at
// the end of the last group ("xx==" or "xxx="), and then the bits it leaves over are zero, so
// that each byte string has exactly one encoding (RFC 4648 s.3.5). Invalid too when the data
// would not fit in `out`. need_more: `in` ends inside a group; the groups before it are decoded.
[[nodiscard]] inline Base64Result decode_base64(std::string_view in, std::span<char> out) noexcept {
  Base64Result r;
  while (in.size() - r.consumed >= 4) {
    const char* g = in.data() + r.consumed;
    const bool last = in.size() - r.consumed == 4;
    const int pad = g[3] != '=' ? 0 : g[2] != '=' ? 1 : 2;
    if (pad != 0 && !last) return {ParseStatus::invalid, r.consumed, r.produced};
    int v[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = detail::base64_value(g[k]);
      if (v[k] < 0) return {ParseStatus::invalid, r.consumed, r.produced};
    }
    const unsigned bits = static_cast<unsigned>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    if ((pad == 1 && (bits & 0xffu) != 0) || (pad == 2 && (bits & 0xffffu) != 0))
      return {ParseStatus::invalid, r.consumed, r.produced};
    const std::size_t n = 3 - static_cast<std::size_t>(pad);
    if (out.size() - r.produced < n) return {ParseStatus::invalid, r.consumed, r.produced};
    const char bytes[3] = {static_cast<char>(bits >> 16), static_cast<char>(bits >> 8), static_cast<char>(bits)};
    std::memcpy(out.data() + r.produced, bytes, n);
    r.produced += n;
    r.consumed += 4;
  }
  r.status = r.consumed == in.size() ? ParseStatus::done : ParseStatus::need_more;
  // What is left cannot start a group: a character outside the alphabet, or "=" too early.
  for (std::size_t k = r.consumed; k < in.size(); ++k) {
    if (detail::base64_value(in[k]) < 0 && !(in[k] == '=' && k - r.consumed >= 2)) r.status = ParseStatus::invalid;
  }
  return r;
}

struct SaslResponse {
  enum class Kind : std::uint8_t {
    data,     // `size` decoded bytes in `out` ("=" or an empty line: none)
    cancel,   // "*": the client gave up (RFC 5034 s.4)
    invalid,  // not base64, or more than `out` holds
  } kind = Kind::invalid;
  std::size_t size = 0;
};

// One whole response line (an AUTH initial response, or the line after "+ ").
[[nodiscard]] inline SaslResponse decode_sasl_response(std::string_view line, std::span<char> out) noexcept {
  if (line == "*") return {SaslResponse::Kind::cancel, 0};
  // RFC 5034 s.4: "=" is a zero-length response (an empty line is too: base64 of nothing).
  if (line == "=") return {SaslResponse::Kind::data, 0};
  const Base64Result r = decode_base64(line, out);
  if (r.status != ParseStatus::done) return {SaslResponse::Kind::invalid, 0};
  return {SaslResponse::Kind::data, r.produced};
}

// RFC 4616 s.2: message = [authzid] NUL authcid NUL passwd, the last two not empty.
struct PlainMessage {
  std::string_view authzid;
  std::string_view authcid;
  std::string_view password;
};

[[nodiscard]] inline std::optional<PlainMessage> parse_plain(std::string_view message) noexcept {
  const auto first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = message.find('\0', first + 1);
  if (second == std::string_view::npos || message.find('\0', second + 1) != std::string_view::npos)
    return std::nullopt;
  PlainMessage m{message.substr(0, first), message.substr(first + 1, second - first - 1), message.substr(second + 1)};
  if (m.authcid.empty() || m.password.empty()) return std::nullopt;
  return m;
}

}  // namespace pop3
