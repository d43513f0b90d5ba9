// pop3/session/command_table.hpp and the two states' tables: every verb in every state, every
// gate, every argument shape, and the one place where outcomes become status lines.
#define BOOST_TEST_MODULE command_table
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/session/command_table.hpp"
#include "pop3/session/outcome.hpp"
#include "support/test_server.hpp"

namespace {

using pop3::ArgShape;
using pop3::Gate;
using pop3::Outcome;
using Authorization = pop3::AuthorizationSession<pop3::test::ScriptTransport>;
using Transaction = pop3::TransactionSession<pop3::test::ScriptTransport, pop3::test::TestMailbox<>>;

template <class Table>
std::set<std::string> verbs(const Table& table) {
  std::set<std::string> out;
  for (const auto& row : table) out.emplace(row.verb);
  return out;
}

// Every verb either state knows, and some that neither does (extensions popa3d 1.0.3 lacks).
const std::vector<std::string> all_verbs = {"USER", "PASS", "QUIT", "STAT", "LIST", "UIDL", "RETR", "TOP",
                                            "DELE", "RSET", "NOOP", "LAST", "APOP", "CAPA", "STLS", "AUTH",
                                            "XTND", ""};

// A valid argument string for each verb, so that only the state decides the reply.
std::string with_arguments(const std::string& verb) {
  if (verb == "USER") return "USER alice";
  if (verb == "PASS") return "PASS secret";
  if (verb == "RETR" || verb == "DELE" || verb == "LIST" || verb == "UIDL") return verb + " 1";
  if (verb == "TOP") return "TOP 1 0";
  if (verb == "APOP") return "APOP alice 0123456789abcdef0123456789abcdef";
  if (verb == "AUTH") return "AUTH PLAIN";
  return verb;
}

std::string session(const std::string& input) {
  auto state = std::make_shared<pop3::test::MemoryMailboxState>();
  state->messages = {"Subject: one\n\nbody\n"};
  pop3::test::ScriptTransport transport{input};
  auto out = transport.output();
  pop3::test::TestServer server{std::move(transport), pop3::test::FixedAuth{}, pop3::test::TestMailbox<>{state}};
  (void)server.serve();
  return *out;
}

constexpr bool upper_case(std::string_view verb) {
  for (const char c : verb)
    if (c < 'A' || c > 'Z') return false;
  return !verb.empty();
}
// The handlers are checked at run time (every_row_has_a_handler): GCC's -fsanitize=undefined
// makes a function pointer's comparison with null no constant expression.
template <class Table>
constexpr bool well_formed(const Table& table) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (!upper_case(table[i].verb)) return false;
    for (std::size_t j = i + 1; j < table.size(); ++j)
      if (table[i].verb == table[j].verb) return false;
  }
  return true;
}
static_assert(well_formed(Authorization::commands), "verbs are upper case and unique");
static_assert(well_formed(Transaction::commands), "verbs are upper case and unique");

}  // namespace

BOOST_AUTO_TEST_CASE(every_row_has_a_handler) {
  for (const auto& row : Authorization::commands) BOOST_TEST((row.run != nullptr), row.verb);
  for (const auto& row : Transaction::commands) BOOST_TEST((row.run != nullptr), row.verb);
}

