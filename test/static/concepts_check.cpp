// Compile-only checks: the shipped models satisfy their concepts, and things that are not
// policies do not (a failure here reads as one static_assert, not a page of errors).
#include "pop3/pop3.hpp"

namespace {

struct NoWrite {
  std::size_t read_some(std::span<char>, std::error_code&) { return 0; }
};
struct WrongAuthResult {
  bool authenticate(std::string_view, std::string_view, std::error_code&) { return false; }
};
struct NoFinal {
  using value_type = std::array<std::uint8_t, 4>;
  void update(std::string_view) {}
};

}  // namespace

static_assert(pop3::TransportPolicy<pop3::FdTransport>);
static_assert(pop3::AuthPolicy<pop3::CryptAuth>);
static_assert(pop3::DigestPolicy<pop3::Md5>);
static_assert(pop3::MailboxPolicy<pop3::MboxMailbox<pop3::Md5>>);

static_assert(!pop3::TransportPolicy<int>);
static_assert(!pop3::TransportPolicy<NoWrite>);
static_assert(!pop3::AuthPolicy<WrongAuthResult>);
static_assert(!pop3::DigestPolicy<NoFinal>);
static_assert(!pop3::MailboxPolicy<int>);
static_assert(!pop3::MailboxPolicy<pop3::Md5>);

// The alias names a complete, usable server type.
static_assert(sizeof(pop3::Popa3d) > 0);
