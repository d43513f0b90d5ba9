// A whole session over the in-memory policies (test/support): the client bytes and the
// messages come from the fuzzer. The same session is run twice, once with the client bytes
// and the message data cut into fuzzer-chosen pieces and once whole, and must write the same
// bytes and commit the same deletions (the engine is sans-I/O: how input arrives changes
// nothing on the wire). Replies are well formed, memory stays bounded, and deletions reach
// the mailbox only through a QUIT whose +OK was the last thing written. Some messages may be
// gone (errc::message_gone, as from a Maildir another client emptied). A mode byte turns on
// the extensions (CAPA, AUTH PLAIN, response codes, 255-octet lines) and STLS over a
// transport that fakes the upgrade: the client bytes after the first "\x02" are what arrives
// once TLS is on, and whatever the client sent in the clear after STLS must change nothing.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "support/test_server.hpp"

namespace {

using pop3::test::FakeTlsTransport;
using pop3::test::FixedAuth;
using pop3::test::MemoryMailboxState;
using pop3::test::ScriptTransport;
using pop3::test::TestServer;
using Mailbox = pop3::test::TestMailbox<pop3::test::FnvDigest>;

struct Run {
  std::string output;
  bool committed = false;
  std::vector<std::size_t> deletions;
};

Run run(std::string_view client, const std::vector<std::string>& messages, std::size_t read_chunk,
        std::size_t data_chunk, unsigned gone, const pop3::Features& features) {
  auto state = std::make_shared<MemoryMailboxState>();
  state->messages = messages;
  state->chunk = data_chunk;
  for (std::size_t i = 0; i < 7; ++i)
    if ((gone >> i) & 1) state->gone.push_back(i);
  if (features.stls) {
    const std::size_t marker = std::min(client.find('\x02'), client.size());
    const std::string_view after = marker < client.size() ? client.substr(marker + 1) : std::string_view{};
    FakeTlsTransport transport{std::string(client.substr(0, marker)), std::string(after), read_chunk};
    auto tls = transport.state();
    pop3::Pop3Server<FakeTlsTransport, FixedAuth, Mailbox> server{
        std::move(transport), FixedAuth{}, Mailbox{state}, {}, {}, {}, features};
    (void)server.serve();
    return {tls->plain_written + tls->tls_written, state->committed, state->committed_deletions};
  }
  ScriptTransport transport{std::string(client), read_chunk};
  auto out = transport.output();
  TestServer server{std::move(transport), FixedAuth{}, Mailbox{state}, {}, {}, {}, features};
  (void)server.serve();
  return {*out, state->committed, state->committed_deletions};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pop3::fuzz::FuzzInput input{data, size};
  const std::size_t read_chunk = input.size_in(64);
  const std::size_t data_chunk = input.size_in(64);
  const unsigned flags = input.byte();
  const bool login = flags & 1;
  const unsigned gone = flags >> 1;  // messages 1..7 that data() reports gone
  const unsigned mode = input.byte();
  pop3::Features features;
  features.extensions = (mode & 1) != 0;
  features.stls = (mode & 2) != 0;
  features.require_tls = (mode & 4) != 0;
  features.implementation = (mode & 8) != 0 ? "fuzz 1" : "";
  // The login: USER and PASS, or with the extensions AUTH PLAIN ("\0alice\0secret").
  const std::string login_lines =
      features.extensions && (mode & 16) != 0 ? "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" : "USER alice\r\nPASS secret\r\n";
  // The rest: messages up to the first "\n\n\n\n" (separated by "\x01"), then the client bytes.
  const std::string_view rest = input.rest();
  const std::size_t cut = rest.find("\n\n\n\n");
  const std::string_view box = cut == std::string_view::npos ? std::string_view{} : rest.substr(0, cut);
  std::string client = login ? login_lines : "";
  client += cut == std::string_view::npos ? rest : rest.substr(cut + 4);
  std::vector<std::string> messages;
  for (std::size_t pos = 0; pos < box.size() && messages.size() < 20;) {
    const std::size_t end = std::min(box.find('\x01', pos), box.size());
    messages.emplace_back(box.substr(pos, end - pos));
    pos = end + 1;
  }

  const Run cut_up = run(client, messages, read_chunk, data_chunk, gone, features);
  const Run whole = run(client, messages, client.size() + 1, 1 << 20, gone, features);
  POP3_FUZZ_CHECK(cut_up.output == whole.output);
  POP3_FUZZ_CHECK(cut_up.committed == whole.committed);
  POP3_FUZZ_CHECK(cut_up.deletions == whole.deletions);

  const std::string& out = whole.output;
  POP3_FUZZ_CHECK(out.compare(0, 5, "+OK\r\n") == 0);
  POP3_FUZZ_CHECK(out.back() == '\n');
  // Each client line gets at most one reply line plus message text; the text is bounded by
  // the messages (doubled at worst by CR LF and dot-stuffing, per RETR or TOP).
  std::size_t text = 0;
  for (const std::string& m : messages) text += 2 * m.size() + 64;
  POP3_FUZZ_CHECK(out.size() <= 64 + client.size() * (64 + text));
  if (whole.committed) POP3_FUZZ_CHECK(out.size() >= 5 && out.compare(out.size() - 5, 5, "+OK\r\n") == 0);
  return 0;
}
