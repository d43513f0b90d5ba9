// pop3/protocol/proxy_header.hpp: HAProxy's doc/proxy-protocol.txt, versions 1 and 2: the
// spec's examples, and each of them cut, extended and changed at every position.
#define BOOST_TEST_MODULE proxy_header
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "pop3/protocol/proxy_header.hpp"

namespace {

using pop3::ProxyParseStatus;

struct Parsed {
  ProxyParseStatus status;
  std::size_t consumed;
  pop3::ProxyHeader header;
};

Parsed parse(const std::string& bytes) {
  pop3::ProxyHeader header;
  const pop3::ProxyParse p = pop3::parse_proxy_header(bytes, header);
  return {p.status, p.consumed, p.status == ProxyParseStatus::complete ? header : pop3::ProxyHeader{}};
}

ProxyParseStatus status_of(const std::string& bytes) { return parse(bytes).status; }

const std::string signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

std::string be16(std::size_t v) {
  return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
}

std::string tlv(unsigned char type, const std::string& value) {
  return std::string(1, static_cast<char>(type)) + be16(value.size()) + value;
}

// A version 2 header: signature, version and command, family and protocol, length, block.
std::string v2(unsigned char version_command, unsigned char family, const std::string& block) {
  return signature + static_cast<char>(version_command) + static_cast<char>(family) + be16(block.size()) + block;
}

// The same with a CRC32C TLV at the end, filled in as a sender does.
std::string v2_with_crc(unsigned char version_command, unsigned char family, const std::string& block) {
  std::string h = v2(version_command, family, block + tlv(0x03, std::string(4, '\0')));
  const std::uint32_t crc = pop3::detail::proxy::crc32c_with_zeroed(h, h.size() - 4);
  for (int i = 0; i < 4; ++i) h[h.size() - 4 + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (24 - 8 * i));
  return h;
}

const std::string ipv4_block = std::string("\xC0\xA8\x00\x01\xC0\xA8\x00\x0B", 8) + be16(56324) + be16(443);
const std::string ipv6_block = std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + "\x01" +
                               std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + "\x02" + be16(1) + be16(110);

pop3::ProxyAddress v4(unsigned char a, unsigned char b, unsigned char c, unsigned char d, std::uint16_t port) {
  pop3::ProxyAddress address;
  address.family = pop3::ProxyFamily::inet;
  address.bytes = {a, b, c, d};
  address.port = port;
  return address;
}

pop3::ProxyAddress v6_all_ones(std::uint16_t port) {
  pop3::ProxyAddress address;
  address.family = pop3::ProxyFamily::inet6;
  address.bytes.fill(0xFF);
  address.port = port;
  return address;
}

const std::string ffff6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

// The spec's version 1 lines (section 2.1) and the example before an HTTP request.
const std::vector<std::string> v1_examples{
    "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
    "PROXY TCP6 " + ffff6 + " " + ffff6 + " 65535 65535\r\n",
    "PROXY UNKNOWN\r\n",
    "PROXY UNKNOWN " + ffff6 + " " + ffff6 + " 65535 65535\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
};
// Those of them that name addresses (every byte of them counts).
const std::vector<std::string> v1_proxied{v1_examples[0], v1_examples[1], v1_examples[4]};

// The version 2 forms the spec lists (section 2.2), with TLVs of each registered kind.
const std::vector<std::string> v2_examples{
    v2(0x21, 0x11, ipv4_block),
    v2(0x21, 0x21, ipv6_block),
    v2(0x20, 0x00, ""),                          // LOCAL: a health check
    v2(0x21, 0x00, ""),                          // PROXY, UNSPEC
    v2(0x21, 0x12, ipv4_block),                  // UDP over IPv4
    v2(0x21, 0x22, ipv6_block),                  // UDP over IPv6
    v2(0x21, 0x31, std::string(216, 'u')),       // UNIX stream
    v2(0x21, 0x32, std::string(216, 'u')),       // UNIX datagram
    v2(0x21, 0x11, ipv4_block + tlv(0x01, "pop3") + tlv(0x02, "mail.example.org") + tlv(0x04, "") +
                       tlv(0x05, std::string(128, 'i')) +
                       tlv(0x20, std::string("\x01\0\0\0\0", 5) + tlv(0x21, "TLSv1.3") + tlv(0x22, "client")) +
                       tlv(0x30, "netns") + tlv(0xE0, "custom")),
    v2_with_crc(0x21, 0x11, ipv4_block),
    v2_with_crc(0x20, 0x00, ""),
};
// Those whose address block is the client's.
const std::vector<std::size_t> v2_proxied{0, 1, 8, 9};
const std::vector<std::size_t> v2_crc{9, 10};

}  // namespace

