// The extensions of issue 11 in the engine, over a transport that fakes TLS: CAPA in both
// states and for every option, STLS and its read-ahead rule, AUTH PLAIN (RFC 5034, RFC 4616)
// and every malformed response, response codes (RFC 2449 s.8, RFC 3206), the 255-octet lines.
#define BOOST_TEST_MODULE extensions
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/protocol/sasl.hpp"
#include "support/test_server.hpp"

namespace {

using pop3::errc;
using pop3::test::FakeTlsTransport;
using pop3::test::MemoryMailboxState;
using pop3::test::ScriptTransport;

// alice/secret and "a" with any password of at least one byte; records what it was given.
struct RecordingAuth {
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    users->emplace_back(user);
    passwords->emplace_back(password);
    if (backend_down) {
      ec = errc::auth_backend;
      return std::nullopt;
    }
    if ((user == "alice" && password == "secret") || user == "a") return pop3::Account{std::string(user), "mem", 1000, 1000};
    ec = user == "alice" ? errc::auth_failed : errc::unknown_user;
    return std::nullopt;
  }
  std::shared_ptr<std::vector<std::string>> users = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::vector<std::string>> passwords = std::make_shared<std::vector<std::string>>();
  bool backend_down = false;
};

std::shared_ptr<MemoryMailboxState> two_messages() {
  auto state = std::make_shared<MemoryMailboxState>();
  state->messages = {"Subject: one\n\nbody 1\n", "Subject: two\n\nbody 2\n"};
  return state;
}

pop3::Features capa(std::string implementation = {}) {
  pop3::Features f;
  f.extensions = true;
  f.implementation = std::move(implementation);
  return f;
}
pop3::Features tls(bool require = false) {
  pop3::Features f = capa();
  f.stls = true;
  f.require_tls = require;
  return f;
}

struct Result {
  std::string plain;  // before TLS (all of it over ScriptTransport)
  std::string tls;    // after STLS
  std::error_code ec;
  std::vector<std::string> users;
  std::vector<std::string> passwords;
  std::vector<std::string> log;
  std::shared_ptr<pop3::test::FakeTlsState> tls_state;
};

// A session over the plain test transport.
Result plain(std::string input, pop3::Features features, std::shared_ptr<MemoryMailboxState> state = two_messages(),
             RecordingAuth auth = {}) {
  ScriptTransport transport{std::move(input)};
  auto out = transport.output();
  Result r;
  auto users = auth.users;
  auto passwords = auth.passwords;
  pop3::Pop3Server<ScriptTransport, RecordingAuth, pop3::test::TestMailbox<>> server{
      std::move(transport), std::move(auth), pop3::test::TestMailbox<>{state}, {},
      [&r](pop3::LogPriority, std::string_view m) { r.log.emplace_back(m); }, {}, std::move(features)};
  r.ec = server.serve();
  r.plain = *out;
  r.users = *users;
  r.passwords = *passwords;
  return r;
}

// A session over the fake TLS transport: `before` in the clear, `after` once TLS started.
Result over_tls(std::string before, std::string after, pop3::Features features, bool handshake_fails = false,
                bool implicit = false, std::size_t chunk = 1 << 20) {
  FakeTlsTransport transport{std::move(before), std::move(after), chunk, handshake_fails};
  Result r;
  r.tls_state = transport.state();
  RecordingAuth auth;
  auto users = auth.users;
  pop3::Pop3Server<FakeTlsTransport, RecordingAuth, pop3::test::TestMailbox<>> server{
      std::move(transport), std::move(auth), pop3::test::TestMailbox<>{two_messages()}, {},
      [&r](pop3::LogPriority, std::string_view m) { r.log.emplace_back(m); }, {}, std::move(features)};
  if (implicit) {
    // As the caller of implicit TLS does: the handshake before the greeting.
    server.transport().start_tls("hello", r.ec);
    if (r.ec) return r;
  }
  r.ec = server.serve();
  r.plain = r.tls_state->plain_written;
  r.tls = r.tls_state->tls_written;
  r.users = *users;
  return r;
}

std::string b64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += alphabet[(v >> k) & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {alphabet[v >> 18], alphabet[(v >> 12) & 63], '=', '='};
  } else if (bytes.size() - i == 2) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], '='};
  }
  return out;
}
std::string plain_message(std::string_view authzid, std::string_view user, std::string_view password) {
  return std::string(authzid) + '\0' + std::string(user) + '\0' + std::string(password);
}

