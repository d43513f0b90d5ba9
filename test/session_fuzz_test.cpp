// Random client input against the engine: no crash, no hang, well-formed output, and the
// mailbox only ever changed through QUIT. Seeded, so a failure is reproducible.
#define BOOST_TEST_MODULE session_fuzz
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>

#include "support/test_server.hpp"

namespace {

using pop3::test::FixedAuth;
using pop3::test::MemoryMailboxState;
using pop3::test::ScriptTransport;
template <class D>
using Mailbox = pop3::test::TestMailbox<D>;
using Server = pop3::test::TestServer;

// A random line: mostly plausible commands with odd arguments, sometimes raw bytes.
std::string random_line(std::mt19937& rng) {
  static const char* const verbs[] = {"USER", "PASS", "QUIT", "STAT", "LIST", "UIDL", "RETR",
                                      "TOP",  "DELE", "RSET", "NOOP", "LAST", "user", "CAPA", "",
                                      "AUTH", "STLS", "AUTH PLAIN", "AGFsaWNlAHNlY3JldA==", "*", "="};
  static const char* const args[] = {"1", "2", "3", "4", "0", "-1", "+1", "01", "alice", "secret",
                                     "4294967297", "2147483647", "\t1", "-0", "", "x"};
  std::uniform_int_distribution<int> pick(0, 99);
  std::string line;
  if (pick(rng) < 10) {
    std::uniform_int_distribution<int> len(0, 300), byte(0, 255);
    for (int i = len(rng); i > 0; --i) line += static_cast<char>(byte(rng));
  } else {
    line = verbs[pick(rng) % std::size(verbs)];
    for (int n = pick(rng) % 4; n > 0; --n) {
      line += pick(rng) < 5 ? "  " : " ";
      line += args[pick(rng) % std::size(args)];
    }
  }
  const int end = pick(rng);
  line += end < 70 ? "\r\n" : end < 90 ? "\n" : end < 95 ? "\r" : "";
  return line;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_sessions) {
  std::mt19937 rng{20261129};
  std::uniform_int_distribution<int> lines(0, 40), chunk(1, 64), login(0, 3);
  for (int session = 0; session < 3000; ++session) {
    // Every other session with the extensions on (CAPA, AUTH PLAIN, response codes).
    pop3::Features features;
    features.extensions = session % 2 == 1;
    std::string input;
    if (login(rng) != 0) input = "USER alice\r\nPASS secret\r\n";
    for (int i = lines(rng); i > 0; --i) input += random_line(rng);
    auto state = std::make_shared<MemoryMailboxState>();
    state->messages = {"A: 1\n\nbody\n", ".\n..\n", "", "x", "H: y\n\n\n\n"};
    state->chunk = static_cast<std::size_t>(chunk(rng));
    ScriptTransport transport{input, static_cast<std::size_t>(chunk(rng))};
    auto out = transport.output();
    Server server{std::move(transport), FixedAuth{}, Mailbox<pop3::test::FnvDigest>{state}, {}, {}, {}, features};
    (void)server.serve();
    BOOST_TEST_CONTEXT("session " << session) {
      BOOST_TEST(out->substr(0, 5) == "+OK\r\n");
      // Every reply line ends in CR LF.
      BOOST_TEST((out->empty() || out->back() == '\n'));
      BOOST_TEST(out->size() < 64 * 1024u);
      // Deletions reach the mailbox only through a QUIT that was answered.
      if (state->committed) BOOST_TEST(out->find("+OK\r\n", out->size() - 5) != std::string::npos);
    }
  }
}
