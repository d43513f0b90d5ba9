// pop3/protocol/proxy_header.hpp: the PROXY protocol header (HAProxy's doc/proxy-protocol.txt,
// versions 1 and 2) that a load balancer puts before the client's bytes.
//
// A sans-I/O parser with picohttpparser's contract: given the bytes read so far, it says the
// header is complete (and how many bytes it took), needs more, or is invalid. No allocation,
// no I/O, and no byte trusted: every length is checked before it is used.
//
//   pop3::ProxyHeader header;
//   const pop3::ProxyParse p = pop3::parse_proxy_header(bytes_so_far, header);
//   if (p.status == pop3::ProxyParseStatus::complete) serve(header.source, bytes_so_far.substr(p.consumed));
//
// Strict to the spec: version 1 is one line of at most 107 bytes with single spaces, IPv4
// addresses as four decimal numbers without leading zeros, IPv6 addresses as inet_pton reads
// them, ports 0 to 65535 without leading zeros or signs, and CRLF; "UNKNOWN" may be followed by
// printable text. Version 2: the 12-byte signature, version 2, command LOCAL or PROXY, a
// family and protocol byte the spec defines, an address block long enough for its family,
// and TLVs that each fit in the header; a CRC32C TLV is verified. A header longer than
// max_proxy_header_size is invalid.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace pop3 {

// Version 1 lines are at most this long, CRLF included (the spec's worst case).
inline constexpr std::size_t max_proxy_v1_size = 107;
// Version 2: 16 bytes and a block of at most this many. HAProxy's addresses and its TLVs
// (ALPN, authority, a 128-byte unique ID, the SSL ones) fit; the spec's one segment of 536
// bytes is the size a sender is told to fit in, with room to spare here.
inline constexpr std::size_t max_proxy_v2_block = 1024;
inline constexpr std::size_t max_proxy_header_size = 16 + max_proxy_v2_block;

enum class ProxyParseStatus { complete, need_more, invalid };

struct ProxyParse {
  ProxyParseStatus status = ProxyParseStatus::need_more;
  std::size_t consumed = 0;  // the header's length, when complete
};

enum class ProxyFamily : std::uint8_t { inet, inet6 };

struct ProxyAddress {
  ProxyFamily family = ProxyFamily::inet;
  std::array<unsigned char, 16> bytes{};  // network order; the first 4 for inet
  std::uint16_t port = 0;
  friend bool operator==(const ProxyAddress&, const ProxyAddress&) = default;
};

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // false: the connection's own addresses stand (v2 LOCAL, a health check; v1 UNKNOWN; a v2
  // family or protocol that is not TCP over IPv4 or IPv6, which the spec says falls back to it).
  bool proxied = false;
  ProxyAddress source;       // the client, when proxied
  ProxyAddress destination;  // the address the client connected to, when proxied
  friend bool operator==(const ProxyHeader&, const ProxyHeader&) = default;
};

namespace detail::proxy {

inline constexpr std::string_view v1_prefix = "PROXY ";
inline constexpr std::array<unsigned char, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// True when the first min(n, size) bytes of `in` equal those of `prefix`.
template <class Bytes>
bool starts_like(std::string_view in, const Bytes& prefix) {
  const std::size_t n = in.size() < prefix.size() ? in.size() : prefix.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<unsigned char>(in[i]) != static_cast<unsigned char>(prefix[i])) return false;
  }
  return true;
}

// A decimal number in [0, max] without sign or leading zero, as the whole of `s`.
inline bool parse_decimal(std::string_view s, unsigned max, unsigned& value) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return false;
  value = v;
  return true;
}

inline bool parse_ipv4(std::string_view s, ProxyAddress& out) {
  out.family = ProxyFamily::inet;
  out.bytes = {};
  for (int part = 0; part < 4; ++part) {
    const std::size_t dot = part < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return false;
    unsigned octet = 0;
    if (!parse_decimal(s.substr(0, dot), 255, octet)) return false;
    out.bytes[static_cast<std::size_t>(part)] = static_cast<unsigned char>(octet);
    s.remove_prefix(part < 3 ? dot + 1 : dot);
  }
  return true;
}

inline bool parse_ipv6(std::string_view s, ProxyAddress& out) {
  // Hex digits, colons, and the dots of an embedded IPv4 tail; inet_pton checks the rest.
  char text[46];
  if (s.empty() || s.size() >= sizeof text) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  std::memcpy(text, s.data(), s.size());
  text[s.size()] = '\0';
  out.family = ProxyFamily::inet6;
  return ::inet_pton(AF_INET6, text, out.bytes.data()) == 1;
}

// Splits off the text up to the next single space; false if there is none.
inline bool next_field(std::string_view& rest, std::string_view& field) {
  const std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) return false;
  field = rest.substr(0, space);
  rest.remove_prefix(space + 1);
  return true;
}