BOOST_AUTO_TEST_CASE(v1_examples_decode) {
  Parsed p = parse(v1_examples[0]);
  BOOST_TEST((p.status == ProxyParseStatus::complete));
  BOOST_TEST(p.consumed == 56u);
  BOOST_TEST(p.header.version == 1);
  BOOST_TEST(p.header.proxied);
  BOOST_TEST((p.header.source == v4(255, 255, 255, 255, 65535)));

  p = parse(v1_examples[1]);
  BOOST_TEST(p.consumed == 104u);
  BOOST_TEST((p.header.source == v6_all_ones(65535)));
  BOOST_TEST((p.header.destination == v6_all_ones(65535)));

  p = parse(v1_examples[2]);
  BOOST_TEST((p.status == ProxyParseStatus::complete));
  BOOST_TEST(p.consumed == 15u);
  BOOST_TEST(!p.header.proxied);

  p = parse(v1_examples[3]);
  BOOST_TEST(p.consumed == 107u);
  BOOST_TEST(!p.header.proxied);

  p = parse(v1_examples[4] + "GET / HTTP/1.1\r\n");
  BOOST_TEST(p.consumed == v1_examples[4].size());
  BOOST_TEST((p.header.source == v4(192, 168, 0, 1, 56324)));
  BOOST_TEST((p.header.destination == v4(192, 168, 0, 11, 443)));
}

BOOST_AUTO_TEST_CASE(v1_is_strict) {
  const std::vector<std::string> bad{
      "PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n",   // leading zero in an octet
      "PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",   // leading zero in a port
      "PROXY TCP4 192.168.0.1 192.168.0.11 00 443\r\n",
      "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",    // port out of range
      "PROXY TCP4 192.168.0.1 192.168.0.11 +5632 443\r\n",    // sign
      "PROXY TCP4 192.168.0.256 192.168.0.11 56324 443\r\n",  // octet out of range
      "PROXY TCP4 192.168.0 192.168.0.11 56324 443\r\n",      // three octets
      "PROXY TCP4 192.168.0.1.2 192.168.0.11 56324 443\r\n",  // five
      "PROXY TCP4 192.168..1 192.168.0.11 56324 443\r\n",
      "PROXY TCP4 ::1 ::1 56324 443\r\n",                     // family mismatch
      "PROXY TCP6 192.168.0.1 192.168.0.11 56324 443\r\n",
      "PROXY TCP6 ::1 ::1%lo 56324 443\r\n",                  // a scope is no address
      "PROXY TCP6 1::2::3 ::1 56324 443\r\n",
      "PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n",   // two spaces
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n",   // trailing space
      "PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n",   // tab
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",        // a field missing
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n",  // one too many
      "PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n",    // case
      "PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n",
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",      // LF alone
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",     // CR alone
      "PROXY \r\n",
      "PROXY UNKNOWNX\r\n",
      "PROXY UNKNOWN \x01\r\n",
      "proxy UNKNOWN\r\n",
      "PROXYUNKNOWN\r\n",
      "PROXY UNKNOWN " + ffff6 + " " + ffff6 + " 65535 655350\r\n",  // 108 bytes
      "GET / HTTP/1.1\r\n",
      "USER alice\r\n",
  };
  for (const std::string& line : bad) BOOST_TEST((status_of(line) == ProxyParseStatus::invalid), line);
  // 106 bytes without the CR are already too many: with CRLF the line would be 108.
  BOOST_TEST((status_of("PROXY UNKNOWN " + std::string(92, 'x')) == ProxyParseStatus::invalid));
  BOOST_TEST((status_of("PROXY UNKNOWN " + std::string(91, 'x')) == ProxyParseStatus::need_more));
  BOOST_TEST((status_of("PROXY UNKNOWN " + std::string(91, 'x') + "\r\n") == ProxyParseStatus::complete));
  // Embedded IPv4 and short forms are IPv6 as inet_pton reads them; port 0 is a port.
  const Parsed p = parse("PROXY TCP6 ::ffff:192.0.2.1 ::1 0 110\r\n");
  BOOST_TEST((p.status == ProxyParseStatus::complete));
  BOOST_TEST(p.header.source.bytes[15] == 1);
  BOOST_TEST(p.header.source.bytes[10] == 0xFF);
  BOOST_TEST(p.header.source.port == 0);
}

