// pop3/session/authorization.hpp: the AUTHORIZATION state (RFC 1939 s.4) as a session of its
// own: the greeting, then USER, PASS and QUIT until a PASS arrives.
//
// Runs where no privilege is held (popa3d's pre-auth child) and knows no Auth policy: it
// returns the credentials, and the bytes read after PASS, for whoever checks them.
//
//   pop3::AuthorizationSession<MyTransport> session{transport, limits, log};
//   std::optional<pop3::Credentials> c = session.run(read_ahead, ec);   // ec {} after QUIT
//   // c->user, c->password, c->pending (pipelined commands after PASS)
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/features.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
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
    // USER's +OK goes out before the password leaves this process.
    s.io_->flush(s.ec_);
    if (s.ec_) return Outcome::end(Outcome::Status::none);
    Credentials credentials;
    credentials.user = std::move(*s.user_);
    credentials.password.assign(args.text);
    credentials.pending.assign(s.io_->pending());
    s.io_->wipe_consumed();
    s.credentials_ = std::move(credentials);
    return Outcome::end(Outcome::Status::none);
  }
  static Outcome on_quit(AuthorizationSession&, const Arguments&) { return Outcome::end(Outcome::Status::ok); }

 public:
  // popa3d 1.0.3's AUTHORIZATION commands (no APOP: popa3d builds without it by default).
  static constexpr std::array<Command<AuthorizationSession>, 3> commands{{
      {"USER", ArgShape::word, Gate::before_user, &on_user},
      {"PASS", ArgShape::rest, Gate::after_user, &on_pass},
      {"QUIT", ArgShape::none, Gate::always, &on_quit},
  }};

  AuthorizationSession(Transport& transport, const Limits& limits, const LogSink& log, Features features = {})
      : transport_(transport), limits_(limits), log_(log), features_(std::move(features)) {}

  // The greeting, then commands: first from `read_ahead` (what a layer below read past its
  // own data), then from the transport. The credentials once a PASS arrived (its reply not
  // yet sent), or nullopt when the session ended here: ec = {} after QUIT, errc::eof or
  // errc::timeout when the client went away.
  [[nodiscard]] std::optional<Credentials> run(std::string_view read_ahead, std::error_code& ec) {
    ec.clear();
    io_.emplace(transport_, limits_, log_, read_ahead);
    io_->reply(Outcome::ok(), ec);  // the greeting: no text, no APOP timestamp (spec 3)
    for (;;) {
      auto line = io_->next_line(ec);
      if (!line) break;
      const SessionFacts facts{user_.has_value()};
      const Outcome outcome = dispatch(commands, *this, *line, facts, {limits_.max_arg, 0, nullptr});
      io_->reply(outcome, ec);
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

  // After the password was refused: the one error reply with text, then the end.
  void refuse_login() {
    OutputBuffer out;
    append_status(out, Outcome::end(Outcome::Status::auth_failed));
    std::error_code ignored;
    transport_.write({out.view().data(), out.size()}, ignored);
  }

 private:
  Transport& transport_;
  Limits limits_;
  const LogSink& log_;
  Features features_;
  std::optional<SessionIo<Transport>> io_;  // during run()
  std::optional<std::string> user_;
  std::optional<Credentials> credentials_;
  std::error_code ec_;  // why a handler ended the phase
};

}  // namespace pop3
