// pop3/mailbox/mbox_scan.hpp: bytes of an mbox file -> the message table.
//
// A pure function with no I/O, so that it can be benchmarked and fuzzed on
// its own. It follows popa3d 1.0.3's parse (spec section 9.2) and UIDL
// digest rules (section 10) exactly.
//
//   std::vector<pop3::MboxMessage<pop3::Md5>> table;
//   auto status = pop3::scan_mbox<pop3::Md5>(bytes, table, limits.max_messages);
//   if (status == pop3::ScanStatus::ok) { /* table[i].size, table[i].digest ... */ }
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "pop3/concepts.hpp"

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

// GCC and Clang vector extensions: SSE2 on x86-64, NEON on ARM, no intrinsics.
#if defined(__GNUC__)
typedef unsigned char ScanBytes16 __attribute__((vector_size(16)));
typedef signed char ScanMask16 __attribute__((vector_size(16)));
typedef std::uint64_t ScanWords16 __attribute__((vector_size(16)));

inline ScanBytes16 scan_load16(const char* p) noexcept {
  ScanBytes16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
#endif

// Spec 9.2: a separator line begins with the five bytes "From " (capital F, then a space).
inline bool starts_with_from(const char* p, const char* end) noexcept {
  return end - p >= 5 && std::memcmp(p, "From ", 5) == 0;
}

// One past the LF that ends the line at `p`, or `end` for a last line without LF.
inline const char* line_end(const char* p, const char* end) noexcept {
  const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
  return lf != nullptr ? static_cast<const char*>(lf) + 1 : end;
}

// Finds the first `k` in [first, end) where a blank line follows an LF and a "From " line
// follows that blank line: k[0] == '\n', k[1] == '\n', "From " at k + 2. Returns `end` if
// there is none. Adds to `lfs` the number of LFs in [first, k + 1), or in [first, end).
// This is the hot loop of the scan: message bodies are crossed 32 bytes at a time, counting
// LFs and looking for "\n\n" in the same pass, instead of one memchr per line.
inline const char* find_separator(const char* first, const char* end, std::uint64_t& lfs) noexcept {
  const char* p = first;
  std::uint64_t count = 0;
#if defined(__GNUC__)
  // Each 32-byte step reads up to p + 33 (the LF test of the byte after each one).
  while (end - p >= 33) {
    // Per-lane LF counters; at most 2 per step, so 127 steps cannot wrap a byte.
    ScanMask16 acc{};
    for (int step = 0; step < 127 && end - p >= 33; ++step, p += 32) {
      const ScanMask16 lf0 = scan_load16(p) == '\n';
      const ScanMask16 lf1 = scan_load16(p + 16) == '\n';
      const ScanMask16 pairs =
          (lf0 & (scan_load16(p + 1) == '\n')) | (lf1 & (scan_load16(p + 17) == '\n'));
      const auto any = std::bit_cast<ScanWords16>(pairs);
      if ((any[0] | any[1]) != 0) {
        // A blank line in these 32 bytes (rare in bodies): check for "From " after it.
        for (const char* k = p; k < p + 32; ++k) {
          if (k[0] == '\n' && k[1] == '\n' && starts_with_from(k + 2, end)) {
            for (int lane = 0; lane < 16; ++lane) count += static_cast<unsigned char>(acc[lane]);
            count += static_cast<std::uint64_t>(std::count(p, k + 1, '\n'));
            lfs += count;
            return k;
          }
        }
      }
      acc -= lf0;   // a match is -1
      acc -= lf1;
    }
    for (int lane = 0; lane < 16; ++lane) count += static_cast<unsigned char>(acc[lane]);
  }
#endif
  for (; p != end; ++p) {
    if (*p != '\n') continue;
    ++count;
    if (end - p >= 7 && p[1] == '\n' && std::memcmp(p + 2, "From ", 5) == 0) {
      lfs += count;
      return p;
    }
  }
  lfs += count;
  return end;
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
  constexpr bool counts(std::string_view line) noexcept {
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

// The default progress callback of scan_mbox: nothing to release.
struct IgnoreProgress {
  constexpr void operator()(std::uint64_t) const noexcept {}
};

}  // namespace detail

// Splits `bytes` (a whole mbox file) into messages as popa3d 1.0.3 does (spec 9.2) and
// computes each message's UIDL digest (spec 10). `table` is cleared, then holds one entry
// per message in file order if the result is ScanStatus::ok; it is left empty otherwise.
// Any bytes are accepted (NULs, CRs, lines of any length); nothing is read out of bounds.
//
// `done(offset)` is called after each message with the offset of the first byte the scan
// will not read again, so a caller scanning a mapping can release what lies behind it.
template <DigestPolicy Digest, class Progress = detail::IgnoreProgress>
ScanStatus scan_mbox(std::string_view bytes, std::vector<MboxMessage<Digest>>& table,
                     std::uint32_t max_messages, Progress&& done = {}) {
  table.clear();
  if (bytes.empty()) return ScanStatus::ok;
  const char* const base = bytes.data();
  const char* const end = base + bytes.size();
  // Spec 9.2: the first line must start a message.
  if (!detail::starts_with_from(base, end)) return ScanStatus::not_mbox;

  Digest digest;
  const char* from = base;   // a "From " line that starts a message
  while (from != end) {
    if (table.size() >= max_messages) {   // popa3d MAX_MAILBOX_MESSAGES
      table.clear();
      return ScanStatus::too_many_messages;
    }
    const char* const data = detail::line_end(from, end);
    // A "From " line right after a "From " line is a second separator: either way the
    // message has no line, and popa3d refuses the mailbox.
    if (data == end || detail::starts_with_from(data, end)) {
      table.clear();
      return ScanStatus::not_mbox;
    }

    // The header section, a line at a time: up to and including the first blank line.
    detail::UidlHeaderFilter filter;
    std::uint64_t lines = 0;
    const char* body = nullptr;   // after the blank line that ends the headers, if any
    const char* hashed_begin = data;
    const char* hashed_end = data;   // counted lines that touch are hashed in one update()
    for (const char* line = data; line != end;) {
      const char* const next = detail::line_end(line, end);
      ++lines;
      if (next - line == 1 && *line == '\n') {
        body = next;
        break;
      }
      if (filter.counts({line, static_cast<std::size_t>(next - line)})) {
        if (line != hashed_end) {
          digest.update({hashed_begin, static_cast<std::size_t>(hashed_end - hashed_begin)});
          hashed_begin = line;
        }
        hashed_end = next;
      }
      line = next;
    }
    digest.update({hashed_begin, static_cast<std::size_t>(hashed_end - hashed_begin)});

    const char* data_end = end;
    const char* next_from = end;
    if (body == nullptr) {
      // No blank line: the message is all header and runs to the end of the file, since
      // "From " only separates after a blank line. The last line was counted above.
    } else if (body == end || detail::starts_with_from(body, end)) {
      // Header-only message: it keeps the blank line that follows its headers.
      data_end = next_from = body;
    } else {
      // body[-1] is the LF of the blank line, so a separator may start right at body - 1.
      std::uint64_t lfs = 0;
      const char* const k = detail::find_separator(body - 1, end, lfs);
      lines += lfs - 1;   // LFs from `body` on
      if (k != end) {
        // The blank line before the next "From " line is dropped from this message.
        data_end = k + 1;
        next_from = k + 2;
      } else if (end[-1] != '\n') {
        ++lines;   // a last line without LF is a line (its size counts it one byte longer)
      } else if (end[-2] == '\n') {
        --data_end;   // a blank last line of a message with a body is dropped at the end too
        --lines;
      }
    }
    const auto data_length = static_cast<std::uint64_t>(data_end - data);
    table.push_back(MboxMessage<Digest>{static_cast<std::uint64_t>(from - base),
                                        static_cast<std::uint64_t>(data - base), data_length,
                                        data_length + lines, digest.final()});
    from = next_from;
    done(static_cast<std::uint64_t>(from - base));
  }
  return ScanStatus::ok;
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
