// Compile-only checks: the shipped models satisfy their concepts, and things that are not
// policies do not (a failure here reads as one static_assert, not a page of errors).
#include <type_traits>

#include "pop3/popa3d.hpp"

namespace {

struct NoWrite {
  std::size_t read_some(std::span<char>, std::error_code&) { return 0; }
};
// A transport that can start TLS, and one whose tls_active() is not const.
struct StartsTls {
  std::size_t read_some(std::span<char>, std::error_code&) { return 0; }
  void write(std::span<const char>, std::error_code&) {}
  void start_tls(std::string_view, std::error_code&) {}
  bool tls_active() const { return false; }
};
struct TlsActiveNotConst {
  std::size_t read_some(std::span<char>, std::error_code&) { return 0; }
  void write(std::span<const char>, std::error_code&) {}
  void start_tls(std::string_view, std::error_code&) {}
  bool tls_active() { return false; }
};
struct WrongAuthResult {
  bool authenticate(std::string_view, std::string_view, std::error_code&) { return false; }
};
struct NoFinal {
  using value_type = std::array<std::uint8_t, 4>;
  void update(std::string_view) {}
};
// A mailbox that keeps its own deletion marks, as MailboxPolicy asked before: the engine keeps
// them now, and commit() must take the set.
struct MarksItself {
  void open(std::string_view, std::error_code&) {}
  std::uint32_t count() const { return 0; }
  std::uint64_t size(pop3::MsgIndex) const { return 0; }
  pop3::UniqueId unique_id(pop3::MsgIndex) const { return {}; }
  void verify(std::error_code&) {}
  std::span<const char> data(pop3::MsgIndex, std::uint64_t, std::error_code&) { return {}; }
  void mark_deleted(pop3::MsgIndex) {}
  void commit(std::error_code&) {}
};

}  // namespace

static_assert(pop3::TransportPolicy<pop3::FdTransport>);
static_assert(pop3::AuthPolicy<pop3::CryptAuth>);
static_assert(pop3::DigestPolicy<pop3::Md5>);
static_assert(pop3::MailboxPolicy<pop3::MboxMailbox<pop3::Md5>>);
static_assert(pop3::MailboxPolicy<pop3::MboxMailbox<>>);  // MD5 unless told otherwise

static_assert(!pop3::TransportPolicy<int>);
static_assert(!pop3::TransportPolicy<NoWrite>);
static_assert(pop3::TlsTransport<StartsTls>);
static_assert(!pop3::TlsTransport<pop3::FdTransport>);  // plain: STLS is never offered over it
static_assert(!pop3::TlsTransport<TlsActiveNotConst>);
static_assert(!pop3::AuthPolicy<WrongAuthResult>);
static_assert(!pop3::DigestPolicy<NoFinal>);
static_assert(!pop3::MailboxPolicy<int>);
static_assert(!pop3::MailboxPolicy<pop3::Md5>);
static_assert(!pop3::MailboxPolicy<MarksItself>);

// The alias names a complete, usable server type, with popa3d's policies.
static_assert(sizeof(pop3::Popa3d) > 0);
static_assert(std::is_same_v<pop3::Popa3d, pop3::Pop3Server<pop3::FdTransport, pop3::CryptAuth, pop3::MboxMailbox<pop3::Md5>>>);
