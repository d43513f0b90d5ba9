// pop3/error.hpp: why a session ended, as std::error_code values.
//
// A `-ERR` reply is an ordinary reply, never an error. An error_code in the
// pop3 category says why a session (or one policy operation) ended, the way
// popa3d's POP_CRASH_* codes do.
//
//   std::error_code ec = server.serve();
//   if (ec == pop3::errc::eof) log("Premature disconnect");
#pragma once

#include <string>
#include <system_error>

namespace pop3 {

enum class errc {
  eof = 1,                // the client closed its side (or a read failed)
  timeout,                // no input within the transport's idle timeout
  too_many_bad_commands,  // Limits::max_bad_commands reached (off by default)
  mailbox_changed,        // another program changed the mailbox in a conflicting way
  mailbox_io,             // the mailbox could not be read, locked or updated
  mailbox_refused,        // the mailbox is not loadable (format, limits, not a file)
  auth_failed,            // wrong password, locked or refused account (UID 0, empty password)
  unknown_user,           // no such account (same reply as auth_failed)
  auth_backend,           // the account database could not be consulted
  message_gone,           // the message was removed by another program since the mailbox was
                          // opened (a Maildir file unlinked); RETR or TOP of it gets "-ERR"
  tls_failed,             // the TLS handshake failed (TlsTransport::start_tls): no reply
};

namespace detail {
class ErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pop3"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::eof: return "end of input";
      case errc::timeout: return "idle timeout";
      case errc::too_many_bad_commands: return "too many bad commands";
      case errc::mailbox_changed: return "mailbox changed by another program";
      case errc::mailbox_io: return "mailbox access failed";
      case errc::mailbox_refused: return "mailbox refused";
      case errc::auth_failed: return "authentication failed";
      case errc::unknown_user: return "unknown user";
      case errc::auth_backend: return "authentication backend failure";
      case errc::message_gone: return "message no longer in the mailbox";
      case errc::tls_failed: return "TLS handshake failed";
    }
    return "unknown pop3 error";
  }
};
}  // namespace detail

inline const std::error_category& pop3_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), pop3_category()};
}

}  // namespace pop3

template <>
struct std::is_error_code_enum<pop3::errc> : std::true_type {};
