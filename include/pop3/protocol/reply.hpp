// pop3/protocol/reply.hpp: replies on the wire, and message text for RETR/TOP.
//
// OutputBuffer collects whole replies so that each round trip costs one write.
// MessageEncoder turns raw mbox bytes into the wire form (LF -> CRLF, dot-stuffing,
// TOP's line limit), chunk by chunk: blocks at a time for RETR on x86-64 (with AVX-512
// VBMI2 or AVX2 where the CPU has them, else SSE2), a byte search per line otherwise.
//
//   pop3::OutputBuffer out;
//   pop3::append_ok(out);                      // "+OK\r\n"
//   pop3::append_err(out, pop3::ResponseCode::sys_temp, "Mailbox locked");   // "-ERR [SYS/TEMP] ..."
//   pop3::MessageEncoder enc; enc.encode(raw, out); enc.finish(out); pop3::append(out, ".\r\n");
#pragma once

#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

#include "pop3/detail/cpu_features.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(POP3_AVX2_DISPATCH)
#include <immintrin.h>
#endif

namespace pop3 {

// A growable byte buffer that can be written through a raw pointer (no zero-filling). Its
// bytes start at a page boundary: the kernel's copy out of it on write() is fastest from an
// aligned source (DESIGN.md, "Read buffers").
class OutputBuffer {
 public:
  // A pointer to at least n writable bytes after the current end.
  [[nodiscard]] char* prepare(std::size_t n) {
    if (capacity_ - size_ < n) grow(size_ + n);
    return data_.get() + size_;
  }
  void commit(std::size_t n) noexcept { size_ += n; }
  void append(std::string_view bytes) {
    std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
    commit(bytes.size());
  }
  void clear() noexcept { size_ = 0; }
  [[nodiscard]] std::string_view view() const noexcept { return {data_.get(), size_}; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

 private:
  static constexpr std::align_val_t alignment{4096};
  struct Free {
    void operator()(char* p) const noexcept { ::operator delete[](p, alignment); }
  };

  void grow(std::size_t need) {
    std::size_t cap = capacity_ ? capacity_ * 2 : 4096;
    while (cap < need) cap *= 2;
    std::unique_ptr<char[], Free> bigger(static_cast<char*>(::operator new[](cap, alignment)));
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = cap;
  }
  std::unique_ptr<char[], Free> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

inline void append(OutputBuffer& out, std::string_view bytes) { out.append(bytes); }

inline void append_number(OutputBuffer& out, std::uint64_t value) {
  char* p = out.prepare(20);
  const auto result = std::to_chars(p, p + 20, value);
  out.commit(static_cast<std::size_t>(result.ptr - p));
}

// popa3d's replies carry no text (spec 3), except where a command adds its numbers.
inline void append_ok(OutputBuffer& out) { out.append("+OK\r\n"); }
inline void append_err(OutputBuffer& out) { out.append("-ERR\r\n"); }
inline constexpr std::string_view auth_failed_reply = "-ERR Authentication failed (bad password?)\r\n";
inline constexpr std::string_view end_of_multiline = ".\r\n";

// RFC 2449 s.8 response codes (with RFC 3206's), sent only when the extensions are on.
enum class ResponseCode : std::uint8_t {
  auth,      // [AUTH]: the login was refused for its credentials (or before TLS)
  sys_temp,  // [SYS/TEMP]: a failure that may pass (mailbox locked or unreadable, database)
  sys_perm,  // [SYS/PERM]: a failure that will not (a mailbox over the limits)
};
[[nodiscard]] constexpr std::string_view response_code_name(ResponseCode code) noexcept {
  switch (code) {
    case ResponseCode::auth: return "AUTH";
    case ResponseCode::sys_temp: return "SYS/TEMP";
    case ResponseCode::sys_perm: return "SYS/PERM";
  }
  return "";
}
// "-ERR [CODE] text\r\n"
inline void append_err(OutputBuffer& out, ResponseCode code, std::string_view text) {
  out.append("-ERR [");
  out.append(response_code_name(code));
  out.append("] ");
  out.append(text);
  out.append("\r\n");
}

// "+OK a b\r\n" (STAT) or "+OK a b" as the head of LIST n / UIDL n.
inline void append_ok_pair(OutputBuffer& out, std::uint64_t a, std::uint64_t b) {
  out.append("+OK ");
  append_number(out, a);
  out.append(" ");
  append_number(out, b);
  out.append("\r\n");
}
inline void append_ok_number(OutputBuffer& out, std::uint64_t a) {
  out.append("+OK ");
  append_number(out, a);
  out.append("\r\n");
}
// One line of a listing: "<n> <uid>" (UIDL) or "<n> <size>" (LIST).
inline void append_listing_line(OutputBuffer& out, std::uint32_t number, std::string_view value) {
  append_number(out, number);
  out.append(" ");
  out.append(value);
  out.append("\r\n");
}
inline void append_listing_line(OutputBuffer& out, std::uint32_t number, std::uint64_t value) {
  char digits[20];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  append_listing_line(out, number, std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
}

namespace detail {

#if defined(__SSE2__)
// RETR's encoding of whole 64-byte blocks from `p` while at least 128 bytes are left:
// a CR goes in before each LF, and a '.' before each '.' that starts a line. Both are an
// insertion before a marked byte, so a block is a few 64-byte copies between marks, with
// no per-line call to memchr() and memcpy(). Each copy stores a whole 64 bytes (read
// from at most 127 bytes ahead, written over the room left for later bytes): the output
// must have room for 2 bytes per input byte, as MessageEncoder::encode() prepares.
// `line_start`: the byte at p starts a line; updated for the byte after the last block.
// Each version works on local copies of p, o and line_start: through the references, every
// store of output (a char*, which may alias anything) would make the compiler keep them in
// memory and chain each step through a store and a load.
inline void encode_retr_blocks(const char*& p_io, const char* const end, char*& o_io, bool& line_start_io) noexcept {
  const char* p = p_io;
  char* o = o_io;
  bool line_start = line_start_io;
  const auto copy64 = [](char* to, const char* from) {
    for (int k = 0; k < 64; k += 16)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(to + k), _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + k)));
  };
  const __m128i lf_byte = _mm_set1_epi8('\n');
  const __m128i dot_byte = _mm_set1_epi8('.');
  while (end - p >= 128) {
    std::uint64_t lf = 0;
    std::uint64_t dot = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
      lf |= std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf_byte)))} << (16 * k);
      dot |= std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot_byte)))} << (16 * k);
    }
    std::uint64_t marks = lf | (((lf << 1) | std::uint64_t{line_start}) & dot);
    int from = 0;
    while (marks != 0) {
      const int at = std::countr_zero(marks);
      marks &= marks - 1;
      copy64(o, p + from);
      o += at - from;
      *o++ = (lf >> at) & 1 ? '\r' : '.';
      from = at;
    }
    copy64(o, p + from);
    o += 64 - from;
    line_start = (lf >> 63) != 0;
    p += 64;
  }
  p_io = p;
  o_io = o;
  line_start_io = line_start;
}
#endif