bool logged_passed(const Result& r) {
  for (const auto& line : r.log)
    if (line == "Authentication passed for alice") return true;
  return false;
}

const std::string greeting = "+OK\r\n";
const std::string capa_authorization =
    "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n";
const std::string capa_transaction = "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n.\r\n";
// After a login to two_messages(): its +OK, then STAT.
const std::string stat_reply = "+OK 2 48\r\n";

}  // namespace

BOOST_AUTO_TEST_CASE(capa_lists_what_works_in_each_state) {
  auto r = plain("CAPA\r\nUSER alice\r\nPASS secret\r\nCAPA\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + capa_authorization + "+OK\r\n+OK\r\n" + capa_transaction + "+OK\r\n");
  // IMPLEMENTATION when named; a name that is not printable ASCII is never sent.
  r = plain("CAPA\r\nUSER alice\r\nPASS secret\r\nCAPA\r\nQUIT\r\n", capa("popa3d 1.2"));
  BOOST_TEST(r.plain == greeting + "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
                                   "SASL PLAIN\r\nIMPLEMENTATION popa3d 1.2\r\n.\r\n+OK\r\n+OK\r\n"
                                   "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nIMPLEMENTATION popa3d 1.2\r\n.\r\n"
                                   "+OK\r\n");
  r = plain("CAPA\r\nQUIT\r\n", capa("x\r\n+OK"));
  BOOST_TEST(r.plain == greeting + capa_authorization + "+OK\r\n");
  // CAPA takes no argument.
  BOOST_TEST(plain("CAPA x\r\nQUIT\r\n", capa()).plain == greeting + "-ERR\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(extensions_off_are_popa3d_s_errors) {
  const auto r = plain("CAPA\r\nSTLS\r\nAUTH\r\nAUTH PLAIN " + b64(plain_message("", "alice", "secret")) +
                           "\r\nUSER alice\r\nPASS secret\r\nCAPA\r\nQUIT\r\n",
                       {});
  BOOST_TEST(r.plain == greeting + "-ERR\r\n-ERR\r\n-ERR\r\n-ERR\r\n+OK\r\n+OK\r\n-ERR\r\n+OK\r\n");
  // A refused login keeps popa3d's text, and a mailbox failure its bare -ERR.
  BOOST_TEST(plain("USER alice\r\nPASS wrong\r\n", {}).plain ==
             greeting + "+OK\r\n-ERR Authentication failed (bad password?)\r\n");
  auto state = two_messages();
  state->open_error = make_error_code(errc::mailbox_io);
  BOOST_TEST(plain("USER alice\r\nPASS secret\r\n", {}, state).plain == greeting + "+OK\r\n-ERR\r\n");
}

BOOST_AUTO_TEST_CASE(stls_only_where_the_transport_can_and_tls_is_configured) {
  // Over a plain transport STLS is neither listed nor accepted, whatever Features say.
  auto r = plain("STLS\r\nCAPA\r\nQUIT\r\n", tls());
  BOOST_TEST(r.plain == greeting + "-ERR\r\n" + capa_authorization + "+OK\r\n");
  // Over a TLS-capable one, not without Features::stls.
  r = over_tls("STLS\r\nCAPA\r\nQUIT\r\n", "", capa());
  BOOST_TEST(r.plain == greeting + "-ERR\r\n" + capa_authorization + "+OK\r\n");
  BOOST_TEST(r.tls_state->read_aheads.empty());
}

BOOST_AUTO_TEST_CASE(stls_upgrades_and_is_not_offered_again) {
  const std::string capa_with_stls =
      "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSASL PLAIN\r\nSTLS\r\n.\r\n";
  const auto r = over_tls("CAPA\r\nSTLS\r\n", "CAPA\r\nSTLS\r\nUSER alice\r\nPASS secret\r\nSTLS\r\nCAPA\r\nQUIT\r\n",
                          tls());
  BOOST_TEST(r.plain == greeting + capa_with_stls + "+OK\r\n");
  BOOST_TEST(r.tls == capa_authorization + "-ERR\r\n+OK\r\n+OK\r\n-ERR\r\n" + capa_transaction + "+OK\r\n");
  BOOST_TEST(!r.ec);
  BOOST_TEST((r.tls_state->read_aheads == std::vector<std::string>{""}));
}

BOOST_AUTO_TEST_CASE(stls_drops_every_byte_read_after_it) {
  // CVE-2011-0411: commands sent in the clear behind STLS, in the same packet, never run.
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{1} << 20}) {
    const auto r = over_tls("STLS\r\nCAPA\r\nUSER alice\r\nPASS secret\r\n", "QUIT\r\n", tls(), false, false, chunk);
    BOOST_TEST(r.plain == greeting + "+OK\r\n", "chunk " << chunk);
    BOOST_TEST(r.tls == "+OK\r\n", "chunk " << chunk);
    BOOST_TEST(r.users.empty());
  }
  // A partial line counts too.
  const auto r = over_tls("STLS\r\nUSER al", "ice\r\nQUIT\r\n", tls());
  BOOST_TEST(r.tls == "-ERR\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(stls_forgets_the_user) {
  const auto r = over_tls("USER alice\r\nSTLS\r\n", "PASS secret\r\nQUIT\r\n", tls());
  BOOST_TEST(r.plain == greeting + "+OK\r\n+OK\r\n");
  BOOST_TEST(r.tls == "-ERR\r\n+OK\r\n");
  BOOST_TEST(r.users.empty());
}

BOOST_AUTO_TEST_CASE(a_failed_handshake_ends_the_session_with_no_reply) {
  const auto r = over_tls("STLS\r\nQUIT\r\n", "QUIT\r\n", tls(), /*handshake_fails=*/true);
  BOOST_TEST(r.plain == greeting + "+OK\r\n");
  BOOST_TEST(r.tls.empty());
  BOOST_TEST((r.ec == errc::tls_failed));
}

BOOST_AUTO_TEST_CASE(stls_is_not_a_transaction_command) {
  const auto r = over_tls("USER alice\r\nPASS secret\r\nSTLS\r\nQUIT\r\n", "", tls());
  BOOST_TEST(r.plain == greeting + "+OK\r\n+OK\r\n-ERR\r\n+OK\r\n");
  BOOST_TEST(r.tls_state->read_aheads.empty());
}

BOOST_AUTO_TEST_CASE(implicit_tls_offers_no_stls) {
  const auto r = over_tls("", "CAPA\r\nSTLS\r\nQUIT\r\n", tls(true), false, /*implicit=*/true);
  BOOST_TEST(r.plain.empty());
  BOOST_TEST(r.tls == greeting + capa_authorization + "-ERR\r\n+OK\r\n");
  BOOST_TEST((r.tls_state->read_aheads == std::vector<std::string>{"hello"}));
}

BOOST_AUTO_TEST_CASE(require_tls_refuses_plaintext_logins) {
  const std::string ir = b64(plain_message("", "alice", "secret"));
  const std::string refused = "-ERR [AUTH] TLS required\r\n";
  const auto r = over_tls("CAPA\r\nUSER alice\r\nPASS secret\r\nAUTH PLAIN " + ir + "\r\nAUTH\r\nSTLS\r\n",
                          "CAPA\r\nAUTH PLAIN " + ir + "\r\nSTAT\r\nQUIT\r\n", tls(true));
  BOOST_TEST(r.plain == greeting + "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\n.\r\n" +
                            refused + refused + refused + refused + "+OK\r\n");
  BOOST_TEST(r.tls == capa_authorization + "+OK\r\n" + stat_reply + "+OK\r\n");
  BOOST_TEST((r.users == std::vector<std::string>{"alice"}));
}

BOOST_AUTO_TEST_CASE(auth_alone_lists_the_mechanisms) {
  BOOST_TEST(plain("AUTH\r\nauth plain\r\n*\r\nAUTH LOGIN\r\nAUTH CRAM-MD5 abc\r\nQUIT\r\n", capa()).plain ==
             greeting + "+OK\r\nPLAIN\r\n.\r\n+ \r\n-ERR\r\n-ERR\r\n-ERR\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(auth_plain_with_and_without_initial_response) {
  const std::string ir = b64(plain_message("", "alice", "secret"));
  auto r = plain("AUTH PLAIN " + ir + "\r\nSTAT\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+OK\r\n" + stat_reply + "+OK\r\n");
  BOOST_TEST(logged_passed(r));
  r = plain("AUTH PLAIN\r\n" + ir + "\r\nSTAT\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+ \r\n+OK\r\n" + stat_reply + "+OK\r\n");
  // The authorization id may repeat the user.
  r = plain("AUTH PLAIN " + b64(plain_message("alice", "alice", "secret")) + "\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+OK\r\n+OK\r\n");
  // AUTH after a USER: the PLAIN message names the user.
  r = plain("USER bob\r\nAUTH PLAIN " + ir + "\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST((r.users == std::vector<std::string>{"alice"}));
  BOOST_TEST((r.passwords == std::vector<std::string>{"secret"}));
}

BOOST_AUTO_TEST_CASE(pipelined_auth_is_answered_in_order) {
  // Every chunking of the input: the login, then STAT and QUIT read ahead across the handoff.
  const std::string input = "AUTH PLAIN " + b64(plain_message("", "alice", "secret")) + "\r\nSTAT\r\nQUIT\r\n";
  for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
    ScriptTransport transport{input, chunk};
    auto out = transport.output();
    pop3::Pop3Server<ScriptTransport, RecordingAuth, pop3::test::TestMailbox<>> server{
        std::move(transport), RecordingAuth{}, pop3::test::TestMailbox<>{two_messages()}, {}, {}, {}, capa()};
    BOOST_TEST(!server.serve());
    BOOST_TEST(*out == greeting + "+OK\r\n" + stat_reply + "+OK\r\n", "chunk " << chunk);
  }
}

BOOST_AUTO_TEST_CASE(a_refused_auth_is_the_one_attempt) {
  const std::string wrong = b64(plain_message("", "alice", "wrong"));
  const std::string right = b64(plain_message("", "alice", "secret"));
  auto r = plain("AUTH PLAIN " + wrong + "\r\nAUTH PLAIN " + right + "\r\nUSER alice\r\nPASS secret\r\n", capa());
  BOOST_TEST(r.plain == greeting + "-ERR [AUTH] Authentication failed\r\n");
  BOOST_TEST(r.passwords.size() == 1u);
  // The same for PASS.
  r = plain("USER alice\r\nPASS wrong\r\nAUTH PLAIN " + right + "\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+OK\r\n-ERR [AUTH] Authentication failed\r\n");
  BOOST_TEST(r.passwords.size() == 1u);
}

BOOST_AUTO_TEST_CASE(malformed_responses_are_no_attempt) {
  const std::vector<std::string> bad = {
      "=",                                                      // empty: no NULs
      "",                                                       // empty after "+ " (below)
      b64("alice\0secret"),                                     // one NUL
      b64(plain_message("", "alice", "secret") + '\0'),         // three
      b64(plain_message("", "", "secret")),                     // no user
      b64(plain_message("", "alice", "")),                      // no password
      b64(plain_message("bob", "alice", "secret")),             // authzid not the user
      b64(plain_message("", "al ice", "secret")),               // not a name USER could give
      b64(plain_message("", std::string(41, 'a'), "secret")),   // longer than an argument
      b64(plain_message("", "alice", std::string(250, 'p'))),   // more than the handoff carries
      "AGFsaWNlAHNlY3JldA",                                     // padding missing
      "AGFsaWNlAHNlY3JldA=",                                    // padding short
      "AGFsaWNlAHNlY3JldB==",                                   // bits under the padding
      "AGFsaWNl=AHNlY3JldA==",                                  // "=" inside
      "AGFsaWNlAHNlY3JldA==AAAA",                               // data after the padding
      "AGFsaWNl AHNlY3JldA==",                                  // a space
      "AGFsaWNl!AHNlY3JldA==",                                  // outside the alphabet
      "*x",                                                     // not a cancel
  };
  for (const auto& response : bad) {
    // After "+ ", then as an initial response (where "" is no initial response at all).
    auto r = plain("AUTH PLAIN\r\n" + response + "\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n", capa());
    BOOST_TEST(r.plain == greeting + "+ \r\n-ERR\r\n+OK\r\n+OK\r\n+OK\r\n", "response " << response);
    BOOST_TEST((r.passwords == std::vector<std::string>{"secret"}), "response " << response);
    if (response.empty() || response.find(' ') != std::string::npos) continue;
    r = plain("AUTH PLAIN " + response + "\r\nQUIT\r\n", capa());
    BOOST_TEST(r.plain == greeting + "-ERR\r\n+OK\r\n", "response " << response);
    BOOST_TEST(r.passwords.empty());
  }
  // "*" cancels: -ERR, and the session is still in AUTHORIZATION.
  const auto r = plain("AUTH PLAIN\r\n*\r\nAUTH PLAIN *\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+ \r\n-ERR\r\n-ERR\r\n+OK\r\n+OK\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(sasl_responses_longer_than_a_command_line) {
  // A 250-byte password: its response is 340 characters, more than RFC 2449's 255 octets.
  const std::string password(250, 'p');
  const std::string response = b64(plain_message("", "a", password));
  BOOST_TEST(response.size() > 255u);
  auto r = plain("AUTH PLAIN\r\n" + response + "\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+ \r\n+OK\r\n+OK\r\n");
  BOOST_TEST((r.passwords == std::vector<std::string>{password}));
  r = plain("AUTH PLAIN " + response + "\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+OK\r\n+OK\r\n");
  // The longest response the bound allows: auth_buffer + max_arg bytes, authzid = user.
  const pop3::Limits limits;
  const std::string user(40, 'u');
  const std::string longest = plain_message(user, user, std::string(limits.auth_buffer - user.size() - 2, 'p'));
  BOOST_TEST(b64(longest).size() <= pop3::base64_length(limits.auth_buffer + limits.max_arg));
  r = plain("AUTH PLAIN\r\n" + b64(longest) + "\r\nQUIT\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+ \r\n-ERR [AUTH] Authentication failed\r\n");  // the fake knows no "uuu..."
  BOOST_TEST(r.passwords.size() == 1u);
  // Longer is refused whole, never cut into something that decodes.
  const std::string too_long = b64(longest + "ppp");
  for (const std::string& line : {"AUTH PLAIN\r\n" + too_long, "AUTH PLAIN " + too_long,
                                  "AUTH PLAIN\r\n" + too_long + std::string(5000, 'A')}) {
    r = plain(line + "\r\nQUIT\r\n", capa());
    BOOST_TEST(r.passwords.empty());
    BOOST_TEST(r.plain.substr(r.plain.size() - 11) == "-ERR\r\n+OK\r\n");
  }
}

BOOST_AUTO_TEST_CASE(a_hang_up_during_auth_is_no_attempt) {
  const auto r = plain("AUTH PLAIN\r\n", capa());
  BOOST_TEST(r.plain == greeting + "+ \r\n");
  BOOST_TEST((r.ec == errc::eof));
  BOOST_TEST(r.passwords.empty());
}

BOOST_AUTO_TEST_CASE(response_codes) {
  // [AUTH]: refused logins.
  BOOST_TEST(plain("USER bob\r\nPASS x\r\n", capa()).plain == greeting + "+OK\r\n-ERR [AUTH] Authentication failed\r\n");
  // [SYS/TEMP]: the account database, the mailbox, the update.
  RecordingAuth down;
  down.backend_down = true;
  BOOST_TEST(plain("USER alice\r\nPASS secret\r\n", capa(), two_messages(), down).plain ==
             greeting + "+OK\r\n-ERR [SYS/TEMP] Temporary server failure\r\n");
  auto state = two_messages();
  state->open_error = make_error_code(errc::mailbox_io);
  BOOST_TEST(plain("USER alice\r\nPASS secret\r\n", capa(), state).plain ==
             greeting + "+OK\r\n-ERR [SYS/TEMP] Temporary server failure\r\n");
  state = two_messages();
  state->commit_error = make_error_code(errc::mailbox_io);
  BOOST_TEST(plain("USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n", capa(), state).plain ==
             greeting + "+OK\r\n+OK\r\n+OK\r\n-ERR [SYS/TEMP] Temporary server failure\r\n");
  // [SYS/PERM]: a mailbox over the limits (or not a mailbox).
  state = two_messages();
  state->open_error = make_error_code(errc::mailbox_refused);
  BOOST_TEST(plain("USER alice\r\nPASS secret\r\n", capa(), state).plain ==
             greeting + "+OK\r\n-ERR [SYS/PERM] Mailbox refused\r\n");
  // Bad commands stay bare.
  BOOST_TEST(plain("XTND\r\nQUIT\r\n", capa()).plain == greeting + "-ERR\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(command_lines_of_255_octets_with_the_extensions) {
  // A PASS line longer than either limit: its password is what the line buffer kept.
  const std::string line = "PASS " + std::string(300, 'p') + "\r\n";
  auto r = plain("USER a\r\n" + line, capa());
  BOOST_TEST((r.passwords == std::vector<std::string>{std::string(250, 'p')}));  // 255 octets kept
  r = plain("USER a\r\n" + line, {});
  BOOST_TEST((r.passwords == std::vector<std::string>{std::string(122, 'p')}));  // popa3d's 127
  // 255 octets with CRLF: the whole line.
  r = plain("USER a\r\nPASS " + std::string(248, 'p') + "\r\n", capa());
  BOOST_TEST((r.passwords == std::vector<std::string>{std::string(248, 'p')}));
}