BOOST_AUTO_TEST_CASE(the_tables_are_popa3d_s_commands_and_the_extensions) {
  BOOST_TEST((verbs(Authorization::commands) == std::set<std::string>{"USER", "PASS", "QUIT", "CAPA", "STLS", "AUTH"}));
  BOOST_TEST((verbs(Transaction::commands) == std::set<std::string>{"STAT", "LIST", "UIDL", "RETR", "TOP", "DELE",
                                                                    "RSET", "NOOP", "LAST", "QUIT", "CAPA"}));
  const auto* user = pop3::find_command(Authorization::commands, "user");
  BOOST_REQUIRE(user);
  BOOST_TEST((user->shape == ArgShape::word && user->gate == Gate::before_user));
  const auto* pass = pop3::find_command(Authorization::commands, "Pass");
  BOOST_REQUIRE(pass);
  BOOST_TEST((pass->shape == ArgShape::rest && pass->gate == Gate::after_user));
  BOOST_TEST(!pop3::find_command(Authorization::commands, "USER1"));
  BOOST_TEST(!pop3::find_command(Transaction::commands, "USER"));
  // popa3d's rows are always open in TRANSACTION; CAPA only with the extensions.
  for (const auto& row : Transaction::commands)
    BOOST_TEST((row.gate == (row.verb == "CAPA" ? Gate::extensions : Gate::always)), row.verb);
  BOOST_TEST((pop3::find_command(Authorization::commands, "capa")->gate == Gate::extensions));
  BOOST_TEST((pop3::find_command(Authorization::commands, "stls")->gate == Gate::stls));
  BOOST_TEST((pop3::find_command(Authorization::commands, "auth")->gate == Gate::sasl));
  BOOST_TEST((pop3::find_command(Authorization::commands, "auth")->shape == ArgShape::mechanism));
  BOOST_TEST((pop3::find_command(Transaction::commands, "top")->shape == ArgShape::message_and_count));
  BOOST_TEST((pop3::find_command(Transaction::commands, "LIST")->shape == ArgShape::optional_message));
  BOOST_TEST((pop3::find_command(Transaction::commands, "dele")->shape == ArgShape::message));
}

BOOST_AUTO_TEST_CASE(every_verb_in_authorization) {
  // After the greeting, each verb alone with valid arguments, then QUIT (if it was not QUIT).
  for (const auto& verb : all_verbs) {
    const std::string out = session(with_arguments(verb) + "\r\nQUIT\r\n");
    std::string expected;
    if (verb == "USER") expected = "+OK\r\n+OK\r\n+OK\r\n";
    else if (verb == "QUIT") expected = "+OK\r\n+OK\r\n";
    else expected = "+OK\r\n-ERR\r\n+OK\r\n";  // PASS too: no USER yet
    BOOST_TEST(out == expected, "verb " << verb);
  }
}

BOOST_AUTO_TEST_CASE(every_verb_in_transaction) {
  const std::string login = "USER alice\r\nPASS secret\r\n";
  const std::string ok3 = "+OK\r\n+OK\r\n+OK\r\n";  // greeting, USER, PASS
  for (const auto& verb : all_verbs) {
    const std::string out = session(login + with_arguments(verb) + "\r\nQUIT\r\n");
    std::string reply;
    if (verb == "STAT") reply = "+OK 1 22\r\n";
    else if (verb == "LIST") reply = "+OK 1 22\r\n";
    else if (verb == "RETR") reply = "+OK\r\nSubject: one\r\n\r\nbody\r\n.\r\n";
    else if (verb == "TOP") reply = "+OK\r\nSubject: one\r\n\r\n.\r\n";
    else if (verb == "DELE" || verb == "RSET" || verb == "NOOP") reply = "+OK\r\n";
    else if (verb == "LAST") reply = "+OK 0\r\n";
    else if (verb == "QUIT") reply = "";
    else reply = "-ERR\r\n";  // USER, PASS, APOP, the extensions, the empty verb
    if (verb == "UIDL") {  // the unique id is the fake's digest: "+OK 1 <16 hex digits>"
      BOOST_TEST(out.size() == ok3.size() + 6 + 16 + 2 + 5);
      BOOST_TEST(out.rfind(ok3 + "+OK 1 ", 0) == 0, "verb " << verb);
      continue;
    }
    BOOST_TEST(out == ok3 + reply + "+OK\r\n", "verb " << verb);
  }
}