BOOST_AUTO_TEST_CASE(every_prefix_needs_more_and_a_byte_more_is_the_clients) {
  std::vector<std::string> all = v1_examples;
  all.insert(all.end(), v2_examples.begin(), v2_examples.end());
  for (const std::string& h : all) {
    const Parsed whole = parse(h);
    BOOST_TEST_REQUIRE((whole.status == ProxyParseStatus::complete), h);
    BOOST_TEST(whole.consumed == h.size());
    for (std::size_t n = 0; n < h.size(); ++n) {
      BOOST_TEST((status_of(h.substr(0, n)) == ProxyParseStatus::need_more), "cut at " << n);
    }
    for (const char extra : {'\0', '\r', 'U', '\x16'}) {
      const Parsed more = parse(h + extra);
      BOOST_TEST((more.status == ProxyParseStatus::complete));
      BOOST_TEST(more.consumed == h.size());
      BOOST_TEST((more.header == whole.header));
    }
  }
}

BOOST_AUTO_TEST_CASE(v1_a_byte_changed_inserted_or_removed) {
  for (const std::string& h : v1_examples) {
    for (std::size_t i = 0; i < h.size(); ++i) {
      std::string changed = h;
      changed[i] = '\0';  // allowed nowhere in a line
      BOOST_TEST((status_of(changed) == ProxyParseStatus::invalid), "NUL at " << i << " of " << h);
      std::string inserted = h;
      inserted.insert(i, 1, '\0');
      BOOST_TEST((status_of(inserted) == ProxyParseStatus::invalid), "NUL before " << i << " of " << h);
    }
  }
  for (const std::string& h : v1_proxied) {
    const Parsed original = parse(h);
    for (std::size_t i = 0; i < h.size(); ++i) {
      if (h[i] != ' ') {
        std::string changed = h;
        changed[i] = ' ';
        BOOST_TEST((status_of(changed) == ProxyParseStatus::invalid), "space at " << i << " of " << h);
      }
      std::string removed = h;
      removed.erase(i, 1);
      const Parsed p = parse(removed);
      BOOST_TEST(!(p.status == ProxyParseStatus::complete && p.header == original.header),
                 "byte " << i << " removed from " << h);
    }
  }
}

