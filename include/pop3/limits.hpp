// pop3/limits.hpp: every bound and leniency of a session in one value.
//
// The defaults are popa3d 1.0.3's (params.h); a stricter bound is opt-in.
//
//   pop3::Limits limits;
//   limits.max_bad_commands = 20;   // as Dovecot; popa3d never disconnects
//
// The idle timeout is the transport's (FdTransport::default_idle_timeout): the engine never
// waits for the client itself.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pop3 {

struct Limits {
  // popa3d POP_BUFFER_SIZE: a line keeps its first line_buffer - 1 bytes; the rest is discarded.
  std::size_t line_buffer = 128;
  // RFC 2449 s.4: with the extensions on (Features::extensions) a command line may be 255
  // octets, CRLF included; this replaces line_buffer then. An AUTH line and a SASL response
  // may be longer: the base64 of auth_buffer + max_arg bytes (session/authorization.hpp).
  std::size_t extended_line_buffer = 256;
  // RFC 1939 s.3: "Each argument may be up to 40 characters long".
  std::size_t max_arg = 40;
  // 0 = never disconnect after bad commands (popa3d); Dovecot uses 20.
  unsigned max_bad_commands = 0;
  // popa3d MAX_MAILBOX_MESSAGES: a larger mailbox is refused at login.
  std::uint32_t max_messages = 2097152;
  // popa3d MAX_MAILBOX_OPEN_BYTES / MAX_MAILBOX_WORK_BYTES.
  std::uint64_t max_mailbox_bytes = 2147483647;
  // popa3d's AUTH_BUFFER_SIZE: user and password with their NULs fit in 256 bytes.
  std::size_t auth_buffer = 256;
};

}  // namespace pop3