BOOST_AUTO_TEST_CASE(every_gate) {
  BOOST_TEST(pop3::gate_open(Gate::always, {false}));
  BOOST_TEST(pop3::gate_open(Gate::always, {true}));
  BOOST_TEST(pop3::gate_open(Gate::before_user, {false}));
  BOOST_TEST(!pop3::gate_open(Gate::before_user, {true}));
  BOOST_TEST(!pop3::gate_open(Gate::after_user, {false}));
  BOOST_TEST(pop3::gate_open(Gate::after_user, {true}));
  // The extensions' gates are closed by default (popa3d's "-ERR" for CAPA, STLS, AUTH).
  for (const Gate g : {Gate::extensions, Gate::stls, Gate::sasl}) BOOST_TEST(!pop3::gate_open(g, {}));
  pop3::SessionFacts on;
  on.extensions = on.stls = true;
  for (const Gate g : {Gate::extensions, Gate::stls, Gate::sasl}) BOOST_TEST(pop3::gate_open(g, on));
  on.tls_active = true;  // no STLS under TLS
  BOOST_TEST(!pop3::gate_open(Gate::stls, on));
  BOOST_TEST(pop3::gate_open(Gate::sasl, on));
  // require_tls before TLS: the login gates close with "-ERR [AUTH]", the others stay as they are.
  pop3::SessionFacts plain = on;
  plain.tls_active = false;
  plain.require_tls = true;
  for (const Gate g : {Gate::before_user, Gate::sasl}) {
    BOOST_TEST(!pop3::gate_open(g, plain));
    BOOST_TEST((pop3::gate_refusal(g, plain) == Outcome::tls_required()));
  }
  plain.user_given = true;
  BOOST_TEST((pop3::gate_refusal(Gate::after_user, plain) == Outcome::tls_required()));
  BOOST_TEST(pop3::gate_open(Gate::stls, plain));
  BOOST_TEST((pop3::gate_refusal(Gate::before_user, {true}) == Outcome::bad_command()));
  // Every gate agrees with the capability CAPA lists it by, in every combination of facts.
  for (unsigned bits = 0; bits < 64; ++bits) {
    const pop3::SessionFacts f{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0,
                               (bits & 8) != 0, (bits & 16) != 0, (bits & 32) != 0};
    BOOST_TEST(pop3::gate_open(Gate::stls, f) == pop3::capability_enabled(pop3::Capability::stls, f));
    BOOST_TEST(pop3::gate_open(Gate::sasl, f) == pop3::capability_enabled(pop3::Capability::sasl, f));
    BOOST_TEST((pop3::gate_open(Gate::before_user, f) || pop3::gate_open(Gate::after_user, f)) ==
               pop3::capability_enabled(pop3::Capability::user, f));
  }
  // On the wire: a second USER is closed (and the first name stays), PASS opens after USER,
  // QUIT is open before and after.
  BOOST_TEST(session("USER bob\r\nUSER alice\r\nPASS secret\r\n") ==
             "+OK\r\n+OK\r\n-ERR\r\n-ERR Authentication failed (bad password?)\r\n");
  BOOST_TEST(session("PASS secret\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n") == "+OK\r\n-ERR\r\n+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(session("USER alice\r\nQUIT\r\n") == "+OK\r\n+OK\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(every_argument_shape) {
  pop3::DeletionSet deleted{3};
  deleted.mark(pop3::MsgIndex{1});
  const pop3::ArgumentRules rules{40, 3, &deleted};
  const auto parse = [&](ArgShape shape, std::string_view line) {
    return pop3::parse_arguments(shape, pop3::split_command(line).params, rules);
  };
  BOOST_TEST(parse(ArgShape::none, "STAT").has_value());
  BOOST_TEST(parse(ArgShape::none, "STAT ").has_value());
  BOOST_TEST(!parse(ArgShape::none, "STAT 1"));

  BOOST_TEST(parse(ArgShape::word, "USER alice")->text == "alice");
  BOOST_TEST(parse(ArgShape::word, "USER  ")->text == "");
  BOOST_TEST(!parse(ArgShape::word, "USER"));
  BOOST_TEST(!parse(ArgShape::word, "USER a b"));
  BOOST_TEST(!parse(ArgShape::word, "USER " + std::string(41, 'a')));

  BOOST_TEST(parse(ArgShape::rest, "PASS  two words ")->text == " two words ");
  BOOST_TEST(!parse(ArgShape::rest, "PASS"));
  BOOST_TEST(!parse(ArgShape::rest, "PASS "));

  BOOST_TEST(parse(ArgShape::message, "RETR 3")->message->value == 3u);
  BOOST_TEST(!parse(ArgShape::message, "RETR 2"));  // marked deleted
  BOOST_TEST(!parse(ArgShape::message, "RETR 4"));
  BOOST_TEST(!parse(ArgShape::message, "RETR 0"));
  BOOST_TEST(!parse(ArgShape::message, "RETR"));
  BOOST_TEST(!parse(ArgShape::message, "RETR 1 1"));

  BOOST_TEST(!parse(ArgShape::optional_message, "LIST")->message);
  BOOST_TEST(parse(ArgShape::optional_message, "LIST 1")->message->value == 1u);
  BOOST_TEST(!parse(ArgShape::optional_message, "LIST 2"));
  BOOST_TEST(!parse(ArgShape::optional_message, "LIST 1 x"));

  const auto top = parse(ArgShape::message_and_count, "TOP 3 12");
  BOOST_TEST((top->message->value == 3u && top->count == 12u));
  BOOST_TEST(!parse(ArgShape::message_and_count, "TOP 3"));
  BOOST_TEST(!parse(ArgShape::message_and_count, "TOP 2 1"));
  BOOST_TEST(!parse(ArgShape::message_and_count, "TOP 3 -1"));
  BOOST_TEST(!parse(ArgShape::message_and_count, "TOP 3 1 1"));

  BOOST_TEST(parse(ArgShape::mechanism, "AUTH")->text.empty());
  BOOST_TEST(!parse(ArgShape::mechanism, "AUTH")->initial_response);
  BOOST_TEST(parse(ArgShape::mechanism, "AUTH PLAIN")->text == "PLAIN");
  BOOST_TEST(!parse(ArgShape::mechanism, "AUTH PLAIN ")->initial_response);
  const std::string long_response(300, 'A');  // longer than max_arg: a response has no such limit
  BOOST_TEST(*parse(ArgShape::mechanism, "AUTH PLAIN " + long_response)->initial_response == long_response);
  BOOST_TEST(!parse(ArgShape::mechanism, "AUTH PLAIN a b"));
  BOOST_TEST(!parse(ArgShape::mechanism, "AUTH PLAIN  a"));
  BOOST_TEST(!parse(ArgShape::mechanism, "AUTH " + std::string(41, 'P')));
}

BOOST_AUTO_TEST_CASE(outcomes_become_status_lines_in_one_place) {
  const auto line = [](const Outcome& o) {
    pop3::OutputBuffer out;
    pop3::append_status(out, o);
    return std::string(out.view());
  };
  BOOST_TEST(line(Outcome::ok()) == "+OK\r\n");
  BOOST_TEST(line(Outcome::ok_text()) == "+OK\r\n");
  BOOST_TEST(line(Outcome::ok_numbers(7)) == "+OK 7\r\n");
  BOOST_TEST(line(Outcome::ok_numbers(3, 78)) == "+OK 3 78\r\n");
  BOOST_TEST(line(Outcome::ok_word(2, "abc")) == "+OK 2 abc\r\n");
  BOOST_TEST(line(Outcome::bad_command()) == "-ERR\r\n");
  BOOST_TEST(line(Outcome::failed()) == "-ERR\r\n");
  BOOST_TEST(line(Outcome::end(Outcome::Status::none)) == "");
  BOOST_TEST(line(Outcome::end(Outcome::Status::auth_failed)) == "-ERR Authentication failed (bad password?)\r\n");
  // Without the extensions, every new failure is popa3d's bare "-ERR".
  BOOST_TEST(line(Outcome::tls_required()) == "-ERR\r\n");
  BOOST_TEST(line(Outcome::end(Outcome::Status::temp_failure)) == "-ERR\r\n");
  BOOST_TEST(line(Outcome::end(Outcome::Status::perm_failure)) == "-ERR\r\n");
  BOOST_TEST(line(Outcome::ok_start_tls()) == "+OK\r\n");
  // With them, RFC 2449 s.8's codes (RFC 3206's [AUTH] and [SYS/...]).
  const auto coded = [](const Outcome& o) {
    pop3::OutputBuffer out;
    pop3::append_status(out, o, true);
    return std::string(out.view());
  };
  BOOST_TEST(coded(Outcome::end(Outcome::Status::auth_failed)) == "-ERR [AUTH] Authentication failed\r\n");
  BOOST_TEST(coded(Outcome::tls_required()) == "-ERR [AUTH] TLS required\r\n");
  BOOST_TEST(coded(Outcome::end(Outcome::Status::temp_failure)) == "-ERR [SYS/TEMP] Temporary server failure\r\n");
  BOOST_TEST(coded(Outcome::end(Outcome::Status::perm_failure)) == "-ERR [SYS/PERM] Mailbox refused\r\n");
  BOOST_TEST(coded(Outcome::bad_command()) == "-ERR\r\n");
  BOOST_TEST(coded(Outcome::ok_numbers(3, 78)) == "+OK 3 78\r\n");
}