#if defined(POP3_AVX2_DISPATCH)
// The same with AVX2: two 32-byte loads and compares a block, and 32-byte copies.
__attribute__((target("avx2"))) inline void encode_retr_blocks_avx2(const char*& p_io, const char* const end,
                                                                    char*& o_io, bool& line_start_io) noexcept {
  const char* p = p_io;
  char* o = o_io;
  bool line_start = line_start_io;
  const __m256i lf_byte = _mm256_set1_epi8('\n');
  const __m256i dot_byte = _mm256_set1_epi8('.');
  while (end - p >= 128) {
    _mm_prefetch(p + prefetch_distance, _MM_HINT_T0);
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    const std::uint64_t lf = std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, lf_byte)))} |
                             std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, lf_byte)))} << 32;
    const std::uint64_t dot = std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, dot_byte)))} |
                              std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, dot_byte)))} << 32;
    std::uint64_t marks = lf | (((lf << 1) | std::uint64_t{line_start}) & dot);
    int from = 0;
    while (marks != 0) {
      const int at = std::countr_zero(marks);
      marks &= marks - 1;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + from)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + from + 32)));
      o += at - from;
      *o++ = (lf >> at) & 1 ? '\r' : '.';
      from = at;
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + from)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + from + 32)));
    o += 64 - from;
    line_start = (lf >> 63) != 0;
    p += 64;
  }
  p_io = p;
  o_io = o;
  line_start_io = line_start;
}

// The same with AVX-512 VBMI2, 32 bytes a step and no branch per line: the 32 input bytes
// are expanded (vpexpandb) to their places in the 32 + marks output bytes, leaving a hole
// before each marked byte, and the holes are filled: a CR before an LF, a '.' before a dot.
// Reads 32 bytes, stores 64 (within the room for 2 per input byte), while at least 32 are
// left.
__attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi2,popcnt"))) inline void
encode_retr_blocks_vbmi2(const char*& p_io, const char* const end, char*& o_io, bool& line_start_io) noexcept {
  const char* p = p_io;
  char* o = o_io;
  bool line_start = line_start_io;
  const __m512i lf_wide = _mm512_set1_epi8('\n');
  const __m512i cr_wide = _mm512_set1_epi8('\r');
  const __m512i dot_wide = _mm512_set1_epi8('.');
  // Two output slots per input byte: slot 2i is the hole before byte i, kept when byte i is
  // marked; slot 2i + 1 is byte i.
  constexpr std::uint64_t hole_slots = 0x5555555555555555;
  constexpr std::uint64_t byte_slots = 0xAAAAAAAAAAAAAAAA;
  while (end - p >= 32) {
    _mm_prefetch(p + prefetch_distance, _MM_HINT_T0);
    const __m512i in = _mm512_maskz_loadu_epi8(0xFFFFFFFF, p);   // the upper 32 bytes zero
    const auto lf = static_cast<std::uint32_t>(_mm512_cmpeq_epi8_mask(in, lf_wide));
    const auto dot = static_cast<std::uint32_t>(_mm512_cmpeq_epi8_mask(in, dot_wide));
    const std::uint32_t marks = lf | (((lf << 1) | std::uint32_t{line_start}) & dot);
    const std::uint64_t kept = _pdep_u64(marks, hole_slots) | byte_slots;
    const std::uint64_t bytes_at = _pext_u64(byte_slots, kept);   // output places of the input bytes
    const unsigned n = 32 + static_cast<unsigned>(std::popcount(marks));
    const std::uint64_t holes = ~bytes_at & (n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1);
    // The holes before LFs, one place before where the LFs go: CRs; the other holes: dots.
    const std::uint64_t cr_holes = _pext_u64(_pdep_u64(lf, byte_slots), kept) >> 1;
    const __m512i expanded = _mm512_maskz_expand_epi8(bytes_at, in);
    const __m512i dotted = _mm512_mask_mov_epi8(expanded, holes, dot_wide);
    _mm512_storeu_si512(o, _mm512_mask_mov_epi8(dotted, cr_holes, cr_wide));
    o += n;
    line_start = (lf >> 31) != 0;
    p += 32;
  }
  p_io = p;
  o_io = o;
  line_start_io = line_start;
}