inline ProxyParse parse_v1(std::string_view in, ProxyHeader& header) {
  const ProxyParse invalid{ProxyParseStatus::invalid, 0};
  // Every byte before the CR must be printable US-ASCII; the line ends at the first CR.
  std::size_t cr = 0;
  for (; cr < in.size(); ++cr) {
    const auto c = static_cast<unsigned char>(in[cr]);
    if (c == '\r') break;
    if (c < 0x20 || c > 0x7e || cr + 2 >= max_proxy_v1_size) return invalid;
  }
  if (cr + 1 >= in.size()) return {ProxyParseStatus::need_more, 0};
  if (in[cr + 1] != '\n') return invalid;
  std::string_view rest = in.substr(v1_prefix.size(), cr - v1_prefix.size());

  ProxyHeader h;
  h.version = 1;
  if (rest == "UNKNOWN" || rest.substr(0, 8) == "UNKNOWN ") {
    header = h;  // the rest of the line is ignored, as the spec says
    return {ProxyParseStatus::complete, cr + 2};
  }
  std::string_view protocol, source, destination, source_port;
  if (!next_field(rest, protocol) || !next_field(rest, source) || !next_field(rest, destination) ||
      !next_field(rest, source_port)) {
    return invalid;
  }
  const std::string_view& destination_port = rest;  // no space may follow it
  bool addresses_ok = false;
  if (protocol == "TCP4") {
    addresses_ok = parse_ipv4(source, h.source) && parse_ipv4(destination, h.destination);
  } else if (protocol == "TCP6") {
    addresses_ok = parse_ipv6(source, h.source) && parse_ipv6(destination, h.destination);
  }
  unsigned sport = 0, dport = 0;
  if (!addresses_ok || !parse_decimal(source_port, 65535, sport) || !parse_decimal(destination_port, 65535, dport)) {
    return invalid;
  }
  h.source.port = static_cast<std::uint16_t>(sport);
  h.destination.port = static_cast<std::uint16_t>(dport);
  h.proxied = true;
  header = h;
  return {ProxyParseStatus::complete, cr + 2};
}

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as RFC 4960 appendix B computes it,
// over the header with the TLV's value counted as four zero bytes.
inline std::uint32_t crc32c_with_zeroed(std::string_view bytes, std::size_t zero_at) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const bool zeroed = i >= zero_at && i < zero_at + 4;
    crc ^= zeroed ? 0u : static_cast<unsigned char>(bytes[i]);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline std::uint16_t be16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}

inline ProxyParse parse_v2(std::string_view in, ProxyHeader& header) {
  const ProxyParse invalid{ProxyParseStatus::invalid, 0};
  const ProxyParse need_more{ProxyParseStatus::need_more, 0};
  if (in.size() < 13) return need_more;
  const auto version_command = static_cast<unsigned char>(in[12]);
  if ((version_command >> 4) != 2 || (version_command & 0x0F) > 1) return invalid;
  const bool local = (version_command & 0x0F) == 0;
  if (in.size() < 14) return need_more;
  const auto family_protocol = static_cast<unsigned char>(in[13]);
  const unsigned family = family_protocol >> 4, protocol = family_protocol & 0x0F;
  if (family > 3 || protocol > 2) return invalid;
  if (in.size() < 16) return need_more;
  const std::size_t length = be16(in.data() + 14);
  if (length > max_proxy_v2_block) return invalid;
  // The block's least length for the family (UNSPEC: none, AF_UNIX: two 108-byte paths).
  static constexpr std::array<std::size_t, 4> address_length{0, 12, 36, 216};
  const std::size_t addresses = protocol == 0 ? 0 : address_length[family];
  if (length < addresses) return invalid;
  if (in.size() < 16 + length) return need_more;
  const std::string_view whole = in.substr(0, 16 + length);

  // TLVs after the addresses: each must fit, a CRC32C one holds 4 bytes and must match.
  std::size_t at = 16 + addresses;
  bool crc_seen = false;
  while (at < whole.size()) {
    if (whole.size() - at < 3) return invalid;
    const auto type = static_cast<unsigned char>(whole[at]);
    const std::size_t value_length = be16(whole.data() + at + 1);
    const std::size_t value_at = at + 3;
    if (value_length > whole.size() - value_at) return invalid;
    if (type == 0x03) {  // PP2_TYPE_CRC32C
      if (value_length != 4 || crc_seen) return invalid;
      crc_seen = true;
      const std::uint32_t sent = (static_cast<std::uint32_t>(be16(whole.data() + value_at)) << 16) |
                                 be16(whole.data() + value_at + 2);
      if (crc32c_with_zeroed(whole, value_at) != sent) return invalid;
    }
    at = value_at + value_length;
  }

  ProxyHeader h;
  h.version = 2;
  // Only TCP over IPv4 or IPv6 names a POP3 client; the rest fall back to the connection's own.
  h.proxied = !local && protocol == 1 && (family == 1 || family == 2);
  if (h.proxied) {
    const std::size_t size = family == 1 ? 4 : 16;
    const char* block = whole.data() + 16;
    h.source.family = h.destination.family = family == 1 ? ProxyFamily::inet : ProxyFamily::inet6;
    std::memcpy(h.source.bytes.data(), block, size);
    std::memcpy(h.destination.bytes.data(), block + size, size);
    h.source.port = be16(block + 2 * size);
    h.destination.port = be16(block + 2 * size + 2);
  }
  header = h;
  return {ProxyParseStatus::complete, whole.size()};
}

}  // namespace detail::proxy

// The header at the start of `in`, the bytes read so far. need_more: every byte of `in` can
// still begin a valid header (and none is past it). complete: `header` is set and the header
// is in.substr(0, consumed); what follows is the client's. invalid: no more bytes can help.
inline ProxyParse parse_proxy_header(std::string_view in, ProxyHeader& header) {
  namespace d = detail::proxy;
  if (in.empty()) return {ProxyParseStatus::need_more, 0};
  if (in[0] == 'P') {
    if (!d::starts_like(in, d::v1_prefix)) return {ProxyParseStatus::invalid, 0};
    if (in.size() < d::v1_prefix.size()) return {ProxyParseStatus::need_more, 0};
    return d::parse_v1(in, header);
  }
  if (!d::starts_like(in, d::v2_signature)) return {ProxyParseStatus::invalid, 0};
  return d::parse_v2(in, header);
}

}  // namespace pop3
