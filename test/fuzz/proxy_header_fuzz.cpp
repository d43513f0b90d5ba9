// The PROXY protocol parser (protocol/proxy_header.hpp) on any bytes: the consumed count stays
// within the input and the cap; a prefix of the input gets the answer the contract promises
// (need more before the header's end, the same header from it on, and once invalid, invalid for
// every longer input); a version 1 TCP4 line is the one canonical spelling of what it decoded
// to; a version 2 header is exactly 16 bytes plus its length field.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "pop3/protocol/proxy_header.hpp"

namespace {

std::string dotted(const pop3::ProxyAddress& a) {
  std::string out;
  for (int i = 0; i < 4; ++i) out += (i ? "." : "") + std::to_string(a.bytes[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  const std::size_t cut = input.size_in(2048) - 1;
  const std::string_view in = input.rest();

  pop3::ProxyHeader whole_header;
  const pop3::ProxyParse whole = pop3::parse_proxy_header(in, whole_header);
  POP3_FUZZ_CHECK(whole.consumed <= in.size());
  if (whole.status == pop3::ProxyParseStatus::complete) {
    POP3_FUZZ_CHECK(whole.consumed >= 15 && whole.consumed <= pop3::max_proxy_header_size);
    const std::string_view header = in.substr(0, whole.consumed);
    if (whole_header.version == 1) {
      POP3_FUZZ_CHECK(whole.consumed <= pop3::max_proxy_v1_size);
      POP3_FUZZ_CHECK(header.substr(header.size() - 2) == "\r\n");
      if (whole_header.proxied && whole_header.source.family == pop3::ProxyFamily::inet) {
        const std::string canonical = "PROXY TCP4 " + dotted(whole_header.source) + " " +
                                      dotted(whole_header.destination) + " " +
                                      std::to_string(whole_header.source.port) + " " +
                                      std::to_string(whole_header.destination.port) + "\r\n";
        POP3_FUZZ_CHECK(header == canonical);
      }
    } else {
      POP3_FUZZ_CHECK(whole_header.version == 2);
      const std::size_t length = static_cast<std::size_t>(static_cast<unsigned char>(header[14])) << 8 |
                                 static_cast<unsigned char>(header[15]);
      POP3_FUZZ_CHECK(whole.consumed == 16 + length);
      POP3_FUZZ_CHECK(static_cast<unsigned char>(header[12]) == 0x20 || static_cast<unsigned char>(header[12]) == 0x21);
    }
  } else {
    POP3_FUZZ_CHECK(whole.consumed == 0);
  }

  // A prefix, as a reader that has not received everything yet sees it.
  const std::string_view part = in.substr(0, cut < in.size() ? cut : in.size());
  pop3::ProxyHeader part_header;
  const pop3::ProxyParse p = pop3::parse_proxy_header(part, part_header);
  switch (whole.status) {
    case pop3::ProxyParseStatus::complete:
      if (part.size() < whole.consumed) {
        POP3_FUZZ_CHECK(p.status == pop3::ProxyParseStatus::need_more);
      } else {
        POP3_FUZZ_CHECK(p.status == pop3::ProxyParseStatus::complete);
        POP3_FUZZ_CHECK(p.consumed == whole.consumed);
        POP3_FUZZ_CHECK(part_header == whole_header);
      }
      break;
    case pop3::ProxyParseStatus::need_more:
      POP3_FUZZ_CHECK(p.status == pop3::ProxyParseStatus::need_more);
      break;
    case pop3::ProxyParseStatus::invalid:
      POP3_FUZZ_CHECK(p.status != pop3::ProxyParseStatus::complete);
      break;
  }
  // Invalid stays invalid whatever follows.
  if (p.status == pop3::ProxyParseStatus::invalid) POP3_FUZZ_CHECK(whole.status == pop3::ProxyParseStatus::invalid);
  return 0;
}
