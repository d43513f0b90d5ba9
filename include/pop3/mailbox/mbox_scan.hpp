// pop3/mailbox/mbox_scan.hpp: bytes of an mbox file -> the message table.
//
// Pure code with no I/O, so that it can be benchmarked and fuzzed on its own. It
// follows popa3d 1.0.3's parse (spec section 9.2) and UIDL digest rules (section 10)
// exactly. MboxScanner takes the file in windows of any size (the mailbox reads it with
// pread()); scan_mbox() scans a file that is already whole in memory.
//
//   std::vector<pop3::MboxMessage<pop3::Md5>> table;
//   auto status = pop3::scan_mbox<pop3::Md5>(bytes, table, limits.max_messages);
//   if (status == pop3::ScanStatus::ok) { /* table[i].size, table[i].digest ... */ }
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "pop3/concepts.hpp"
#include "pop3/mailbox/mbox_separator.hpp"

namespace pop3 {

// One message of an mbox file. Offsets are from the start of the scanned bytes.
template <DigestPolicy Digest>
struct MboxMessage {
  std::uint64_t from_offset;   // start of its "From " line: the raw extent UPDATE moves starts here
  std::uint64_t data_offset;   // first byte of the line after the "From " line
  std::uint64_t data_length;   // bytes of data (a dropped final blank line is not counted)
  std::uint64_t size;          // octets as STAT/LIST report them: data_length + number of lines
  typename Digest::value_type digest;  // over the header lines popa3d hashes
};

enum class ScanStatus {
  ok,
  not_mbox,           // the file does not start with "From ", or a "From " line has no line after it
  too_many_messages,  // more than max_messages (popa3d MAX_MAILBOX_MESSAGES)
};

namespace detail {

// Spec 9.2: a separator line begins with the five bytes "From " (capital F, then a space).
inline bool starts_with_from(const char* p, const char* end) noexcept {
  return end - p >= 5 && std::memcmp(p, "From ", 5) == 0;
}

// True while the bytes at `p` may still turn out to start with "From ": fewer than five
// are there, they match so far, and more will come.
inline bool from_undecided(const char* p, const char* end, bool at_eof) noexcept {
  const auto n = static_cast<std::size_t>(end - p);
  return !at_eof && n < 5 && (n == 0 || std::memcmp(p, "From ", n) == 0);
}

// The first LF in [p, end), or nullptr.
inline const char* find_lf(const char* p, const char* end) noexcept {
  if (p == end) return nullptr;   // memchr must not be given the null data of an empty view
  return static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
}

// ASCII-only case folding, as strncasecmp() in the C locale that popa3d runs in.
constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// True if `line` begins with `name` (lower case, colon included) in any ASCII case.
constexpr bool has_name_icase(std::string_view line, std::string_view name) noexcept {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (ascii_lower(line[i]) != name[i]) return false;
  return true;
}

// Spec section 10: which header lines of one message feed the UIDL digest.
// Feed it every header line (never the blank line) in file order.
class UidlHeaderFilter {
 public:
  // The longest name compared, "x-delivery-id:". counts() reads no further into a line, so
  // a line's first name_bytes bytes (all of it if shorter) are enough to decide.
  static constexpr std::size_t name_bytes = 14;

  // Called once per header line from MboxScanner::feed(), which is too large for GCC to
  // inline this into on its own; a call per header line shows in the scan's time (DESIGN.md).
  [[gnu::always_inline]] constexpr bool counts(std::string_view line) noexcept {
    // A continuation line goes with the line it continues; at the top of the headers
    // there is none, so it does not count.
    if (line[0] == ' ' || line[0] == '\t') return counted_;
    counted_ = false;
    switch (ascii_lower(line[0])) {
      case 'r':
        // Only the first Received: line, and it closes the window for Date and Message-ID.
        if (has_name_icase(line, "received:")) {
          counted_ = !received_;
          received_ = true;
        }
        break;
      case 'd':
        if (has_name_icase(line, "date:"))
          counted_ = !received_;
        else if (has_name_icase(line, "delivered-to:"))
          counted_ = true;
        break;
      case 'm':
        if (has_name_icase(line, "message-id:")) counted_ = !received_;
        break;
      case 'x':
        // popa3d compares the capital X exactly and only the rest without case.
        counted_ = line[0] == 'X' && has_name_icase(line, "x-delivery-id:");
        break;
      default:
        break;
    }
    return counted_;
  }

