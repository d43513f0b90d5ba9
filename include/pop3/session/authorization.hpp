// pop3/session/authorization.hpp: the AUTHORIZATION state (RFC 1939 s.4) as a session of its
// own: the greeting, then USER, PASS and QUIT until a PASS arrives; with Features, also CAPA,
// STLS (RFC 2595) and AUTH PLAIN (RFC 5034, RFC 4616), which ends the state as PASS does.
//
// Runs where no privilege is held (popa3d's pre-auth child) and knows no Auth policy: it
// returns the credentials, and the bytes read after PASS (or AUTH), for whoever checks them.
//
//   pop3::AuthorizationSession<MyTransport> session{transport, limits, log};
//   std::optional<pop3::Credentials> c = session.run(read_ahead, ec);   // ec {} after QUIT
//   // c->user, c->password, c->pending (pipelined commands after PASS)
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/detail/secure_zero.hpp"
#include "pop3/error.hpp"
#include "pop3/features.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/protocol/capa.hpp"
#include "pop3/protocol/command.hpp"
#include "pop3/protocol/reply.hpp"
#include "pop3/protocol/sasl.hpp"
#include "pop3/session/command_table.hpp"
#include "pop3/session/io.hpp"
#include "pop3/session/outcome.hpp"

namespace pop3 {

template <TransportPolicy Transport>
class AuthorizationSession {
  static Outcome on_user(AuthorizationSession& s, const Arguments& args) {
    s.user_.emplace(args.text);
    return Outcome::ok();
  }
  // No reply yet: it comes once the password was checked (transact() or refuse_login()).
  static Outcome on_pass(AuthorizationSession& s, const Arguments& args) {
    if (!s.fits_auth_buffer(*s.user_, args.text)) return Outcome::bad_command();
    return s.hand_over(*s.user_, args.text);
  }
  static Outcome on_quit(AuthorizationSession&, const Arguments&) { return Outcome::end(Outcome::Status::ok); }
  static Outcome on_capa(AuthorizationSession& s, const Arguments&) {
    s.text_ = Text::capabilities;
    return Outcome::ok_text();
  }
  static Outcome on_stls(AuthorizationSession&, const Arguments&) { return Outcome::ok_start_tls(); }
  static Outcome on_auth(AuthorizationSession& s, const Arguments& args) {
    if (args.text.empty()) {
      s.text_ = Text::mechanisms;
      return Outcome::ok_text();
    }
    if (!verb_is(args.text, sasl_mechanisms)) return Outcome::bad_command();
    return s.auth_plain(args.initial_response);
  }

 public:
  // popa3d 1.0.3's AUTHORIZATION commands (no APOP: popa3d builds without it by default), and
  // the extensions, each behind the gate that CAPA lists it from.
  static constexpr std::array<Command<AuthorizationSession>, 6> commands{{
      {"USER", ArgShape::word, Gate::before_user, &on_user},
      {"PASS", ArgShape::rest, Gate::after_user, &on_pass},
      {"QUIT", ArgShape::none, Gate::always, &on_quit},
      {"CAPA", ArgShape::none, Gate::extensions, &on_capa},
      {"STLS", ArgShape::none, Gate::stls, &on_stls},
      {"AUTH", ArgShape::mechanism, Gate::sasl, &on_auth},
  }};

  AuthorizationSession(Transport& transport, const Limits& limits, const LogSink& log, Features features = {})
      : transport_(transport), limits_(limits), log_(log), features_(std::move(features)) {}

  // The greeting, then commands: first from `read_ahead` (what a layer below read past its
  // own data), then from the transport. The credentials once a PASS (or an AUTH PLAIN)
  // arrived, its reply not yet sent, or nullopt when the session ended here: ec = {} after
  // QUIT, errc::eof or errc::timeout when the client went away, errc::tls_failed after STLS.
  [[nodiscard]] std::optional<Credentials> run(std::string_view read_ahead, std::error_code& ec) {
    ec.clear();
    io_.emplace(transport_, limits_, log_, read_ahead, reader_line_buffer(), features_.extensions);
    io_->reply(Outcome::ok(), ec);  // the greeting: no text, no APOP timestamp (spec 3)
    for (;;) {
      auto line = io_->next_line(ec);
      if (!line) break;
      const Outcome outcome = dispatch(commands, *this, command_line(*line), facts(),
                                       {limits_.max_arg, 0, nullptr});
      io_->reply(outcome, ec);
      if (outcome.then == Outcome::Then::text) append_text();
      if (outcome.then == Outcome::Then::start_tls && !start_tls(ec)) break;
      if (outcome.then == Outcome::Then::end) {
        io_->flush_quietly();
        ec = ec_;
        break;
      }
      if (ec) break;
    }
    io_.reset();
    if (credentials_) return std::exchange(credentials_, std::nullopt);
    log_line(log_, LogPriority::info, "Didn't attempt authentication");
    return std::nullopt;
  }

  // After the password was refused (`why`: the Auth policy's code): the one error reply with
  // text, then the end. [SYS/TEMP] when the account database failed, with the extensions.
  void refuse_login(const std::error_code& why = {}) {
    OutputBuffer out;
    const bool temporary = features_.extensions && why == errc::auth_backend;
    append_status(out, Outcome::end(temporary ? Outcome::Status::temp_failure : Outcome::Status::auth_failed),
                  features_.extensions);
    std::error_code ignored;
    transport_.write({out.view().data(), out.size()}, ignored);
  }