using RetrBlockEncoder = void (*)(const char*&, const char*, char*&, bool&) noexcept;

// The block encoder of the widest instructions this CPU runs.
inline RetrBlockEncoder retr_block_encoder() noexcept {
  static const RetrBlockEncoder best = cpu_has_avx512_vbmi2() ? &encode_retr_blocks_vbmi2
                                       : cpu_has_avx2()       ? &encode_retr_blocks_avx2
                                                              : &encode_retr_blocks;
  return best;
}

struct NamedRetrBlockEncoder {
  std::string_view name;
  RetrBlockEncoder encode;
};

// Every block encoder this CPU runs, for tests and benchmarks.
inline std::vector<NamedRetrBlockEncoder> retr_block_encoders() {
  std::vector<NamedRetrBlockEncoder> all{{"sse2", &encode_retr_blocks}};
  if (cpu_has_avx2()) all.push_back({"avx2", &encode_retr_blocks_avx2});
  if (cpu_has_avx512_vbmi2()) all.push_back({"avx512-vbmi2", &encode_retr_blocks_vbmi2});
  return all;
}
#endif

}  // namespace detail

// Encodes message data for RETR and TOP (spec 11): every LF becomes CR LF, a '.' at the
// start of a line gets another '.', nothing else changes. For TOP, stops after the header
// section, its blank line and `body_lines` more lines.
class MessageEncoder {
 public:
  static constexpr std::uint64_t all_lines = std::numeric_limits<std::uint64_t>::max();

  explicit MessageEncoder(std::uint64_t body_lines = all_lines) noexcept
      : body_lines_left_(body_lines), in_headers_(body_lines != all_lines) {}

  // Appends the encoding of the next chunk of data. Returns false once TOP's limit is
  // reached: the rest of the message is not wanted.
  bool encode(std::string_view chunk, OutputBuffer& out) {
    if (done_) return false;
    // Worst case: every byte an LF (2 bytes each), plus one stuffed dot.
    char* const start = out.prepare(chunk.size() * 2 + 1);
    char* o = start;
    const char* p = chunk.data();
    const char* const end = p + chunk.size();
#if defined(__SSE2__)
    if (body_lines_left_ == all_lines) {
#if defined(POP3_AVX2_DISPATCH)
      detail::retr_block_encoder()(p, end, o, line_start_);
#else
      detail::encode_retr_blocks(p, end, o, line_start_);
#endif
    }
#endif
    while (p < end) {
      if (line_start_) {
        line_is_header_ = in_headers_;
        if (*p == '.') {
          *o++ = '.';
        } else if (in_headers_ && *p == '\n') {
          // The blank line ends the header section and belongs to it (spec 11).
          in_headers_ = false;
          if (body_lines_left_ == 0) {
            *o++ = '\r';
            *o++ = '\n';
            done_ = true;
            break;
          }
        }
      }
      const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* const line_end = lf ? lf : end;
      const auto n = static_cast<std::size_t>(line_end - p);
      std::memcpy(o, p, n);
      o += n;
      p = line_end;
      if (lf == nullptr) {
        line_start_ = false;
        break;
      }
      *o++ = '\r';
      *o++ = '\n';
      ++p;
      line_start_ = true;
      if (!line_is_header_ && body_lines_left_ != all_lines && --body_lines_left_ == 0) {
        done_ = true;
        break;
      }
    }
    out.commit(static_cast<std::size_t>(o - start));
    return !done_;
  }

  // Ends the text: a last line without LF gets CR LF (spec 11).
  void finish(OutputBuffer& out) {
    if (!line_start_) out.append("\r\n");
    line_start_ = true;
  }

 private:
  std::uint64_t body_lines_left_;
  bool in_headers_;
  bool line_start_ = true;
  bool line_is_header_ = false;  // the line being copied belongs to the header section
  bool done_ = false;
};

}  // namespace pop3
