// pop3/session/io.hpp: one phase's side of the connection: command lines in, replies out.
//
// Owns the phase's LineReader and OutputBuffer over a Transport it borrows. It starts from
// the bytes a layer below read ahead, and hands on what it read but did not use.
//
//   pop3::SessionIo<MyTransport> io{transport, limits, log, read_ahead, limits.line_buffer, false};
//   while (auto line = io.next_line(ec)) { io.reply(pop3::Outcome::ok(), ec); }
//   std::string_view rest = io.pending();   // for the next phase
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "pop3/concepts.hpp"
#include "pop3/error.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/protocol/line.hpp"
#include "pop3/protocol/reply.hpp"
#include "pop3/session/outcome.hpp"

namespace pop3 {

template <TransportPolicy Transport>
class SessionIo {
 public:
  // Message text and long listings are sent in blocks of about this size. FdTransport gives
  // each block the idle timeout as a whole, so this also sets the slowest rate a client may
  // read at (fd.hpp).
  static constexpr std::size_t flush_threshold = 256 * 1024;

  // line_buffer: the LineReader's (a line keeps line_buffer - 1 bytes); response_codes: the
  // status lines of failures carry RFC 2449 s.8 codes (Features::extensions).
  SessionIo(Transport& transport, const Limits& limits, const LogSink& log, std::string_view read_ahead,
            std::size_t line_buffer, bool response_codes)
      : transport_(transport), limits_(limits), log_(log), reader_(line_buffer), response_codes_(response_codes) {
    reader_.append(read_ahead);
  }

  // The next command line, reading (and first flushing queued replies) as needed. nullopt
  // at the end of input, timeout or write failure, with ec set.
  std::optional<std::string_view> next_line(std::error_code& ec) {
    for (;;) {
      if (auto line = reader_.next_line()) return line;
      if (at_eof_) {
        // The replies to the last lines go out before the phase ends (popa3d writes each
        // reply before it reads on).
        flush_quietly();
        ec = eof_reason_;
        return std::nullopt;
      }
      // About to wait for the client: everything it asked for so far goes out in one write.
      flush(ec);
      if (ec) return std::nullopt;
      ++exchanges_;  // the mailbox may change while we wait for the client
      const auto space = reader_.read_space();
      const std::size_t n = transport_.read_some(space, ec);
      if (n == 0) {
        at_eof_ = true;
        eof_reason_ = ec ? ec : make_error_code(errc::eof);
        ec.clear();
        // At the end of input an unterminated last line still runs as a command (spec 4); not
        // after a timeout, where popa3d's alarm leaves the session from inside the read.
        if (eof_reason_ != errc::timeout) {
          if (auto line = reader_.last_line()) return line;
        }
        continue;
      }
      reader_.commit(n);
    }
  }

  // Appends the status line of `outcome`. A bad command ends the session with
  // errc::too_many_bad_commands once Limits::max_bad_commands is reached (0: never).
  void reply(const Outcome& outcome, std::error_code& ec) {
    append_status(out_, outcome, response_codes_);
    if (outcome.status == Outcome::Status::bad_command && limits_.max_bad_commands != 0 &&
        ++bad_commands_ >= limits_.max_bad_commands) {
      flush(ec);
      ec = errc::too_many_bad_commands;
    }
  }

  void flush(std::error_code& ec) {
    if (out_.empty()) return;
    ++exchanges_;
    transport_.write({out_.view().data(), out_.size()}, ec);
    out_.clear();
  }
  void flush_quietly() {
    std::error_code ignored;
    flush(ignored);
  }
  // Flushes once the queued text reaches flush_threshold.
  void flush_if_full(std::error_code& ec) {
    if (out_.size() >= flush_threshold) flush(ec);
  }

  OutputBuffer& out() noexcept { return out_; }
  // Client bytes read but not used: the read-ahead the next phase takes over.
  [[nodiscard]] std::string_view pending() const noexcept { return reader_.pending(); }
  // Zeroes what the reader consumed, the last line included (after a PASS or AUTH line).
  void wipe_consumed() noexcept { reader_.wipe_consumed(); }
  // Drops every client byte read and not yet used (after STLS: RFC 2595 s.4, CVE-2011-0411).
  void discard_input() noexcept {
    reader_.wipe_consumed();
    reader_.discard();
  }
  // Reads and writes so far: equal counts mean no I/O in between (see TransactionSession).
  [[nodiscard]] std::uint64_t exchanges() const noexcept { return exchanges_; }

  void log(LogPriority priority, const std::string& message) const {
    log_line(log_, priority, message);
  }

 private:
  Transport& transport_;
  Limits limits_;
  const LogSink& log_;
  LineReader reader_;
  bool response_codes_;
  OutputBuffer out_;
  std::uint64_t exchanges_ = 0;
  unsigned bad_commands_ = 0;
  bool at_eof_ = false;
  std::error_code eof_reason_;
};

}  // namespace pop3
