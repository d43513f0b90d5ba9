// pop3/session/command_table.hpp: a state's commands as a constexpr table, and the dispatch
// that checks a row's gate and parses its arguments before its handler runs.
//
// As popa3d's pop_trans_commands[] and OpenSSH's mon_table: a row is a verb, the shape of its
// arguments, a gate (when the row may run) and a handler. The dispatcher alone enforces the
// gate and the shape, so a handler only ever sees typed arguments.
//
//   constexpr std::array<pop3::Command<S>, 1> table{{{"NOOP", pop3::ArgShape::none, pop3::Gate::always, &on_noop}}};
//   pop3::Outcome o = pop3::dispatch(table, session, "noop", facts, {40, 0, nullptr});
//   pop3::append_status(out, o);   // "+OK\r\n"
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "pop3/features.hpp"
#include "pop3/protocol/command.hpp"
#include "pop3/session/outcome.hpp"
#include "pop3/types.hpp"

namespace pop3 {

// The arguments a command takes, by popa3d's rules (spec section 5). Anything else, surplus
// arguments included, is "-ERR".
enum class ArgShape : std::uint8_t {
  none,               // nothing after the verb ("STAT " is plain STAT)
  word,               // one argument of at most Limits::max_arg characters (USER)
  rest,               // the whole non-empty parameter string, spaces included (PASS, spec 6.2)
  message,            // a message number that exists and is not marked deleted (RETR, DELE)
  optional_message,   // none, or as `message` (LIST, UIDL)
  message_and_count,  // as `message`, then a number (TOP)
  mechanism,          // none, or a SASL mechanism name (max_arg) and an optional initial
                      // response of any length (AUTH, RFC 5034 s.4)
};

// When a row may run: each gate asks capability_enabled() (features.hpp), which CAPA lists
// from too. A closed gate is "-ERR", as an unknown verb is, except that a login command closed
// by Features::require_tls says so ("-ERR [AUTH] ...", gate_refusal).
enum class Gate : std::uint8_t {
  always,
  before_user,  // USER: a second one is refused and the first name stays (spec 6.1)
  after_user,   // PASS: only after a USER
  extensions,   // CAPA: Features::extensions
  stls,         // STLS: Capability::stls
  sasl,         // AUTH: Capability::sasl
};

[[nodiscard]] constexpr bool gate_open(Gate gate, const SessionFacts& facts) noexcept {
  switch (gate) {
    case Gate::always: return true;
    case Gate::before_user: return capability_enabled(Capability::user, facts) && !facts.user_given;
    case Gate::after_user: return capability_enabled(Capability::user, facts) && facts.user_given;
    case Gate::extensions: return facts.extensions;
    case Gate::stls: return capability_enabled(Capability::stls, facts);
    case Gate::sasl: return capability_enabled(Capability::sasl, facts);
  }
  return false;
}

// The reply to a row whose gate is closed.
[[nodiscard]] constexpr Outcome gate_refusal(Gate gate, const SessionFacts& facts) noexcept {
  const bool login = gate == Gate::before_user || gate == Gate::after_user || gate == Gate::sasl;
  if (login && !facts.transaction && !plaintext_login_allowed(facts)) return Outcome::tls_required();
  return Outcome::bad_command();
}

// A row's arguments once parsed; which members are set follows its ArgShape.
struct Arguments {
  std::string_view text;           // word, rest
  std::optional<MsgNumber> message;  // message, optional_message, message_and_count
  std::uint32_t count = 0;         // message_and_count: the number of body lines
  std::optional<std::string_view> initial_response;  // mechanism: after the mechanism name
};

// What argument parsing needs to know of the session.
struct ArgumentRules {
  std::size_t max_arg = 40;               // Limits::max_arg
  std::uint32_t messages = 0;             // message numbers run 1..messages
  const DeletionSet* deleted = nullptr;   // marked messages are not valid arguments
};

namespace detail {
inline std::optional<MsgNumber> message_argument(std::optional<std::string_view>& params,
                                                 const ArgumentRules& rules) noexcept {
  const auto arg = next_argument(params, rules.max_arg);
  if (!arg) return std::nullopt;
  const auto n = parse_msg_number(*arg, rules.messages);
  if (!n || (rules.deleted != nullptr && rules.deleted->marked(MsgIndex{n->value - 1}))) return std::nullopt;
  return n;
}
}  // namespace detail

// The parameters of a command line (CommandLine::params) as `shape` reads them; nullopt if
// they do not fit it.
inline std::optional<Arguments> parse_arguments(ArgShape shape, std::optional<std::string_view> params,
                                                const ArgumentRules& rules) noexcept {
  Arguments args;
  switch (shape) {
    case ArgShape::none: break;
    case ArgShape::word: {
      const auto arg = next_argument(params, rules.max_arg);
      if (!arg) return std::nullopt;
      args.text = *arg;
      break;
    }
    case ArgShape::rest:
      if (!params) return std::nullopt;
      args.text = *params;
      params.reset();
      break;
    case ArgShape::optional_message:
      if (!params) break;
      [[fallthrough]];
    case ArgShape::message:
      args.message = detail::message_argument(params, rules);
      if (!args.message) return std::nullopt;
      break;
    case ArgShape::mechanism: {
      if (!params) break;
      const auto name = next_argument(params, rules.max_arg);
      if (!name) return std::nullopt;
      args.text = *name;
      if (params) {
        args.initial_response = next_argument(params, params->size());
        if (!args.initial_response) return std::nullopt;
      }
      break;
    }
    case ArgShape::message_and_count: {
      args.message = detail::message_argument(params, rules);
      const auto arg = next_argument(params, rules.max_arg);
      const auto count = arg ? parse_number(*arg) : std::nullopt;
      if (!args.message || !count) return std::nullopt;
      args.count = *count;
      break;
    }
  }
  if (params) return std::nullopt;
  return args;
}

template <class Session>
struct Command {
  std::string_view verb;  // upper case; matched case-insensitively
  ArgShape shape;
  Gate gate;
  Outcome (*run)(Session&, const Arguments&);
};

// The row for `verb`, or nullptr.
template <class Session, std::size_t N>
[[nodiscard]] constexpr const Command<Session>* find_command(const std::array<Command<Session>, N>& table,
                                                             std::string_view verb) noexcept {
  for (const auto& row : table)
    if (verb_is(verb, row.verb)) return &row;
  return nullptr;
}

// One command line through a state's table: an unknown verb, a closed gate or arguments that
// do not fit the row's shape are a bad command; otherwise the row's handler decides.
template <class Session, std::size_t N>
Outcome dispatch(const std::array<Command<Session>, N>& table, Session& session, std::string_view line,
                 const SessionFacts& facts, const ArgumentRules& rules) {
  const CommandLine cmd = split_command(line);
  const Command<Session>* row = find_command(table, cmd.verb);
  if (row == nullptr) return Outcome::bad_command();
  if (!gate_open(row->gate, facts)) return gate_refusal(row->gate, facts);
  const auto args = parse_arguments(row->shape, cmd.params, rules);
  if (!args) return Outcome::bad_command();
  return row->run(session, *args);
}

}  // namespace pop3