 private:
  bool counted_ = false;    // the last non-continuation line counted
  bool received_ = false;   // a Received: line was seen in this message
};

}  // namespace detail

// Splits an mbox file into messages as popa3d 1.0.3 does (spec 9.2) and computes each
// message's UIDL digest (spec 10), taking the file in windows of any size, so that a
// mailbox can be read with pread() into one bounded buffer. A line longer than a window
// (spec 9.3: 200 KiB lines occur) is taken in pieces and hashed with Digest::update, never
// held whole. Any bytes are accepted (NULs, CRs, lines of any length); nothing is read out
// of bounds. `table` is cleared, then holds one entry per message in file order if the
// status stays ScanStatus::ok; it is left empty otherwise. The table's allocator is the
// caller's choice (MboxMailbox's uses huge pages).
//
//   MboxScanner<Md5> scanner(table, limits.max_messages);
//   used = scanner.feed(window, at_eof);   // pass window[used..] again, then more bytes
//   if (scanner.status() != ScanStatus::ok) { /* refused: table is empty */ }
template <DigestPolicy Digest, class Allocator = std::allocator<MboxMessage<Digest>>>
class MboxScanner {
 public:
  using Table = std::vector<MboxMessage<Digest>, Allocator>;

  // Bytes feed() may leave unconsumed before the end of the file. The decisions that need
  // bytes ahead look at most at a header name (14 bytes) or at a "\n\nFrom " (7 bytes).
  static constexpr std::size_t max_carry = 64;

  MboxScanner(Table& table, std::uint32_t max_messages)
      : table_(table), max_messages_(max_messages) {
    table_.clear();
  }

  // Feeds the next bytes of the file; their offsets continue from done_offset(). Returns
  // the number of bytes consumed from the front of `bytes`: the caller passes the rest
  // again, followed by more bytes, in the next call. Unless at_eof, at most max_carry bytes
  // are left. With at_eof, `bytes` is the rest of the file: all is consumed and the scan is
  // complete. Once status() is not ok, everything is consumed and nothing more happens.
  std::size_t feed(std::string_view bytes, bool at_eof);

  // ok, or why popa3d would refuse the mailbox; final as soon as it is not ok.
  [[nodiscard]] ScanStatus status() const noexcept { return status_; }

  // File offset of the first byte not consumed: the scanner never looks at the bytes
  // before it again.
  [[nodiscard]] std::uint64_t done_offset() const noexcept { return done_; }

 private:
  enum class Phase : std::uint8_t {
    file_start,    // nothing read yet: the file must start with "From " or be empty
    separator,     // at a "From " line that starts a message
    from_line,     // inside that "From " line
    data_start,    // at the line after it, which must exist and not be a "From " line
    line_start,    // at the start of a header line
    header_line,   // inside a header line that went past a window; counted_ says if hashed
    blank_line,    // at the blank line that ends the headers: is there a body?
    body,          // in the body, at the byte from which "\n\nFrom " is searched next
    finished,      // the scan is complete, or status_ refused the file
  };

