// examples/memory_server.cpp: a POP3 server for one account whose mail lives in memory.
//
// Pop3Server composed with the library's FdTransport and two policies of this file: an Auth
// that knows one user, and a Mailbox over a vector of messages that DELE and QUIT really
// shrink. Serves one connection at a time on 127.0.0.1 until it is killed.
//
//   memory_server [PORT]          (0 or none: a free port, printed on the first line)
//   curl -u demo:secret pop3://127.0.0.1:PORT/1
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <pop3/pop3.hpp>

namespace {

// AuthPolicy: one fixed account. The mailbox location is left to the engine's locator, whose
// path this Mailbox ignores; the UID only has to be other than 0, which the engine refuses.
struct OneUserAuth {
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    if (user != "demo") ec = pop3::errc::unknown_user;
    else if (password != "secret") ec = pop3::errc::auth_failed;
    else return pop3::Account{"demo", "", 1000, 1000};
    return std::nullopt;
  }
};
static_assert(pop3::AuthPolicy<OneUserAuth>);  // a missing member is reported here, not in the engine

struct Message {
  std::string id;    // the UIDL value: stays with the message whatever is deleted before it
  std::string text;  // LF line ends, as a file would hold it; the engine adds CR and stuffing
};

// MailboxPolicy over messages that outlive the session. The engine keeps the DELE marks and
// hands them to commit() at QUIT; sessions run one after another, so nothing else changes
// the messages while one is open and verify() has nothing to check.
class MemoryMailbox {
 public:
  explicit MemoryMailbox(std::vector<Message>& messages) : messages_(&messages) {}
  void open(std::string_view /*location*/, std::error_code& ec) { ec.clear(); }
  std::uint32_t count() const { return static_cast<std::uint32_t>(messages_->size()); }
  std::uint64_t size(pop3::MsgIndex i) const {  // octets as sent: each LF goes out as CR LF
    const std::string& text = at(i).text;
    return text.size() + static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
  }
  pop3::UniqueId unique_id(pop3::MsgIndex i) const {
    pop3::UniqueId uid;
    uid.length = static_cast<std::uint8_t>(at(i).id.copy(uid.chars.data(), uid.chars.size()));
    return uid;
  }
  void verify(std::error_code& ec) { ec.clear(); }
  std::span<const char> data(pop3::MsgIndex i, std::uint64_t offset, std::error_code& ec) {
    ec.clear();  // all the rest in one chunk; the empty span after it ends the message
    return std::span<const char>(at(i).text).subspan(static_cast<std::size_t>(offset));
  }
  void commit(const pop3::DeletionSet& deletions, std::error_code& ec) {
    ec.clear();
    std::vector<Message> kept;
    for (std::uint32_t i = 0; i < count(); ++i)
      if (!deletions.marked(pop3::MsgIndex{i})) kept.push_back(std::move((*messages_)[i]));
    *messages_ = std::move(kept);
  }

 private:
  const Message& at(pop3::MsgIndex i) const { return (*messages_)[i.value]; }
  std::vector<Message>* messages_;
};
static_assert(pop3::MailboxPolicy<MemoryMailbox>);

int fail(const char* what) {
  std::fprintf(stderr, "memory_server: %s: %s\n", what, std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  const std::string_view arg = argc > 1 ? argv[1] : "0";
  if (auto [end, err] = std::from_chars(arg.data(), arg.data() + arg.size(), port);
      argc > 2 || err != std::errc{} || end != arg.data() + arg.size()) {
    std::fprintf(stderr, "usage: memory_server [PORT]\n");
    return 2;
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 8) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    return fail("listen on 127.0.0.1");
  std::printf("listening on 127.0.0.1:%u\n", ntohs(address.sin_port));
  std::fflush(stdout);

  std::vector<Message> messages{
      {"welcome-1", "From: server@example.org\nSubject: Welcome\n\nServed from memory.\n"},
      {"dots-2", "Subject: Dots\n\n.a line that starts with a dot is stuffed on the wire\n"},
  };
  const pop3::LogSink log = [](pop3::LogPriority, std::string_view line) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  };
  for (;;) {
    const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;  // a connection reset before it was accepted, or a signal
    // The idle timeout is the transport's: 10 minutes, the least RFC 1939 s.3 allows.
    pop3::Pop3Server<pop3::FdTransport, OneUserAuth, MemoryMailbox> server{
        pop3::FdTransport{client, client, pop3::FdTransport::default_idle_timeout}, OneUserAuth{},
        MemoryMailbox{messages}, {}, log};
    const std::error_code why = server.serve();
    std::fprintf(stderr, "session ended: %s\n", why ? why.message().c_str() : "QUIT");
    ::close(client);
  }
}