 private:
  enum class Text : std::uint8_t { capabilities, mechanisms };

  // Decoded bytes of a PLAIN message at most: user and password as the handoff carries them
  // (Limits::auth_buffer) and an authorization id, which may repeat the user (max_arg).
  [[nodiscard]] std::size_t plain_max() const noexcept { return limits_.auth_buffer + limits_.max_arg; }
  // A SASL response line at most: the base64 of plain_max() bytes.
  [[nodiscard]] std::size_t response_max() const noexcept { return base64_length(plain_max()); }
  // Command lines keep what the line buffer keeps: popa3d's 128, or RFC 2449's 255 octets.
  [[nodiscard]] std::size_t command_keep() const noexcept {
    return (features_.extensions ? std::max(limits_.line_buffer, limits_.extended_line_buffer) : limits_.line_buffer) -
           1;
  }
  // The reader holds one byte more than the longest AUTH line, so a longer one is seen as such
  // (and refused) rather than cut into a shorter response that might decode.
  [[nodiscard]] std::size_t reader_line_buffer() const noexcept {
    if (!features_.extensions) return limits_.line_buffer;
    constexpr std::size_t auth_plain_prefix = sizeof "AUTH PLAIN " - 1;
    return std::min(input_buffer_size, std::max(command_keep(), auth_plain_prefix + response_max() + 1) + 1);
  }
  // A command line as popa3d's buffer keeps it: AUTH lines whole (auth_plain checks them).
  [[nodiscard]] std::string_view command_line(std::string_view line) const noexcept {
    if (verb_is(split_command(line).verb, "AUTH")) return line;
    return line.substr(0, command_keep());
  }

  [[nodiscard]] SessionFacts facts() const noexcept {
    if constexpr (TlsTransport<Transport>) {
      return session_facts(features_, true, transport_.tls_active(), false, user_.has_value());
    } else {
      return session_facts(features_, false, false, false, user_.has_value());
    }
  }

  void append_text() {
    if (text_ == Text::capabilities) {
      append_capabilities(io_->out(), facts(), features_.implementation);
    } else {
      append_mechanisms(io_->out());
    }
  }

  // STLS's +OK is out: every byte the client sent after the STLS line is dropped (it was sent
  // in plaintext and must not run as a command over TLS: RFC 2595 s.4, CVE-2011-0411), USER is
  // forgotten, and the handshake starts. false when the session must end (ec says why).
  bool start_tls(std::error_code& ec) {
    io_->flush(ec);
    if (ec) return false;
    io_->discard_input();
    user_.reset();
    if constexpr (TlsTransport<Transport>) {
      transport_.start_tls({}, ec);
      if (ec) return false;
      return true;
    } else {
      ec = errc::tls_failed;  // not reached: Gate::stls stays closed without a TlsTransport
      return false;
    }
  }

  // AUTH PLAIN with the initial response, or after a "+ " continuation (RFC 5034 s.4). Only a
  // well-formed message is a login attempt; "*", bad base64 and a malformed message are "-ERR"
  // and AUTHORIZATION goes on, as after a PASS with no USER.
  Outcome auth_plain(std::optional<std::string_view> response) {
    if (!response) {
      io_->out().append("+ \r\n");
      response = io_->next_line(ec_);
      if (!response) return Outcome::end(Outcome::Status::none);
    }
    if (response->size() > response_max()) return Outcome::bad_command();
    std::string decoded(plain_max(), '\0');
    const SaslResponse r = decode_sasl_response(*response, {decoded.data(), decoded.size()});
    Outcome outcome = Outcome::bad_command();
    if (r.kind == SaslResponse::Kind::cancel) outcome = Outcome::failed();
    const auto plain =
        r.kind == SaslResponse::Kind::data ? parse_plain({decoded.data(), r.size}) : std::nullopt;
    // The authorization id may only name the user itself; the user is a name USER could give.
    if (plain && (plain->authzid.empty() || plain->authzid == plain->authcid) &&
        plain->authcid.size() <= limits_.max_arg && plain->authcid.find_first_of(" \r\n") == std::string_view::npos &&
        fits_auth_buffer(plain->authcid, plain->password)) {
      outcome = hand_over(plain->authcid, plain->password);
    }
    detail::secure_zero(decoded);
    return outcome;
  }

  // The handoff carries "user\0password\0" in Limits::auth_buffer bytes (posix/handoff.hpp).
  [[nodiscard]] bool fits_auth_buffer(std::string_view user, std::string_view password) const noexcept {
    return user.size() + password.size() + 2 <= limits_.auth_buffer;
  }

  // The credentials of a PASS or an AUTH PLAIN, with the client bytes read after its line.
  Outcome hand_over(std::string_view user, std::string_view password) {
    // The replies so far go out before the password leaves this process.
    io_->flush(ec_);
    if (ec_) return Outcome::end(Outcome::Status::none);
    Credentials credentials;
    credentials.user.assign(user);
    credentials.password.assign(password);
    credentials.pending.assign(io_->pending());
    io_->wipe_consumed();
    credentials_ = std::move(credentials);
    return Outcome::end(Outcome::Status::none);
  }

  Transport& transport_;
  Limits limits_;
  const LogSink& log_;
  Features features_;
  std::optional<SessionIo<Transport>> io_;  // during run()
  std::optional<std::string> user_;
  std::optional<Credentials> credentials_;
  Text text_ = Text::capabilities;  // what an Outcome::ok_text() promised
  std::error_code ec_;  // why a handler ended the phase
};

}  // namespace pop3