  Table& table_;
  std::uint32_t max_messages_;
  ScanStatus status_ = ScanStatus::ok;
  Phase phase_ = Phase::file_start;
  bool counted_ = false;         // the header line in progress feeds the digest
  std::uint64_t done_ = 0;       // file offset of the next feed()'s first byte
  std::uint64_t from_offset_ = 0;   // of the message in progress
  std::uint64_t data_offset_ = 0;
  std::uint64_t lines_ = 0;      // lines of its data so far
  detail::UidlHeaderFilter filter_;
  Digest digest_;
};

template <DigestPolicy Digest, class Allocator>
std::size_t MboxScanner<Digest, Allocator>::feed(std::string_view bytes, bool at_eof) {
  const char* const base = bytes.data();
  const char* const end = base + bytes.size();
  const char* p = base;

  // Counted header lines that touch are hashed in one update().
  const char* hashed_begin = base;
  const char* hashed_end = base;
  const auto flush_hash = [&] {
    if (hashed_begin != hashed_end)
      digest_.update({hashed_begin, static_cast<std::size_t>(hashed_end - hashed_begin)});
    hashed_begin = hashed_end;
  };
  const auto hash = [&](const char* first, const char* last) {
    if (first != hashed_end) {
      flush_hash();
      hashed_begin = first;
    }
    hashed_end = last;
  };
  const auto offset = [&](const char* q) { return done_ + static_cast<std::uint64_t>(q - base); };
  const auto finish_message = [&](const char* data_end) {
    flush_hash();
    const std::uint64_t data_length = offset(data_end) - data_offset_;
    table_.push_back(MboxMessage<Digest>{from_offset_, data_offset_, data_length, data_length + lines_,
                                         digest_.final()});
  };
  const auto leave = [&](const char* q) {
    flush_hash();
    const auto used = static_cast<std::size_t>(q - base);
    done_ += used;
    return used;
  };
  const auto fail = [&](ScanStatus why) {
    table_.clear();
    status_ = why;
    phase_ = Phase::finished;
    return leave(end);
  };

  for (;;) {
    switch (phase_) {
      case Phase::file_start:
        if (detail::from_undecided(p, end, at_eof)) return leave(p);
        if (p == end) {   // an empty file has no message
          phase_ = Phase::finished;
          return leave(end);
        }
        // Spec 9.2: the first line must start a message.
        if (!detail::starts_with_from(p, end)) return fail(ScanStatus::not_mbox);
        phase_ = Phase::separator;
        [[fallthrough]];

      case Phase::separator:
        if (table_.size() >= max_messages_) return fail(ScanStatus::too_many_messages);  // popa3d MAX_MAILBOX_MESSAGES
        from_offset_ = offset(p);
        phase_ = Phase::from_line;
        [[fallthrough]];

      case Phase::from_line: {
        const char* const lf = detail::find_lf(p, end);
        if (lf == nullptr) {
          if (at_eof) return fail(ScanStatus::not_mbox);   // a "From " line with no line after it
          return leave(end);
        }
        p = lf + 1;
        data_offset_ = offset(p);
        phase_ = Phase::data_start;
        [[fallthrough]];
      }

      case Phase::data_start:
        if (detail::from_undecided(p, end, at_eof)) return leave(p);
        // A "From " line right after a "From " line is a second separator: either way the
        // message has no line, and popa3d refuses the mailbox.
        if (p == end || detail::starts_with_from(p, end)) return fail(ScanStatus::not_mbox);
        filter_ = {};
        lines_ = 0;
        phase_ = Phase::line_start;
        [[fallthrough]];

      case Phase::line_start:
        // The header section, a line at a time, up to the first blank line.
        for (;;) {
          if (p == end) {
            if (!at_eof) return leave(p);
            // No blank line: the message is all header and runs to the end of the file,
            // since "From " only separates after a blank line. Its last line was counted.
            finish_message(end);
            phase_ = Phase::finished;
            return leave(end);
          }
          if (*p == '\n') break;
          const char* const lf = detail::find_lf(p, end);
          if (lf == nullptr && !at_eof) {
            // The line goes on past this window: its name decides whether it counts.
            if (static_cast<std::size_t>(end - p) < detail::UidlHeaderFilter::name_bytes) return leave(p);
            ++lines_;
            counted_ = filter_.counts({p, static_cast<std::size_t>(end - p)});
            if (counted_) hash(p, end);
            phase_ = Phase::header_line;
            return leave(end);
          }
          const char* const next = lf != nullptr ? lf + 1 : end;   // a last line without LF is a line
          ++lines_;
          if (filter_.counts({p, static_cast<std::size_t>(next - p)})) hash(p, next);
          p = next;
        }
        phase_ = Phase::blank_line;
        [[fallthrough]];

      case Phase::blank_line: {
        const char* const body = p + 1;
        if (detail::from_undecided(body, end, at_eof)) return leave(p);
        if (body == end || detail::starts_with_from(body, end)) {
          // Header-only message: it keeps the blank line that follows its headers.
          ++lines_;
          finish_message(body);
          p = body;
          if (body == end) {   // at_eof, or from_undecided() would have waited
            phase_ = Phase::finished;
            return leave(end);
          }
          phase_ = Phase::separator;
          break;
        }
        // The body search starts at the blank line's LF (not counted yet), since
        // a separator may start right there.
        phase_ = Phase::body;
        [[fallthrough]];
      }

      case Phase::body: {
        std::uint64_t lfs = 0;
        const char* const k = detail::find_separator(p, end, lfs);
        if (k != end) {
          // The blank line before the next "From " line is dropped from this message.
          lines_ += lfs;
          finish_message(k + 1);
          p = k + 2;
          phase_ = Phase::separator;
          break;
        }
        if (at_eof) {
          // p is at most at the blank line's LF, or 6 bytes before the end: end[-2] is ours.
          assert(end - p >= 2);
          lines_ += lfs;
          const char* data_end = end;
          if (end[-1] != '\n') {
            ++lines_;   // a last line without LF is a line (its size counts it one byte longer)
          } else if (end[-2] == '\n') {
            --data_end;   // a blank last line of a message with a body is dropped at the end too
            --lines_;
          }
          finish_message(data_end);
          phase_ = Phase::finished;
          return leave(end);
        }
        // A "\n\nFrom " may start in the last 6 bytes and end in the next window: they are
        // searched (and their LFs counted) again then.
        constexpr std::ptrdiff_t keep = 6;
        if (end - p <= keep) return leave(p);
        lines_ += lfs - static_cast<std::uint64_t>(std::count(end - keep, end, '\n'));
        return leave(end - keep);
      }

      case Phase::header_line: {
        const char* const lf = detail::find_lf(p, end);
        const char* const next = lf != nullptr ? lf + 1 : end;
        if (counted_) hash(p, next);
        p = next;
        if (lf == nullptr && !at_eof) return leave(end);
        phase_ = Phase::line_start;   // at the end of the file, line_start ends the message
        break;
      }

      case Phase::finished:
        return leave(end);
    }
  }
}

// Scans a whole mbox file held in memory: MboxScanner with one window.
template <DigestPolicy Digest, class Allocator>
ScanStatus scan_mbox(std::string_view bytes, std::vector<MboxMessage<Digest>, Allocator>& table,
                     std::uint32_t max_messages) {
  MboxScanner<Digest, Allocator> scanner(table, max_messages);
  scanner.feed(bytes, true);
  return scanner.status();
}

// The unique id as popa3d prints it (spec section 10): 16 lowercase hex digits from digest
// bytes 3 2 1 0 7 6 5 4, i.e. the first two 32-bit MD5 words written as little-endian
// numbers. Keeping this order keeps clients from downloading every message again.
inline UniqueId popa3d_unique_id(std::span<const std::uint8_t> digest) noexcept {
  assert(digest.size() >= 8);
  constexpr std::array<std::size_t, 8> order{3, 2, 1, 0, 7, 6, 5, 4};
  constexpr std::string_view hex = "0123456789abcdef";
  UniqueId id;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::uint8_t byte = order[i] < digest.size() ? digest[order[i]] : 0;
    id.chars[2 * i] = hex[byte >> 4];
    id.chars[2 * i + 1] = hex[byte & 0x0f];
  }
  id.length = 16;
  return id;
}

}  // namespace pop3
