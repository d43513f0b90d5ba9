// pop3/features.hpp: the protocol extensions a server offers beyond popa3d 1.0.3's commands,
// what a session has done so far, and the one predicate that decides from both whether a
// capability works now: CAPA lists exactly what the command tables' gates accept.
//
// All off by default, which is popa3d's behaviour byte for byte (CAPA, STLS and AUTH are
// "-ERR"). The daemon sets them from --capa and its TLS options.
//
//   pop3::Features features;
//   features.extensions = true;   // CAPA, AUTH PLAIN, response codes, 255-octet lines
//   pop3::Pop3Server<T, A, M> server{t, a, m, {}, log, locator, features};
#pragma once

#include <cstdint>
#include <string>

namespace pop3 {

struct Features {
  // RFC 2449 CAPA, RESP-CODES (RFC 2449 s.8, RFC 3206), AUTH with SASL PLAIN (RFC 5034,
  // RFC 4616) and command lines of 255 octets (RFC 2449 s.4): --capa, or any TLS option.
  bool extensions = false;
  // TLS is configured: STLS (RFC 2595) is offered while TLS is not active, if the Transport
  // can start it (TlsTransport).
  bool stls = false;
  // USER, PASS and AUTH are refused with "-ERR [AUTH] ..." until TLS is active.
  bool require_tls = false;
  // The IMPLEMENTATION capability's argument (RFC 2449 s.6.9); listed when it is printable
  // ASCII and not empty.
  std::string implementation;
};

// What the session has done so far and what it was configured with, as the gates and CAPA see
// it (as OpenSMTPD's ADVERTISE_* flags serve both EHLO and the checks).
struct SessionFacts {
  bool user_given = false;    // a USER was accepted
  bool transaction = false;   // TRANSACTION state (else AUTHORIZATION)
  bool extensions = false;    // Features::extensions
  bool stls = false;          // Features::stls, and the transport can start TLS
  bool require_tls = false;   // Features::require_tls
  bool tls_active = false;    // the transport carries TLS (after STLS, or implicit TLS)
};

[[nodiscard]] constexpr SessionFacts session_facts(const Features& features, bool tls_capable, bool tls_active,
                                                   bool transaction, bool user_given) noexcept {
  return {user_given, transaction, features.extensions, features.stls && tls_capable, features.require_tls,
          tls_active};
}

// USER, PASS and AUTH may carry a password now: not before TLS under require_tls.
[[nodiscard]] constexpr bool plaintext_login_allowed(const SessionFacts& facts) noexcept {
  return !facts.require_tls || facts.tls_active;
}

// The capabilities of RFC 2449 s.6 this server can have, in the order CAPA lists them.
enum class Capability : std::uint8_t {
  top,             // TOP: TRANSACTION, popa3d's
  uidl,            // UIDL: TRANSACTION, popa3d's
  user,            // USER and PASS
  resp_codes,      // RFC 2449 s.8: [SYS/TEMP], [SYS/PERM]
  auth_resp_code,  // RFC 3206: [AUTH] on a refused login
  pipelining,      // RFC 2449 s.6.6: replies are batched, commands read ahead
  sasl,            // RFC 5034: AUTH, mechanism PLAIN (RFC 4616)
  stls,            // RFC 2595
  implementation,  // RFC 2449 s.6.9: Features::implementation (listed when not empty)
};

// Whether `capability` works at this moment. The gates (session/command_table.hpp) ask this
// for their rows, and CAPA (protocol/capa.hpp) lists what it says, so the two cannot disagree.
[[nodiscard]] constexpr bool capability_enabled(Capability capability, const SessionFacts& facts) noexcept {
  switch (capability) {
    case Capability::top:
    case Capability::uidl: return true;
    case Capability::user: return !facts.transaction && plaintext_login_allowed(facts);
    case Capability::resp_codes:
    case Capability::pipelining:
    case Capability::implementation: return facts.extensions;
    case Capability::auth_resp_code: return facts.extensions && !facts.transaction;
    case Capability::sasl: return facts.extensions && !facts.transaction && plaintext_login_allowed(facts);
    case Capability::stls: return facts.stls && !facts.tls_active && !facts.transaction;
  }
  return false;
}

}  // namespace pop3
