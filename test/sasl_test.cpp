// pop3/protocol/sasl.hpp and pop3/protocol/capa.hpp: strict base64 (RFC 4648), the PLAIN
// message (RFC 4616), the responses AUTH reads (RFC 5034 s.4), and the CAPA listing.
#define BOOST_TEST_MODULE sasl
#include <boost/test/unit_test.hpp>

#include <array>
#include <string>
#include <string_view>

#include "pop3/protocol/capa.hpp"
#include "pop3/protocol/sasl.hpp"

namespace {

using pop3::ParseStatus;

struct Decoded {
  ParseStatus status;
  std::size_t consumed;
  std::string bytes;
};

Decoded decode(std::string_view in, std::size_t room = 64) {
  std::string out(room, '\0');
  const auto r = pop3::decode_base64(in, {out.data(), out.size()});
  return {r.status, r.consumed, out.substr(0, r.produced)};
}

}  // namespace

// RFC 4648 s.10's test vectors.
BOOST_AUTO_TEST_CASE(rfc_4648_vectors) {
  const std::array<std::pair<std::string_view, std::string_view>, 7> vectors{{
      {"", ""}, {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg==", "foob"}, {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
  }};
  for (const auto& [text, bytes] : vectors) {
    const auto d = decode(text);
    BOOST_TEST((d.status == ParseStatus::done), text);
    BOOST_TEST(d.bytes == bytes, text);
    BOOST_TEST(d.consumed == text.size());
    BOOST_TEST(pop3::base64_length(bytes.size()) == text.size());
  }
  BOOST_TEST(decode("+/+/").bytes == "\xfb\xff\xbf");
}

BOOST_AUTO_TEST_CASE(need_more_inside_a_group) {
  auto d = decode("Zm9vY");
  BOOST_TEST((d.status == ParseStatus::need_more));
  BOOST_TEST(d.consumed == 4u);
  BOOST_TEST(d.bytes == "foo");
  d = decode("Zm9vYg=");  // the last "=" may still come
  BOOST_TEST((d.status == ParseStatus::need_more));
  BOOST_TEST(d.consumed == 4u);
  // Fed in two pieces, the same bytes as in one.
  const std::string whole = "Zm9vYmFyYmF6";
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    const auto first = decode(whole.substr(0, cut));
    const auto second = decode(whole.substr(first.consumed));
    BOOST_TEST(first.bytes + second.bytes == "foobarbaz");
    BOOST_TEST((second.status == ParseStatus::done));
  }
}

BOOST_AUTO_TEST_CASE(strict_padding_and_alphabet) {
  for (const std::string_view bad : {
           "Z===", "Zg=a", "Zh==",             // "=" too early, data after it, bits under it
           "Zm9=", "Zm8=Zm8=", "Zg==Zg==",     // bits under one "=", padding in the middle
           "Zm9v\r\n", "Zm 9v", "Zm9v.", "Zm9-", "Zm9_",   // line breaks, spaces, URL-safe
           "=", "==", "Z=", "\x80\x80\x80\x80",
       }) {
    BOOST_TEST((decode(bad).status == ParseStatus::invalid), bad);
  }
}

BOOST_AUTO_TEST_CASE(bounded_by_the_output) {
  BOOST_TEST((decode("Zm9vYmFy", 6).status == ParseStatus::done));
  BOOST_TEST((decode("Zm9vYmFy", 5).status == ParseStatus::invalid));
  BOOST_TEST((decode("Zm9vYg==", 4).status == ParseStatus::done));
  BOOST_TEST((decode("Zm9vYg==", 3).status == ParseStatus::invalid));
}

BOOST_AUTO_TEST_CASE(sasl_responses) {
  std::array<char, 32> out{};
  using Kind = pop3::SaslResponse::Kind;
  BOOST_TEST((pop3::decode_sasl_response("*", out).kind == Kind::cancel));
  const auto empty = pop3::decode_sasl_response("=", out);
  BOOST_TEST((empty.kind == Kind::data && empty.size == 0));
  BOOST_TEST((pop3::decode_sasl_response("", out).kind == Kind::data));
  const auto r = pop3::decode_sasl_response("AGFsaWNlAHNlY3JldA==", out);
  BOOST_TEST((r.kind == Kind::data));
  BOOST_TEST(std::string_view(out.data(), r.size) == std::string_view("\0alice\0secret", 13));
  for (const std::string_view bad : {"**", "*=", "==", "AGFsaWNl AHNlY3JldA==", "AGFsaWNlAHNlY3JldA"})
    BOOST_TEST((pop3::decode_sasl_response(bad, out).kind == Kind::invalid), bad);
}

BOOST_AUTO_TEST_CASE(plain_messages) {
  using namespace std::string_view_literals;
  auto m = pop3::parse_plain("\0alice\0secret"sv);
  BOOST_REQUIRE(m);
  BOOST_TEST((m->authzid.empty() && m->authcid == "alice" && m->password == "secret"));
  m = pop3::parse_plain("admin\0alice\0pass word\r\n"sv);
  BOOST_REQUIRE(m);
  BOOST_TEST((m->authzid == "admin" && m->password == "pass word\r\n"));
  for (const std::string_view bad : {""sv, "alice"sv, "\0alice"sv, "\0\0secret"sv, "\0alice\0"sv,
                                     "\0alice\0secret\0"sv, "\0\0\0"sv, "a\0b\0c\0d"sv}) {
    BOOST_TEST(!pop3::parse_plain(bad));
  }
}

BOOST_AUTO_TEST_CASE(capa_text_from_the_predicate) {
  const auto listing = [](const pop3::SessionFacts& f, std::string_view implementation = {}) {
    pop3::OutputBuffer out;
    pop3::append_capabilities(out, f, implementation);
    return std::string(out.view());
  };
  pop3::SessionFacts f;
  f.extensions = true;
  BOOST_TEST(listing(f) == "TOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n");
  f.stls = true;
  f.require_tls = true;
  BOOST_TEST(listing(f, "x 1") ==
             "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\nIMPLEMENTATION x 1\r\n.\r\n");
  f.tls_active = true;
  BOOST_TEST(listing(f) == "TOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n");
  f.transaction = true;
  BOOST_TEST(listing(f) == "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n.\r\n");
  // Every line is one the predicate enables, and every enabled capability has its line.
  for (unsigned bits = 0; bits < 64; ++bits) {
    const pop3::SessionFacts g{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0,
                               (bits & 8) != 0, (bits & 16) != 0, (bits & 32) != 0};
    const std::string text = listing(g, "impl");
    for (const auto& [capability, name] : pop3::capability_names) {
      const bool listed = ("\n" + text).find("\n" + std::string(name) + (name == "SASL" || name == "IMPLEMENTATION" ? " " : "\r")) != std::string::npos;
      BOOST_TEST(listed == pop3::capability_enabled(capability, g), name << " facts " << bits);
    }
  }
  pop3::OutputBuffer out;
  pop3::append_mechanisms(out);
  BOOST_TEST(out.view() == "PLAIN\r\n.\r\n");
}
