// pop3/session/outcome.hpp: what a command handler decided, and the one place where that
// becomes a status line on the wire.
//
// Handlers never write +OK or -ERR themselves: they return an Outcome, and the session's
// dispatch loop appends it, with the response code (RFC 2449 s.8) when the extensions are on.
//
//   pop3::OutputBuffer out;
//   pop3::append_status(out, pop3::Outcome::ok_numbers(3, 78));   // "+OK 3 78\r\n"
//   pop3::append_status(out, pop3::Outcome::bad_command());       // "-ERR\r\n"
//   pop3::append_status(out, pop3::Outcome::end(pop3::Outcome::Status::auth_failed), true);   // "-ERR [AUTH] ..."
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "pop3/protocol/reply.hpp"

namespace pop3 {

struct Outcome {
  enum class Status : std::uint8_t {
    none,         // no status line: the session ends without one (a mailbox conflict)
    ok,           // "+OK", then the numbers and the word, if any
    bad_command,  // "-ERR": unknown verb, closed gate or bad arguments (Limits::max_bad_commands)
    failed,       // "-ERR": a well-formed command the mailbox could not carry out
    auth_failed,  // popa3d's one reply with text, to a refused PASS (or AUTH); [AUTH]
    tls_required,  // "-ERR": a login command before TLS under Features::require_tls; [AUTH]
    temp_failure,  // "-ERR": the mailbox or the account database failed; [SYS/TEMP]
    perm_failure,  // "-ERR": the mailbox is refused (over the limits, not a mailbox); [SYS/PERM]
  };
  enum class Then : std::uint8_t {
    next,  // read the next command
    text,  // the session writes the multi-line text the handler prepared
    end,   // the phase is over
    start_tls,  // STLS: the status goes out, the input read ahead is dropped, TLS starts
  };

  Status status = Status::ok;
  Then then = Then::next;
  std::uint8_t numbers = 0;  // how many of `number` follow "+OK"
  std::array<std::uint64_t, 2> number{};
  std::string_view word;  // after the numbers (UIDL n: the unique id); owned by the session

  static constexpr Outcome ok() noexcept { return {}; }
  static constexpr Outcome ok_numbers(std::uint64_t a) noexcept { return {Status::ok, Then::next, 1, {a, 0}, {}}; }
  static constexpr Outcome ok_numbers(std::uint64_t a, std::uint64_t b) noexcept {
    return {Status::ok, Then::next, 2, {a, b}, {}};
  }
  static constexpr Outcome ok_word(std::uint64_t a, std::string_view word) noexcept {
    return {Status::ok, Then::next, 1, {a, 0}, word};
  }
  static constexpr Outcome ok_text() noexcept { return {Status::ok, Then::text, 0, {}, {}}; }
  static constexpr Outcome ok_start_tls() noexcept { return {Status::ok, Then::start_tls, 0, {}, {}}; }
  static constexpr Outcome bad_command() noexcept { return {Status::bad_command, Then::next, 0, {}, {}}; }
  static constexpr Outcome failed() noexcept { return {Status::failed, Then::next, 0, {}, {}}; }
  static constexpr Outcome tls_required() noexcept { return {Status::tls_required, Then::next, 0, {}, {}}; }
  static constexpr Outcome end(Status status) noexcept { return {status, Then::end, 0, {}, {}}; }

  friend constexpr bool operator==(const Outcome&, const Outcome&) = default;
};

// popa3d's status lines carry no text (spec 3), except the numbers a command reports.
// `response_codes` (Features::extensions): the failures say why, with RFC 2449 s.8's codes.
inline void append_status(OutputBuffer& out, const Outcome& outcome, bool response_codes = false) {
  switch (outcome.status) {
    case Outcome::Status::none: return;
    case Outcome::Status::bad_command:
    case Outcome::Status::failed: append_err(out); return;
    case Outcome::Status::auth_failed:
      if (!response_codes) return append(out, auth_failed_reply);
      return append_err(out, ResponseCode::auth, "Authentication failed");
    case Outcome::Status::tls_required:
      if (!response_codes) return append_err(out);
      return append_err(out, ResponseCode::auth, "TLS required");
    case Outcome::Status::temp_failure:
      if (!response_codes) return append_err(out);
      return append_err(out, ResponseCode::sys_temp, "Temporary server failure");
    case Outcome::Status::perm_failure:
      if (!response_codes) return append_err(out);
      return append_err(out, ResponseCode::sys_perm, "Mailbox refused");
    case Outcome::Status::ok: break;
  }
  if (outcome.numbers == 0 && outcome.word.empty()) return append_ok(out);
  out.append("+OK");
  for (std::uint8_t k = 0; k < outcome.numbers; ++k) {
    out.append(" ");
    append_number(out, outcome.number[k]);
  }
  if (!outcome.word.empty()) {
    out.append(" ");
    out.append(outcome.word);
  }
  out.append("\r\n");
}

}  // namespace pop3
