// pop3/detail/cpu_features.hpp: which vector instructions this CPU runs, asked once.
//
// The hot loops (mbox_separator.hpp, the RETR encoder in reply.hpp) have a version compiled
// for AVX2 with __attribute__((target("avx2"))) beside their baseline (SSE2) one, and one
// for AVX-512 (BW for the separator search, VBMI2 for the encoder), and pick at run time,
// so that one binary runs on every x86-64 CPU.
//
//   #if defined(POP3_AVX2_DISPATCH)
//   if (pop3::detail::cpu_has_avx2()) return find_separator_avx2(first, end, lfs);
//   #endif
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#define POP3_AVX2_DISPATCH 1

namespace pop3::detail {

// How far ahead of their reads the AVX2 loops prefetch. Their input is a mailbox file in the
// page cache, usually not in any CPU cache, and the hardware prefetchers stop at every 4 KiB
// page: on the Xeon of 2026-12-01 a prefetch 2 KiB ahead took the separator search from 6.1
// to 9.2 GB/s over 107 MiB (1 KiB: 7.1; 4 and 8 KiB: no better than 2). A prefetch never
// faults, so reading past the end of the input this way is harmless.
inline constexpr int prefetch_distance = 2048;

inline bool cpu_has_avx2() noexcept {
  static const bool has = [] {
    __builtin_cpu_init();   // may run before the constructor of libgcc's that sets up the CPU model
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}

// AVX-512 with byte compares into mask registers (Skylake-X, Zen 4 and later).
inline bool cpu_has_avx512bw() noexcept {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw") != 0;
  }();
  return has;
}

// AVX-512 with VBMI2's byte expand (Ice Lake, Zen 4 and later), and BMI2's pdep/pext.
inline bool cpu_has_avx512_vbmi2() noexcept {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw") != 0 && __builtin_cpu_supports("avx512vbmi") != 0 &&
           __builtin_cpu_supports("avx512vbmi2") != 0 && __builtin_cpu_supports("bmi2") != 0;
  }();
  return has;
}

}  // namespace pop3::detail
#endif
