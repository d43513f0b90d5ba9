// Builds against the installed headers: composes the engine with its own policies.
#include <pop3/pop3.hpp>

#include <cstdio>
#include <string>

namespace {

struct StdioTransport {
  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), stdin);
    if (n == 0) ec = pop3::errc::eof;
    return n;
  }
  void write(std::span<const char> bytes, std::error_code&) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  }
};

struct NobodyAuth {
  std::optional<pop3::Account> authenticate(std::string_view, std::string_view, std::error_code& ec) {
    ec = pop3::errc::unknown_user;
    return std::nullopt;
  }
};

}  // namespace

int main() {
  pop3::Pop3Server<StdioTransport, NobodyAuth, pop3::MboxMailbox<>> server{StdioTransport{}, NobodyAuth{},
                                                                         pop3::MboxMailbox<>{}};
  return server.serve() == pop3::errc::eof ? 0 : 1;
}