BOOST_AUTO_TEST_CASE(v2_examples_decode) {
  Parsed p = parse(v2_examples[0]);
  BOOST_TEST(p.consumed == 28u);
  BOOST_TEST(p.header.version == 2);
  BOOST_TEST(p.header.proxied);
  BOOST_TEST((p.header.source == v4(192, 168, 0, 1, 56324)));
  BOOST_TEST((p.header.destination == v4(192, 168, 0, 11, 443)));

  p = parse(v2_examples[1]);
  BOOST_TEST(p.consumed == 52u);
  BOOST_TEST((p.header.source.family == pop3::ProxyFamily::inet6));
  BOOST_TEST(p.header.source.bytes[0] == 0x20);
  BOOST_TEST(p.header.source.bytes[15] == 1);
  BOOST_TEST(p.header.destination.bytes[15] == 2);
  BOOST_TEST(p.header.source.port == 1);
  BOOST_TEST(p.header.destination.port == 110);

  // LOCAL, UNSPEC, UDP and UNIX: the connection's own addresses stand.
  for (std::size_t i = 2; i <= 7; ++i) {
    p = parse(v2_examples[i]);
    BOOST_TEST((p.status == ProxyParseStatus::complete));
    BOOST_TEST(!p.header.proxied, "example " << i);
  }
  p = parse(v2_examples[8]);
  BOOST_TEST((p.header.source == v4(192, 168, 0, 1, 56324)));
  // LOCAL must be skipped by its length, not assumed empty.
  p = parse(v2(0x20, 0x11, ipv4_block));
  BOOST_TEST((p.status == ProxyParseStatus::complete));
  BOOST_TEST(p.consumed == 28u);
  BOOST_TEST(!p.header.proxied);
}

BOOST_AUTO_TEST_CASE(v2_crc32c) {
  // RFC 3720 B.4's check value for "123456789".
  BOOST_TEST(pop3::detail::proxy::crc32c_with_zeroed("123456789", 9) == 0xE3069283u);
  // A header with a CRC32C TLV that does not match is invalid (the spec's MUST).
  for (const std::size_t i : v2_crc) {
    std::string h = v2_examples[i];
    h.back() = static_cast<char>(h.back() ^ 1);
    BOOST_TEST((status_of(h) == ProxyParseStatus::invalid));
  }
  const std::string bad_length = v2(0x21, 0x11, ipv4_block + tlv(0x03, "abc"));
  BOOST_TEST((status_of(bad_length) == ProxyParseStatus::invalid));
  const std::string twice = v2_with_crc(0x21, 0x11, ipv4_block + tlv(0x03, "abcd"));
  BOOST_TEST((status_of(twice) == ProxyParseStatus::invalid));
}

BOOST_AUTO_TEST_CASE(v2_bounds) {
  // The length cap is known from the first 16 bytes.
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block).substr(0, 14) + be16(pop3::max_proxy_v2_block + 1)) ==
              ProxyParseStatus::invalid));
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block + tlv(0x04, std::string(pop3::max_proxy_v2_block - 15, 'n')))) ==
              ProxyParseStatus::complete));
  // The block must hold the family's addresses.
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block.substr(0, 11))) == ProxyParseStatus::invalid));
  BOOST_TEST((status_of(v2(0x21, 0x21, ipv4_block)) == ProxyParseStatus::invalid));
  BOOST_TEST((status_of(v2(0x21, 0x31, ipv6_block)) == ProxyParseStatus::invalid));
  // TLVs: each must fit, its three-byte head included.
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block + "\x04")) == ProxyParseStatus::invalid));
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block + std::string("\x04\x00", 2))) == ProxyParseStatus::invalid));
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block + tlv(0x04, "ab").substr(0, 4))) == ProxyParseStatus::invalid));
  BOOST_TEST((status_of(v2(0x21, 0x11, ipv4_block + std::string("\x04\xFF\xFF", 3))) == ProxyParseStatus::invalid));
  // Version 1 "PROXY" against version 2's signature: neither is a prefix of the other.
  BOOST_TEST((status_of(signature.substr(0, 5) + "X") == ProxyParseStatus::invalid));
  BOOST_TEST((status_of("\r\nQUIT\r\n") == ProxyParseStatus::invalid));
}

