// Pop3Server with in-memory policies: every command in every state, and every error path
// of spec/popa3d-behaviour.md that the engine owns.
#define BOOST_TEST_MODULE server
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "support/test_server.hpp"

namespace {

using pop3::errc;
using pop3::test::FixedAuth;
using pop3::test::MemoryMailboxState;
using pop3::test::ScriptTransport;
template <class D>
using Mailbox = pop3::test::TestMailbox<D>;
using Server = pop3::test::TestServer;

std::shared_ptr<MemoryMailboxState> three_messages() {
  auto state = std::make_shared<MemoryMailboxState>();
  state->messages = {"Subject: one\n\nbody 1\n", "Subject: two\n\n.dot\nline2\nline3\n",
                     "no newline at end"};
  return state;
}

struct Session {
  std::string output;
  std::error_code result;
  std::vector<std::string> log;
};

Session run(std::string input, std::shared_ptr<MemoryMailboxState> state = three_messages(),
            std::size_t chunk = 1 << 20, pop3::Limits limits = {}, errc end = errc::eof) {
  ScriptTransport transport{std::move(input), chunk, end};
  auto out = transport.output();
  Session s;
  Server server{std::move(transport), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{state}, limits,
                [&s](pop3::LogPriority, std::string_view m) { s.log.emplace_back(m); }};
  s.result = server.serve();
  s.output = *out;
  return s;
}

const std::string login = "USER alice\r\nPASS secret\r\n";

bool logged(const Session& s, std::string_view line) {
  for (const auto& l : s.log)
    if (l == line) return true;
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(greeting_and_quit) {
  const auto s = run("QUIT\r\n");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n");
  BOOST_TEST(!s.result);
  BOOST_TEST(logged(s, "Didn't attempt authentication"));
}

BOOST_AUTO_TEST_CASE(authorization_refuses_everything_else) {
  const auto s = run(
      "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 1\r\nDELE 1\r\nRSET\r\nNOOP\r\nLAST\r\n"
      "CAPA\r\nAPOP a b\r\nAUTH\r\nSTLS\r\n\r\nQUIT x\r\nPASS secret\r\nUSER\r\nUSER a b\r\n"
      "QUIT\r\n");
  std::string expected = "+OK\r\n";
  for (int i = 0; i < 18; ++i) expected += "-ERR\r\n";
  expected += "+OK\r\n";
  BOOST_TEST(s.output == expected);
}

BOOST_AUTO_TEST_CASE(user_rules) {
  // A second USER is refused and the first name stays in force.
  auto s = run("USER x\r\nUSER alice\r\nPASS secret\r\n");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n-ERR\r\n-ERR Authentication failed (bad password?)\r\n");
  BOOST_TEST(logged(s, "Authentication failed for UNKNOWN USER"));
  // 40 characters are an argument, 41 are not.
  s = run("USER " + std::string(41, 'a') + "\r\nUSER " + std::string(40, 'a') + "\r\nQUIT\r\n");
  BOOST_TEST(s.output == "+OK\r\n-ERR\r\n+OK\r\n+OK\r\n");
  // "USER  " names the empty user; USER with a tab is an unknown command.
  s = run("USER\talice\r\nUSER  \r\nQUIT\r\n");
  BOOST_TEST(s.output == "+OK\r\n-ERR\r\n+OK\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(pass_rules) {
  auto s = run("PASS secret\r\nUSER alice\r\nPASS\r\nPASS \r\nPASS secret\r\nQUIT\r\n");
  BOOST_TEST(s.output == "+OK\r\n-ERR\r\n+OK\r\n-ERR\r\n-ERR\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(!s.result);
  // The whole parameter string is the password, spaces included.
  s = run("USER alice\r\nPASS  secret\r\nSTAT\r\n");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n-ERR Authentication failed (bad password?)\r\n");
  BOOST_TEST(logged(s, "Authentication failed for alice"));
}

BOOST_AUTO_TEST_CASE(wrong_and_unknown_give_the_same_reply) {
  const auto wrong = run("USER alice\r\nPASS nope\r\nSTAT\r\n");
  const auto unknown = run("USER bob\r\nPASS secret\r\nSTAT\r\n");
  BOOST_TEST(wrong.output == unknown.output);
  BOOST_TEST(!wrong.result);
}

BOOST_AUTO_TEST_CASE(transaction_commands) {
  const auto s = run(login +
                     "STAT\r\nLIST\r\nLIST 2\r\nUIDL 3\r\nRETR 2\r\nTOP 1 0\r\nLAST\r\nDELE 1\r\n"
                     "LAST\r\nSTAT\r\nLIST\r\nLIST 1\r\nRETR 1\r\nDELE 1\r\nNOOP\r\nRETR 3\r\n"
                     "RSET\r\nLAST\r\nSTAT\r\nQUIT\r\n");
  const auto uid3 = Mailbox<pop3::test::FnvDigest>{three_messages()}.unique_id(pop3::MsgIndex{2});
  const std::string expected =
      "+OK\r\n+OK\r\n+OK\r\n"
      "+OK 3 78\r\n"
      "+OK\r\n1 24\r\n2 36\r\n3 18\r\n.\r\n"
      "+OK 2 36\r\n" +
      std::string("+OK 3 ") + std::string(uid3.view()) + "\r\n"
      "+OK\r\nSubject: two\r\n\r\n..dot\r\nline2\r\nline3\r\n.\r\n"
      "+OK\r\nSubject: one\r\n\r\n.\r\n"
      "+OK 2\r\n+OK\r\n+OK 2\r\n+OK 2 54\r\n+OK\r\n2 36\r\n3 18\r\n.\r\n-ERR\r\n-ERR\r\n-ERR\r\n"
      "+OK\r\n+OK\r\nno newline at end\r\n.\r\n+OK\r\n+OK 0\r\n+OK 3 78\r\n+OK\r\n";
  BOOST_TEST(s.output == expected);
  BOOST_TEST(!s.result);
  BOOST_TEST(logged(s, "3 messages (78 bytes) loaded"));
  BOOST_TEST(logged(s, "0 (0) deleted, 3 (78) left"));
}

BOOST_AUTO_TEST_CASE(quit_commits_deletions) {
  auto state = three_messages();
  const auto s = run(login + "DELE 2\r\nDELE 3\r\nQUIT\r\nNOOP\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(state->committed);
  BOOST_TEST((state->committed_deletions == std::vector<std::size_t>{1, 2}));
  BOOST_TEST(logged(s, "2 (54) deleted, 1 (24) left"));
}

BOOST_AUTO_TEST_CASE(end_of_input_discards_deletions) {
  auto state = three_messages();
  auto s = run(login + "DELE 1\r\n", state);
  BOOST_TEST(!state->committed);
  BOOST_TEST(s.result == errc::eof);
  BOOST_TEST(logged(s, "Premature disconnect"));
  s = run(login + "DELE 1\r\n", state, 1 << 20, {}, errc::timeout);
  BOOST_TEST(s.result == errc::timeout);
  BOOST_TEST(logged(s, "Connection timed out"));
  // An unterminated QUIT at the end of input still commits (spec 4).
  s = run(login + "DELE 1\r\nQUIT", state);
  BOOST_TEST(state->committed);
  BOOST_TEST(!s.result);
}

BOOST_AUTO_TEST_CASE(arguments_and_numbers) {
  const auto s = run(login +
                     "LIST 0\r\nLIST -1\r\nLIST +1\r\nLIST 01\r\nLIST 4294967297\r\n"
                     "LIST 2147483648\r\nLIST 1x\r\nLIST \t1\r\nLIST 1 \r\nLIST  1\r\nLIST 1  \r\n"
                     "LIST 1 2\r\nLIST 0000000000000000000000000000000000000001\r\n"
                     "LIST 00000000000000000000000000000000000000001\r\nTOP 1 -0\r\nTOP 1 -1\r\n"
                     "TOP 1\r\nTOP 1  0\r\nSTAT \r\nSTAT x\r\nNOOP x\r\nRSET 1\r\nLAST x\r\n"
                     "QUIT x\r\nLIST 4\r\nQUIT\r\n");
  const std::string expected =
      "+OK\r\n+OK\r\n+OK\r\n"
      "-ERR\r\n-ERR\r\n+OK 1 24\r\n+OK 1 24\r\n-ERR\r\n-ERR\r\n-ERR\r\n+OK 1 24\r\n+OK 1 24\r\n"
      "-ERR\r\n-ERR\r\n-ERR\r\n+OK 1 24\r\n-ERR\r\n"
      "+OK\r\nSubject: one\r\n\r\n.\r\n-ERR\r\n-ERR\r\n-ERR\r\n+OK 3 78\r\n-ERR\r\n-ERR\r\n"
      "-ERR\r\n-ERR\r\n-ERR\r\n-ERR\r\n+OK\r\n";
  BOOST_TEST(s.output == expected);
}

BOOST_AUTO_TEST_CASE(line_reading_rules) {
  // NUL anywhere: an empty (unknown) line. Bare CR: an ordinary byte. CR CR LF: one CR stays.
  auto s = run(login + std::string("NO\0OP\r\n", 7) + "NOOP\rNOOP\r\nNOOP\r\r\nNOOP\nQUIT\n");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n-ERR\r\n-ERR\r\n-ERR\r\n+OK\r\n+OK\r\n");
  // An over-long line gets one reply and its tail never runs.
  s = run(login + "NOOP" + std::string(300, 'x') + "\r\nSTAT\r\n" + std::string(126, 'x') +
          "STAT\r\nQUIT\r\n");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n-ERR\r\n+OK 3 78\r\n-ERR\r\n+OK\r\n");
  // 127 bytes are kept: a CR as byte 128 is thrown away with the rest.
  const std::string pass = "PASS secret" + std::string(127 - 11, ' ');
  s = run("USER alice\r\n" + pass + "\r\nQUIT\r\n");
  BOOST_TEST(s.output.substr(0, 10) == "+OK\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(input_cut_at_every_chunk_size) {
  const std::string script = login + "STAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 2 1\r\nDELE 1\r\nQUIT\r\n";
  const auto whole = run(script);
  for (std::size_t chunk = 1; chunk <= script.size(); ++chunk) {
    const auto s = run(script, three_messages(), chunk);
    BOOST_TEST(s.output == whole.output, "chunk " << chunk);
  }
}

BOOST_AUTO_TEST_CASE(mailbox_open_failure) {
  auto state = three_messages();
  state->open_error = make_error_code(errc::mailbox_refused);
  const auto s = run(login + "STAT\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n-ERR\r\n");
  BOOST_TEST(s.result == errc::mailbox_refused);
  BOOST_TEST(logged(s, "Failed or refused to load mem:alice"));
}

BOOST_AUTO_TEST_CASE(mailbox_changed_before_retr_ends_silently) {
  auto state = three_messages();
  state->verify_error = make_error_code(errc::mailbox_changed);
  const auto s = run(login + "STAT\r\nRETR 1\r\nSTAT\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK 3 78\r\n");
  BOOST_TEST(s.result == errc::mailbox_changed);
  BOOST_TEST(logged(s, "Another MUA active, giving up"));
}

BOOST_AUTO_TEST_CASE(mailbox_changed_during_retr_drops_the_dot) {
  auto state = three_messages();
  state->verify_error = make_error_code(errc::mailbox_changed);
  state->verify_error_from = 2;  // the check after the text
  const auto s = run(login + "RETR 1\r\nSTAT\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\nSubject: one\r\n\r\nbody 1\r\n");
  BOOST_TEST(s.result == errc::mailbox_changed);
}

BOOST_AUTO_TEST_CASE(mailbox_io_failure_on_retr) {
  auto state = three_messages();
  state->verify_error = make_error_code(errc::mailbox_io);
  const auto s = run(login + "RETR 1\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(logged(s, "Server failure accessing mem:alice"));
}

BOOST_AUTO_TEST_CASE(file_shrinking_during_retr_ends_the_transfer) {
  auto state = three_messages();
  state->fail_data_at = 14;  // two 7-byte chunks are read, the third fails
  const auto s = run(login + "RETR 2\r\nSTAT\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\nSubject: two\r\n\r\n");
  BOOST_TEST(s.result == errc::mailbox_changed);
  BOOST_TEST(logged(s, "Another MUA active, giving up"));
}

BOOST_AUTO_TEST_CASE(update_failures) {
  auto state = three_messages();
  state->commit_error = make_error_code(errc::mailbox_changed);
  auto s = run(login + "DELE 1\r\nQUIT\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(s.result == errc::mailbox_changed);
  state->commit_error = make_error_code(errc::mailbox_io);
  s = run(login + "DELE 1\r\nQUIT\r\n", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n-ERR\r\n");
  BOOST_TEST(s.result == errc::mailbox_io);
  BOOST_TEST(logged(s, "Failed to update mem:alice"));
}

BOOST_AUTO_TEST_CASE(bad_command_limit_is_off_by_default) {
  std::string many;
  for (int i = 0; i < 100; ++i) many += "XXXX\r\n";
  auto s = run(many + "QUIT\r\n");
  BOOST_TEST(!s.result);
  pop3::Limits strict;
  strict.max_bad_commands = 3;
  s = run(many + "QUIT\r\n", three_messages(), 1 << 20, strict);
  BOOST_TEST(s.result == errc::too_many_bad_commands);
  BOOST_TEST(s.output == "+OK\r\n-ERR\r\n-ERR\r\n-ERR\r\n");
}

BOOST_AUTO_TEST_CASE(phases_in_separate_servers) {
  // The child's server reads the login and more; the parent's continues with the rest.
  const std::string script = login + "STAT\r\nLI";
  ScriptTransport child_io{script};
  auto child_out = child_io.output();
  Server child{std::move(child_io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
  std::error_code ec;
  auto credentials = child.authorize(ec);
  BOOST_REQUIRE(credentials);
  BOOST_TEST(credentials->user == "alice");
  BOOST_TEST(credentials->password == "secret");
  BOOST_TEST(credentials->pending == "STAT\r\nLI");
  BOOST_TEST(*child_out == "+OK\r\n+OK\r\n");

  ScriptTransport parent_io{"ST 1\r\nQUIT\r\n"};
  auto parent_out = parent_io.output();
  Server parent{std::move(parent_io), FixedAuth{},
                Mailbox<pop3::test::FnvDigest>{three_messages()}};
  const auto result = parent.transact(pop3::Account{"alice", "mem:alice", 1, 1}, credentials->pending);
  BOOST_TEST(!result);
  BOOST_TEST(*parent_out == "+OK\r\n+OK 3 78\r\n+OK 1 24\r\n+OK\r\n");
  credentials->wipe();
  BOOST_TEST(credentials->password.empty());
}

BOOST_AUTO_TEST_CASE(write_failure_ends_the_session) {
  ScriptTransport io{login + "STAT\r\nQUIT\r\n"};
  io.fail_write_at(2);
  auto state = three_messages();
  Server server{std::move(io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{state}};
  const auto result = server.serve();
  BOOST_TEST(result == errc::eof);
  BOOST_TEST(!state->committed);
}

BOOST_AUTO_TEST_CASE(replies_before_quit_are_written_before_update) {
  // Pipelined in one read: the greeting goes out in write 1, USER's +OK before PASS returns in
  // write 2, and everything after the login is queued until QUIT. Write 3 fails: the client
  // never got message 1, so it must stay.
  ScriptTransport io{login + "RETR 1\r\nDELE 1\r\nQUIT\r\n"};
  io.fail_write_at(3);
  auto out = io.output();
  auto state = three_messages();
  Session s;
  Server server{std::move(io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{state}, {},
                [&s](pop3::LogPriority, std::string_view m) { s.log.emplace_back(m); }};
  s.result = server.serve();
  BOOST_TEST(s.result == errc::eof);
  BOOST_TEST(!state->committed);
  BOOST_TEST(*out == "+OK\r\n+OK\r\n");
  BOOST_TEST(logged(s, "Premature disconnect"));
}

BOOST_AUTO_TEST_CASE(quit_after_written_replies_commits) {
  // The same script with every write succeeding: the replies, then UPDATE, then QUIT's +OK.
  auto state = three_messages();
  const auto s = run(login + "RETR 1\r\nDELE 1\r\nQUIT\r\n", state);
  BOOST_TEST(s.output ==
             "+OK\r\n+OK\r\n+OK\r\n+OK\r\nSubject: one\r\n\r\nbody 1\r\n.\r\n+OK\r\n+OK\r\n");
  BOOST_TEST((state->committed_deletions == std::vector<std::size_t>{0}));
  BOOST_TEST(!s.result);
}

BOOST_AUTO_TEST_CASE(one_write_per_round_trip_but_before_update) {
  // Pipelined after the login (write 1: the greeting, write 2: USER's +OK at PASS). Without
  // deletions the replies and QUIT's go out in one write; with one, the replies go out before
  // UPDATE and QUIT's +OK after it.
  ScriptTransport io{login + "STAT\r\nNOOP\r\nQUIT\r\n"};
  Server server{std::move(io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
  BOOST_TEST(!server.serve());
  BOOST_TEST(server.transport().writes() == 3u);
  ScriptTransport dele_io{login + "STAT\r\nDELE 1\r\nQUIT\r\n"};
  auto out = dele_io.output();
  Server dele{std::move(dele_io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
  BOOST_TEST(!dele.serve());
  BOOST_TEST(dele.transport().writes() == 4u);
  BOOST_TEST(*out == "+OK\r\n+OK\r\n+OK\r\n+OK 3 78\r\n+OK\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(last_line_without_lf_is_answered_in_every_state) {
  // AUTHORIZATION: an unknown command, a USER, a refused QUIT.
  auto s = run("STAT");
  BOOST_TEST(s.output == "+OK\r\n-ERR\r\n");
  BOOST_TEST(s.result == errc::eof);
  s = run("USER alice");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n");
  s = run("USER alice\r\nQUIT x");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n-ERR\r\n");
  // A PASS: the login is answered once the mailbox is loaded.
  s = run("USER alice\r\nPASS secret");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(s.result == errc::eof);
  BOOST_TEST(logged(s, "Premature disconnect"));
  // TRANSACTION: an unknown command after a DELE (nothing is deleted), a STAT, a RETR.
  auto state = three_messages();
  s = run(login + "DELE 2\r\nQUI", state);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n-ERR\r\n");
  BOOST_TEST(!state->committed);
  BOOST_TEST(s.result == errc::eof);
  s = run(login + "STAT");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK 3 78\r\n");
  s = run(login + "RETR 1");
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\nSubject: one\r\n\r\nbody 1\r\n.\r\n");
  // Cut into one-byte reads, the same bytes.
  s = run(login + "DELE 2\r\nQUI", three_messages(), 1);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n-ERR\r\n");
}

BOOST_AUTO_TEST_CASE(last_line_without_lf_in_separate_servers) {
  // The AUTHORIZATION process answers its last line before it ends.
  ScriptTransport child_io{"USER alice\r\nNOOP"};
  auto child_out = child_io.output();
  Server child{std::move(child_io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
  std::error_code ec;
  BOOST_TEST(!child.authorize(ec));
  BOOST_TEST(ec == errc::eof);
  BOOST_TEST(*child_out == "+OK\r\n+OK\r\n-ERR\r\n");
  // An unterminated PASS hands over no pending bytes; the TRANSACTION process answers it and
  // its own unterminated last line.
  ScriptTransport login_io{"USER alice\r\nPASS secret"};
  Server login_server{std::move(login_io), FixedAuth{},
                      Mailbox<pop3::test::FnvDigest>{three_messages()}};
  const auto credentials = login_server.authorize(ec);
  BOOST_REQUIRE(credentials);
  BOOST_TEST(credentials->password == "secret");
  BOOST_TEST(credentials->pending.empty());
  ScriptTransport parent_io{"NOOP"};
  auto parent_out = parent_io.output();
  Server parent{std::move(parent_io), FixedAuth{},
                Mailbox<pop3::test::FnvDigest>{three_messages()}};
  BOOST_TEST(parent.transact(pop3::Account{"alice", "mem:alice", 1, 1}, "") == errc::eof);
  BOOST_TEST(*parent_out == "+OK\r\n+OK\r\n");
}

BOOST_AUTO_TEST_CASE(last_line_before_a_timeout_is_not_run) {
  // popa3d's alarm leaves the session from inside the read: the partial line is dropped, so a
  // QUIT cut short by the timeout applies nothing and a PASS is never checked.
  auto state = three_messages();
  auto s = run(login + "DELE 1\r\nQUIT", state, 1 << 20, {}, errc::timeout);
  BOOST_TEST(!state->committed);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(s.result == errc::timeout);
  BOOST_TEST(logged(s, "Connection timed out"));
  s = run("USER alice\r\nPASS secret", three_messages(), 1 << 20, {}, errc::timeout);
  BOOST_TEST(s.output == "+OK\r\n+OK\r\n");
  BOOST_TEST(s.result == errc::timeout);
  s = run("STAT", three_messages(), 1 << 20, {}, errc::timeout);
  BOOST_TEST(s.output == "+OK\r\n");
}

BOOST_AUTO_TEST_CASE(a_message_gone_from_the_mailbox_is_an_error_not_the_end) {
  // A store whose messages are files can lose one to another client; RETR and TOP of it get
  // -ERR (not counted as a bad command), everything else goes on.
  auto state = three_messages();
  state->gone = {1};
  pop3::Limits strict;
  strict.max_bad_commands = 1;
  const auto s = run(login + "RETR 2\r\nTOP 2 0\r\nRETR 1\r\nDELE 2\r\nQUIT\r\n", state, 1 << 20, strict);
  BOOST_TEST(s.output ==
             "+OK\r\n+OK\r\n+OK\r\n-ERR\r\n-ERR\r\n+OK\r\nSubject: one\r\n\r\nbody 1\r\n.\r\n+OK\r\n+OK\r\n");
  BOOST_TEST(!s.result);
  BOOST_TEST((state->committed_deletions == std::vector<std::size_t>{1}));
}

BOOST_AUTO_TEST_CASE(serve_takes_read_ahead_from_a_layer_below) {
  // Bytes a PROXY header parser or a TLS handshake read past its own data come first.
  ScriptTransport io{"PASS secret\r\nSTAT\r\nQUIT\r\n"};
  auto out = io.output();
  Server server{std::move(io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
  BOOST_TEST(!server.serve("USER alice\r\n"));
  BOOST_TEST(*out == "+OK\r\n+OK\r\n+OK\r\n+OK 3 78\r\n+OK\r\n");
  // authorize() alone hands on what it did not use, read-ahead included.
  ScriptTransport child_io{""};
  Server child{std::move(child_io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
  std::error_code ec;
  const auto credentials = child.authorize(ec, "USER alice\r\nPASS secret\r\nNOOP\r\nST");
  BOOST_REQUIRE(credentials);
  BOOST_TEST(credentials->pending == "NOOP\r\nST");
}

namespace {
// Accepts alice with any password, as root; and a database that fails for "broken".
struct RootAuth {
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view, std::error_code& ec) {
    if (user == "broken") {
      ec = errc::auth_backend;
      return std::nullopt;
    }
    return pop3::Account{std::string(user), "mem:root", 0, 0};
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(serve_refuses_uid_0_and_logs_as_the_daemon_does) {
  for (const std::string user : {"alice", "broken"}) {
    ScriptTransport io{"USER " + user + "\r\nPASS x\r\nSTAT\r\n"};
    auto out = io.output();
    auto state = three_messages();
    std::vector<std::string> log;
    pop3::Pop3Server<ScriptTransport, RootAuth, Mailbox<pop3::test::FnvDigest>> server{
        std::move(io), RootAuth{}, Mailbox<pop3::test::FnvDigest>{state}, {},
        [&log](pop3::LogPriority, std::string_view m) { log.emplace_back(m); }};
    BOOST_TEST(!server.serve());
    BOOST_TEST(*out == "+OK\r\n+OK\r\n-ERR Authentication failed (bad password?)\r\n");
    BOOST_TEST(state->opened.empty());
    if (user == "alice") {
      BOOST_TEST((log == std::vector<std::string>{"Authentication failed for alice"}));
    } else {
      BOOST_TEST((log == std::vector<std::string>{"Account database not readable while authenticating broken",
                                                  "Authentication failed for UNKNOWN USER"}));
    }
  }
}

BOOST_AUTO_TEST_CASE(serve_waits_the_failure_delay_before_a_refusal) {
  const auto delay = std::chrono::milliseconds{200};
  for (const char* password : {"wrong", "secret"}) {
    ScriptTransport io{std::string("USER alice\r\nPASS ") + password + "\r\nQUIT\r\n"};
    Server server{std::move(io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{three_messages()}};
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(!server.serve({}, delay));
    const auto took = std::chrono::steady_clock::now() - start;
    if (std::string_view(password) == "wrong") BOOST_TEST((took >= delay));
    else BOOST_TEST((took < delay));  // a login that passes never waits
  }
}

BOOST_AUTO_TEST_CASE(the_locator_finds_the_maildrop_of_an_account_that_names_none) {
  auto state = three_messages();
  ScriptTransport io{"QUIT\r\n"};
  pop3::MailboxLocator locator{"/srv/mail"};
  std::vector<std::string> log;
  Server server{std::move(io), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{state}, {},
                [&log](pop3::LogPriority, std::string_view m) { log.emplace_back(m); }, locator};
  BOOST_TEST(!server.transact(pop3::Account{"carol", "", 1, 1}, ""));
  BOOST_TEST(state->opened == "/srv/mail/carol");
  state->open_error = make_error_code(errc::mailbox_io);
  BOOST_TEST(server.transact(pop3::Account{"carol", "", 1, 1}, "") == errc::mailbox_io);
  BOOST_TEST(log.back() == "Failed or refused to load /srv/mail/carol");
}
