// pop3/protocol/capa.hpp: the CAPA listing (RFC 2449 s.5) and the mechanism listing of "AUTH"
// alone, from the same predicate the command tables' gates ask (capability_enabled).
//
//   pop3::OutputBuffer out;
//   pop3::append_capabilities(out, facts, "popa3d 1.0");   // "TOP\r\nUIDL\r\n...\r\n.\r\n"
//   pop3::append_mechanisms(out);                          // "PLAIN\r\n.\r\n"
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include "pop3/features.hpp"
#include "pop3/protocol/reply.hpp"
#include "pop3/protocol/sasl.hpp"

namespace pop3 {

// IMPLEMENTATION's argument goes on the wire as it is: printable ASCII only, not empty.
[[nodiscard]] constexpr bool printable_word_list(std::string_view text) noexcept {
  for (const char c : text)
    if (c < ' ' || c > '~') return false;
  return !text.empty();
}

// Every capability's line as CAPA lists it (SASL and IMPLEMENTATION take their argument).
inline constexpr std::array<std::pair<Capability, std::string_view>, 9> capability_names{{
    {Capability::top, "TOP"},
    {Capability::uidl, "UIDL"},
    {Capability::user, "USER"},
    {Capability::resp_codes, "RESP-CODES"},
    {Capability::auth_resp_code, "AUTH-RESP-CODE"},
    {Capability::pipelining, "PIPELINING"},
    {Capability::sasl, "SASL"},
    {Capability::stls, "STLS"},
    {Capability::implementation, "IMPLEMENTATION"},
}};

// The multi-line text after CAPA's "+OK": one line per capability enabled now, then ".".
inline void append_capabilities(OutputBuffer& out, const SessionFacts& facts, std::string_view implementation) {
  for (const auto& [capability, name] : capability_names) {
    if (!capability_enabled(capability, facts)) continue;
    if (capability == Capability::implementation && !printable_word_list(implementation)) continue;
    out.append(name);
    if (capability == Capability::sasl) {
      out.append(" ");
      out.append(sasl_mechanisms);
    } else if (capability == Capability::implementation) {
      out.append(" ");
      out.append(implementation);
    }
    out.append("\r\n");
  }
  out.append(end_of_multiline);
}

// The multi-line text after "AUTH"'s "+OK": the mechanisms, one a line, then "."
// (the probe Thunderbird, Outlook and neomutt send; not in RFC 5034, kept by most servers).
inline void append_mechanisms(OutputBuffer& out) {
  out.append(sasl_mechanisms);
  out.append("\r\n");
  out.append(end_of_multiline);
}

}  // namespace pop3