BOOST_AUTO_TEST_CASE(v2_a_byte_changed) {
  for (std::size_t e = 0; e < v2_examples.size(); ++e) {
    const std::string& h = v2_examples[e];
    const Parsed original = parse(h);
    const std::size_t length = h.size() - 16;
    const bool crc = std::find(v2_crc.begin(), v2_crc.end(), e) != v2_crc.end();
    for (std::size_t i = 0; i < 12; ++i) {
      std::string changed = h;
      changed[i] = static_cast<char>(changed[i] ^ 0x20);
      BOOST_TEST((status_of(changed) == ProxyParseStatus::invalid), "signature byte " << i);
    }
    for (unsigned v = 0; v < 256; ++v) {
      std::string changed = h;
      changed[12] = static_cast<char>(v);
      const bool valid = v == static_cast<unsigned char>(h[12]) || (!crc && (v == 0x20 || v == 0x21));
      BOOST_TEST(((status_of(changed) == ProxyParseStatus::complete) == valid), "version/command " << v);
    }
    for (unsigned v = 0; v < 256; ++v) {
      std::string changed = h;
      changed[13] = static_cast<char>(v);
      const unsigned family = v >> 4, protocol = v & 0x0F;
      const std::size_t needed = protocol == 0 ? 0 : std::vector<std::size_t>{0, 12, 36, 216}[family < 4 ? family : 0];
      const bool valid_byte = family <= 3 && protocol <= 2 && needed <= length;
      // Another family reads the same block differently: only the byte's own validity is certain.
      if (!valid_byte) BOOST_TEST((status_of(changed) == ProxyParseStatus::invalid), "family/protocol " << v);
      if (v == static_cast<unsigned char>(h[13])) BOOST_TEST((status_of(changed) == ProxyParseStatus::complete));
    }
    // One byte more in the length: it waits for it; one byte less cuts the block.
    std::string longer = h;
    longer.replace(14, 2, be16(length + 1));
    BOOST_TEST((status_of(longer) == ProxyParseStatus::need_more));
    BOOST_TEST((status_of(longer + "x") == ProxyParseStatus::invalid), "a one-byte TLV, example " << e);
    if (length > 0) {
      std::string shorter = h;
      shorter.replace(14, 2, be16(length - 1));
      BOOST_TEST((status_of(shorter) == ProxyParseStatus::invalid), "length - 1, example " << e);
    }
    // With a CRC32C, any change is caught but that of its own type byte (it is another TLV
    // then); without, a changed address is a new client.
    for (std::size_t i = 16; i < h.size(); ++i) {
      if (crc && i == h.size() - 7) continue;
      std::string changed = h;
      changed[i] = static_cast<char>(changed[i] ^ 0x01);
      const Parsed p = parse(changed);
      if (crc) {
        BOOST_TEST((p.status == ProxyParseStatus::invalid), "byte " << i << " of example " << e);
      } else if (std::find(v2_proxied.begin(), v2_proxied.end(), e) != v2_proxied.end() && i < 16 + 12) {
        BOOST_TEST((p.status == ProxyParseStatus::complete));
        BOOST_TEST(!(p.header == original.header), "address byte " << i << " of example " << e);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(v2_a_byte_inserted_or_removed) {
  for (std::size_t e = 0; e < v2_examples.size(); ++e) {
    const std::string& h = v2_examples[e];
    const Parsed original = parse(h);
    for (std::size_t i = 0; i < h.size(); ++i) {
      std::string removed = h;
      removed.erase(i, 1);
      const Parsed p = parse(removed);
      if (i < 12) {
        BOOST_TEST((p.status == ProxyParseStatus::invalid), "signature byte " << i << " removed");
      } else if (i >= 16) {
        BOOST_TEST((p.status == ProxyParseStatus::need_more), "block byte " << i << " removed, example " << e);
      } else {
        BOOST_TEST(!(p.status == ProxyParseStatus::complete && p.header == original.header));
      }
      std::string inserted = h;
      inserted.insert(i, 1, '\x7f');
      const Parsed q = parse(inserted);
      if (i < 12) BOOST_TEST((q.status == ProxyParseStatus::invalid), "byte inserted at " << i);
      if (i >= 16 && std::find(v2_crc.begin(), v2_crc.end(), e) != v2_crc.end()) {
        // The header ends a byte early and the CRC no longer matches.
        BOOST_TEST((q.status == ProxyParseStatus::invalid), "byte inserted at " << i << ", example " << e);
      }
    }
  }
}
