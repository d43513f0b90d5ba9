// pop3/mailbox/mbox_separator.hpp: the hot loop of the mbox scan, finding the next
// "\n\nFrom " in a message body while counting its LFs.
//
// Four versions give the same answer on every input: a byte-at-a-time one (the reference,
// and the tail of the others), one with GCC/Clang vector extensions (SSE2 on x86-64, NEON
// on ARM), and on x86-64 one with AVX2 and one with AVX-512BW, picked at run time. find_separator() is the one this
// CPU runs best; separator_finders() lists all it can run, for tests and benchmarks.
//
//   std::uint64_t lfs = 0;
//   const char* k = pop3::detail::find_separator(body, end, lfs);
//   if (k != end) { /* k[0] == k[1] == '\n', "From " at k + 2; lfs LFs in [body, k + 1) */ }
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "pop3/detail/cpu_features.hpp"

#if defined(POP3_AVX2_DISPATCH)
#include <immintrin.h>
#endif

namespace pop3::detail {

// The contract of every version: finds the first `k` in [first, end) with k[0] == '\n',
// k[1] == '\n' and "From " at k + 2 (all within [first, end)), or returns `end`. Adds to
// `lfs` the number of LFs in [first, k + 1), or in [first, end) if there is none.
using SeparatorFinder = const char* (*)(const char* first, const char* end, std::uint64_t& lfs) noexcept;

// The reference version: one byte at a time.
inline const char* find_separator_scalar(const char* first, const char* end, std::uint64_t& lfs) noexcept {
  std::uint64_t count = 0;
  for (const char* p = first; p != end; ++p) {
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

// 32 bytes a step with 16-byte vectors: counts LFs per lane and looks for "\n\nF" (a blank
// line followed by an 'F', rare in bodies, unlike blank lines alone) in the same pass,
// instead of one memchr per ~70-byte line.
inline const char* find_separator_vector16(const char* first, const char* end, std::uint64_t& lfs) noexcept {
  const char* p = first;
#if defined(__GNUC__)
  typedef unsigned char Bytes __attribute__((vector_size(16)));
  typedef signed char Mask __attribute__((vector_size(16)));
  typedef std::uint64_t Words __attribute__((vector_size(16)));
  const auto load = [](const char* q) {
    Bytes v;
    std::memcpy(&v, q, sizeof v);
    return v;
  };
  std::uint64_t count = 0;
  // Each step reads up to p + 33 (the test of the two bytes after each one).
  while (end - p >= 34) {
    // Per-lane LF counters (unsigned: 2 per step, so 127 steps reach 254 without wrapping).
    Bytes acc{};
    for (int step = 0; step < 127 && end - p >= 34; ++step, p += 32) {
      const Mask lf0 = load(p) == '\n';
      const Mask lf1 = load(p + 16) == '\n';
      const Mask hits = (lf0 & (load(p + 1) == '\n') & (load(p + 2) == 'F')) |
                        (lf1 & (load(p + 17) == '\n') & (load(p + 18) == 'F'));
      const auto any = std::bit_cast<Words>(hits);
      if ((any[0] | any[1]) != 0) {
        // Check each one for the rest of "From ".
        for (const char* k = p; k < p + 32; ++k) {
          if (k[0] == '\n' && k[1] == '\n' && end - k >= 7 && std::memcmp(k + 2, "From ", 5) == 0) {
            for (int lane = 0; lane < 16; ++lane) count += acc[lane];
            lfs += count + static_cast<std::uint64_t>(std::count(p, k + 1, '\n'));
            return k;
          }
        }
      }
      acc -= std::bit_cast<Bytes>(lf0);   // a match is all ones: -1
      acc -= std::bit_cast<Bytes>(lf1);
    }
    for (int lane = 0; lane < 16; ++lane) count += acc[lane];
  }
  lfs += count;
#endif
  return find_separator_scalar(p, end, lfs);
}

#if defined(POP3_AVX2_DISPATCH)
__attribute__((target("avx2"))) inline __m256i avx2_load(const char* p) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The sum of the 32 byte counters.
__attribute__((target("avx2"))) inline std::uint64_t avx2_sum_bytes(__m256i counters) noexcept {
  const __m256i sums = _mm256_sad_epu8(counters, _mm256_setzero_si256());
  return static_cast<std::uint64_t>(_mm256_extract_epi64(sums, 0) + _mm256_extract_epi64(sums, 1) +
                                    _mm256_extract_epi64(sums, 2) + _mm256_extract_epi64(sums, 3));
}

// The same with 32-byte AVX2 vectors: 64 bytes a step, the candidates taken from a bit mask.
__attribute__((target("avx2"))) inline const char* find_separator_avx2(const char* first, const char* end,
                                                                       std::uint64_t& lfs) noexcept {
  const char* p = first;
  const __m256i lf = _mm256_set1_epi8('\n');
  const __m256i f = _mm256_set1_epi8('F');
  std::uint64_t count = 0;
  // Each step reads up to p + 65.
  while (end - p >= 66) {
    // Per-lane LF counters, as in find_separator_vector16.
    __m256i acc = _mm256_setzero_si256();
    for (int step = 0; step < 127 && end - p >= 66; ++step, p += 64) {
      _mm_prefetch(p + prefetch_distance, _MM_HINT_T0);
      const __m256i lf0 = _mm256_cmpeq_epi8(avx2_load(p), lf);
      const __m256i lf1 = _mm256_cmpeq_epi8(avx2_load(p + 32), lf);
      const __m256i hit0 = _mm256_and_si256(_mm256_and_si256(lf0, _mm256_cmpeq_epi8(avx2_load(p + 1), lf)),
                                            _mm256_cmpeq_epi8(avx2_load(p + 2), f));
      const __m256i hit1 = _mm256_and_si256(_mm256_and_si256(lf1, _mm256_cmpeq_epi8(avx2_load(p + 33), lf)),
                                            _mm256_cmpeq_epi8(avx2_load(p + 34), f));
      const __m256i hits = _mm256_or_si256(hit0, hit1);
      if (!_mm256_testz_si256(hits, hits)) {
        std::uint64_t candidates = static_cast<std::uint32_t>(_mm256_movemask_epi8(hit0)) |
                                   static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(hit1))) << 32;
        while (candidates != 0) {
          const char* const k = p + std::countr_zero(candidates);
          if (end - k >= 7 && std::memcmp(k + 2, "From ", 5) == 0) {
            lfs += count + avx2_sum_bytes(acc) + static_cast<std::uint64_t>(std::count(p, k + 1, '\n'));
            return k;
          }
          candidates &= candidates - 1;
        }
      }
      acc = _mm256_sub_epi8(acc, lf0);
      acc = _mm256_sub_epi8(acc, lf1);
    }
    count += avx2_sum_bytes(acc);
  }
  lfs += count;
  return find_separator_scalar(p, end, lfs);
}

// The same with AVX-512BW, 64 bytes a step: the compares give bit masks directly, and the
// LFs are counted with popcount, with no byte counters to sum.
__attribute__((target("avx512f,avx512bw,popcnt"))) inline const char* find_separator_avx512(
    const char* first, const char* end, std::uint64_t& lfs) noexcept {
  const char* p = first;
  const __m512i lf = _mm512_set1_epi8('\n');
  const __m512i f = _mm512_set1_epi8('F');
  std::uint64_t count = 0;
  // Each step reads up to p + 65.
  while (end - p >= 66) {
    _mm_prefetch(p + prefetch_distance, _MM_HINT_T0);
    const std::uint64_t lfs_here = _mm512_cmpeq_epi8_mask(_mm512_loadu_si512(p), lf);
    std::uint64_t candidates = lfs_here & _mm512_cmpeq_epi8_mask(_mm512_loadu_si512(p + 1), lf) &
                               _mm512_cmpeq_epi8_mask(_mm512_loadu_si512(p + 2), f);
    while (candidates != 0) {
      const int at = std::countr_zero(candidates);
      const char* const k = p + at;
      if (end - k >= 7 && std::memcmp(k + 2, "From ", 5) == 0) {
        // The LFs before k, and k's own.
        const std::uint64_t through_k = at == 63 ? ~std::uint64_t{0} : (std::uint64_t{2} << at) - 1;
        lfs += count + static_cast<std::uint64_t>(std::popcount(lfs_here & through_k));
        return k;
      }
      candidates &= candidates - 1;
    }
    count += static_cast<std::uint64_t>(std::popcount(lfs_here));
    p += 64;
  }
  lfs += count;
  return find_separator_scalar(p, end, lfs);
}
#endif

// The fastest version this CPU runs.
inline const char* find_separator(const char* first, const char* end, std::uint64_t& lfs) noexcept {
#if defined(POP3_AVX2_DISPATCH)
  if (cpu_has_avx512bw()) return find_separator_avx512(first, end, lfs);
  if (cpu_has_avx2()) return find_separator_avx2(first, end, lfs);
#endif
  return find_separator_vector16(first, end, lfs);
}

struct NamedSeparatorFinder {
  std::string_view name;
  SeparatorFinder find;
};

// Every version this CPU runs, the reference first.
inline std::vector<NamedSeparatorFinder> separator_finders() {
  std::vector<NamedSeparatorFinder> all{{"scalar", &find_separator_scalar}, {"vector16", &find_separator_vector16}};
#if defined(POP3_AVX2_DISPATCH)
  if (cpu_has_avx2()) all.push_back({"avx2", &find_separator_avx2});
  if (cpu_has_avx512bw()) all.push_back({"avx512", &find_separator_avx512});
#endif
  return all;
}

}  // namespace pop3::detail
