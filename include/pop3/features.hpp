// pop3/features.hpp: the protocol extensions a server offers beyond popa3d 1.0.3's commands.
//
// All off by default, which is popa3d's behaviour byte for byte (CAPA, STLS and AUTH are
// "-ERR"). The daemon sets them from --capa and its TLS options.
//
//   pop3::Features features;
//   features.extensions = true;   // CAPA, AUTH PLAIN, response codes, 255-octet lines
//   pop3::Pop3Server<T, A, M> server{t, a, m, {}, log, locator, features};
#pragma once

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
  // The IMPLEMENTATION capability's argument (RFC 2449 s.6.9); empty: not listed.
  std::string implementation;
};

}  // namespace pop3
