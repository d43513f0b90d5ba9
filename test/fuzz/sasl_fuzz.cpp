// The SASL pieces of AUTH (protocol/sasl.hpp) against a model: strict base64 has one encoding
// per byte string, so whatever decodes must encode back to the very same text; decoding in
// two fuzzer-chosen pieces (need_more, then the rest) gives what decoding at once gives; the
// output bound holds; and parse_plain splits exactly at the message's two NULs.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "pop3/protocol/sasl.hpp"

namespace {

std::string encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    unsigned v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? alphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  const std::size_t room = input.size_in(512) - 1;  // the output bound, 0..511
  const std::size_t cut = input.size_in(1024) - 1;
  const std::string_view text = input.rest();

  std::string out(room, '\0');
  const pop3::Base64Result whole = pop3::decode_base64(text, {out.data(), out.size()});
  POP3_FUZZ_CHECK(whole.produced <= room);
  POP3_FUZZ_CHECK(whole.consumed % 4 == 0 && whole.consumed <= text.size());
  POP3_FUZZ_CHECK(whole.produced <= whole.consumed / 4 * 3);
  const std::string_view decoded{out.data(), whole.produced};
  if (whole.status == pop3::ParseStatus::done) {
    POP3_FUZZ_CHECK(whole.consumed == text.size());
    POP3_FUZZ_CHECK(encode(decoded) == text);  // canonical: no second spelling decodes
  } else if (whole.status == pop3::ParseStatus::need_more) {
    POP3_FUZZ_CHECK(text.size() - whole.consumed < 4);
    POP3_FUZZ_CHECK(encode(decoded) == text.substr(0, whole.consumed));
  }

  // In two pieces: what the first leaves over goes in front of the rest.
  const std::string_view head = text.substr(0, std::min(cut, text.size()));
  std::string out2(room, '\0');
  const pop3::Base64Result first = pop3::decode_base64(head, {out2.data(), out2.size()});
  if (first.status == pop3::ParseStatus::need_more || first.status == pop3::ParseStatus::done) {
    const pop3::Base64Result second =
        pop3::decode_base64(text.substr(first.consumed), {out2.data() + first.produced, room - first.produced});
    // A padded group may end `head` (done) with more text after it: then `text` is invalid.
    if (whole.status == pop3::ParseStatus::done) {
      POP3_FUZZ_CHECK(second.status == pop3::ParseStatus::done);
      POP3_FUZZ_CHECK(std::string_view(out2.data(), first.produced + second.produced) == decoded);
    }
  }

  const pop3::SaslResponse r = pop3::decode_sasl_response(text, {out.data(), out.size()});
  POP3_FUZZ_CHECK(r.size <= room);
  if (r.kind == pop3::SaslResponse::Kind::cancel) POP3_FUZZ_CHECK(text == "*");
  if (r.kind == pop3::SaslResponse::Kind::data) {
    POP3_FUZZ_CHECK(text == "=" || (whole.status == pop3::ParseStatus::done && r.size == whole.produced));
    const std::string_view message{out.data(), r.size};
    if (const auto plain = pop3::parse_plain(message)) {
      POP3_FUZZ_CHECK(!plain->authcid.empty() && !plain->password.empty());
      POP3_FUZZ_CHECK(std::string(plain->authzid) + '\0' + std::string(plain->authcid) + '\0' +
                          std::string(plain->password) == message);
      POP3_FUZZ_CHECK((std::string(plain->authzid) + std::string(plain->authcid) + std::string(plain->password))
                          .find('\0') == std::string::npos);
    }
  }
  // A PLAIN message straight from the fuzzer's bytes, too.
  if (const auto plain = pop3::parse_plain(text)) {
    POP3_FUZZ_CHECK(plain->authzid.size() + plain->authcid.size() + plain->password.size() + 2 == text.size());
  }
  return 0;
}
