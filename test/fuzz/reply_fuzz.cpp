// Message data, in chunks of fuzzer-chosen sizes, through MessageEncoder (RETR, and TOP with a
// few line counts) against a line-by-line reference of spec 11: LF -> CR LF, a '.' at the
// start of a line doubled, TOP = the header section with its blank line, then n body lines.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "pop3/protocol/reply.hpp"

namespace {

using pop3::MessageEncoder;

std::string reference(std::string_view data, std::uint64_t body_lines) {
  const bool top = body_lines != MessageEncoder::all_lines;
  bool in_headers = top;
  std::string out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t lf = data.find('\n', pos);
    const std::string_view line = data.substr(pos, lf == std::string_view::npos ? lf : lf - pos);
    const bool header = in_headers;
    if (in_headers && line.empty()) {
      in_headers = false;
      if (body_lines == 0) return out + "\r\n";
    }
    if (!line.empty() && line.front() == '.') out += '.';
    out.append(line).append("\r\n");
    if (lf == std::string_view::npos) break;
    pos = lf + 1;
    if (top && !header && --body_lines == 0) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  const std::size_t chunk = input.size_in(512);
  const std::uint8_t mode = input.byte();
  const std::uint64_t body_lines = mode < 128 ? MessageEncoder::all_lines : mode % 6;
  const std::string_view bytes = input.rest();

  MessageEncoder encoder{body_lines};
  pop3::OutputBuffer out;
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    if (!encoder.encode(bytes.substr(pos, chunk), out)) break;
  }
  encoder.finish(out);
  POP3_FUZZ_CHECK(out.view() == reference(bytes, body_lines));
  return 0;
}
