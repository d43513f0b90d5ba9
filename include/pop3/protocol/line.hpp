// pop3/protocol/line.hpp: client bytes -> command lines, as popa3d reads them.
//
// A sans-I/O line reader: the caller appends what the transport read, then
// takes complete lines. It applies popa3d 1.0.3's rules (spec section 4).
//
//   pop3::LineReader reader{128};
//   reader.append(bytes_from_client);
//   while (auto line = reader.next_line()) handle(*line);
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pop3/detail/secure_zero.hpp"

namespace pop3 {

// Bytes the reader holds at most (and so asks the transport for per read). Larger than popa3d's
// 128-byte reads to save system calls on pipelined input; the bytes on the wire are the same.
inline constexpr std::size_t input_buffer_size = 4096;

class LineReader {
 public:
  // line_buffer: popa3d's POP_BUFFER_SIZE; a line keeps its first line_buffer - 1 bytes.
  explicit LineReader(std::size_t line_buffer = 128)
      : keep_(line_buffer > 0 ? line_buffer - 1 : 0), buffer_(input_buffer_size, '\0') {
    assert(line_buffer <= input_buffer_size);
  }

  // Where the next read from the transport goes; empty when a line is complete in the buffer.
  [[nodiscard]] std::span<char> read_space() noexcept {
    compact();
    return {buffer_.data() + end_, buffer_.size() - end_};
  }
  // Records that `n` bytes were written into read_space().
  void commit(std::size_t n) noexcept {
    assert(end_ + n <= buffer_.size());
    end_ += n;
  }
  // Copies bytes in (for input handed over from another process).
  void append(std::string_view bytes) {
    while (!bytes.empty()) {
      auto space = read_space();
      if (space.empty()) {
        take_partial();
        continue;
      }
      const std::size_t n = std::min(space.size(), bytes.size());
      std::memcpy(space.data(), bytes.data(), n);
      commit(n);
      bytes.remove_prefix(n);
    }
  }

  // The next complete line (without its LF and the CR right before it), if the buffer holds one.
  // The view stays valid until the next call on the reader.
  [[nodiscard]] std::optional<std::string_view> next_line() {
    const char* begin = buffer_.data() + pos_;
    const std::size_t avail = end_ - pos_;
    const void* lf = avail ? std::memchr(begin, '\n', avail) : nullptr;
    if (lf == nullptr) {
      // A line longer than the whole buffer: keep its head, drop the rest (popa3d does the same).
      if (end_ - pos_ == buffer_.size()) take_partial();
      return std::nullopt;
    }
    const auto len = static_cast<std::size_t>(static_cast<const char*>(lf) - begin);
    absorb({begin, len});
    pos_ += len + 1;
    return finish_line(/*at_lf=*/true);
  }

  // At end of input: the unterminated last line, if it has at least one byte (spec 4).
  [[nodiscard]] std::optional<std::string_view> last_line() {
    if (pos_ == end_ && total_ == 0) return std::nullopt;
    absorb({buffer_.data() + pos_, end_ - pos_});
    pos_ = end_;
    return finish_line(/*at_lf=*/false);
  }

  // Client bytes read but not yet consumed as lines: the read-ahead that the next layer takes
  // over (the TRANSACTION phase after PASS). Only meaningful between lines, which is where
  // the engine asks for it.
  [[nodiscard]] std::string_view pending() const noexcept {
    assert(total_ == 0);
    return {buffer_.data() + pos_, end_ - pos_};
  }

  // Zeroes the bytes already consumed and the last line (after a PASS line).
  void wipe_consumed() noexcept {
    detail::secure_zero(buffer_.data(), pos_);
    detail::secure_zero(line_);
  }

  // Forgets every byte held, a partial line included: after STLS the plaintext read ahead
  // must not run as commands over TLS (RFC 2595 s.4), and a phase that takes over starts
  // from the bytes it was handed.
  void discard() noexcept {
    pos_ = end_ = 0;
    reset_line();
  }

 private:
  // Moves the unread bytes to the front so read_space() is as large as possible.
  void compact() noexcept {
    if (pos_ == 0) return;
    std::memmove(buffer_.data(), buffer_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  // Consumes the whole buffer as the head of a line that has no LF yet.
  void take_partial() {
    absorb({buffer_.data() + pos_, end_ - pos_});
    pos_ = end_ = 0;
  }
  void absorb(std::string_view part) {
    if (kept_.size() < keep_) kept_.append(part.substr(0, keep_ - kept_.size()));
    if (!part.empty() && std::memchr(part.data(), '\0', part.size()) != nullptr) nul_ = true;
    total_ += part.size();
  }
  std::string_view finish_line(bool at_lf) {
    line_.swap(kept_);
    // Only a CR that was kept and sat right before the LF goes (spec 4: "NOOP\r\r\n" is "NOOP\r").
    if (at_lf && total_ == line_.size() && !line_.empty() && line_.back() == '\r') line_.pop_back();
    if (nul_) line_.clear();  // a NUL anywhere makes the whole line empty (popa3d)
    reset_line();
    return line_;
  }
  void reset_line() noexcept {
    kept_.clear();
    total_ = 0;
    nul_ = false;
  }

  std::size_t keep_;
  std::string buffer_;
  std::size_t pos_ = 0;  // first unread byte
  std::size_t end_ = 0;  // end of the bytes read
  std::string kept_;     // head of the line being assembled
  std::string line_;     // the line last returned
  std::size_t total_ = 0;  // bytes of the current line so far, kept or not
  bool nul_ = false;
};

}  // namespace pop3
