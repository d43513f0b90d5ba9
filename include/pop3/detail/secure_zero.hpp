// pop3/detail/secure_zero.hpp: the one way a secret is wiped from memory.
//
//   std::string password = ...;
//   check(password);
//   pop3::detail::secure_zero(password);   // the whole buffer, then empty
#pragma once

#include <string.h>

#include <cstddef>
#include <string>

namespace pop3::detail {

// Zeroes memory in a way the compiler may not drop as a dead store (glibc's explicit_bzero,
// which also runs at memset's speed over the megabyte buffers of a passwd lookup).
inline void secure_zero(void* data, std::size_t size) noexcept { ::explicit_bzero(data, size); }

// Zeroes the whole buffer of `s`, not only its current length, then empties it.
inline void secure_zero(std::string& s) noexcept {
  s.resize(s.capacity());
  secure_zero(s.data(), s.size());
  s.clear();
}

}  // namespace pop3::detail
