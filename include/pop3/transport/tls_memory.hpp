// pop3/transport/tls_memory.hpp: OpenSSL's heap memory cleared whenever OpenSSL frees it.
//
// Decoding a private key leaves copies of its numbers in blocks that OpenSSL 3.0 frees
// without clearing (the ASN.1 and PEM decoders' scratch). Every process forked afterwards
// inherits those freed blocks: a session process running as the mail user would hold the
// key although it dropped its TLS context. With this allocator no freed block keeps a byte.
//
//   if (!pop3::clear_tls_memory_on_free()) { /* OpenSSL allocated before: too late */ }
//   auto context = pop3::make_tls_context(options, error);   // calls it first itself
#pragma once

#include <malloc.h>
#include <openssl/crypto.h>
#include <string.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace pop3 {

namespace detail {

inline void* tls_malloc(std::size_t size, const char*, int) { return std::malloc(size); }

inline void tls_free(void* block, const char*, int) {
  if (block == nullptr) return;
  ::explicit_bzero(block, ::malloc_usable_size(block));
  std::free(block);
}

// A block that must grow moves by copy and clear: realloc() would free the old one as it is.
inline void* tls_realloc(void* block, std::size_t size, const char* file, int line) {
  if (block == nullptr) return std::malloc(size);
  if (size == 0) {
    tls_free(block, file, line);
    return nullptr;
  }
  const std::size_t usable = ::malloc_usable_size(block);
  if (size <= usable) return block;
  void* grown = std::malloc(size);
  if (grown == nullptr) return nullptr;
  std::memcpy(grown, block, usable);
  tls_free(block, file, line);
  return grown;
}

}  // namespace detail

// Installs the clearing allocator for the whole process. OpenSSL accepts it only before its
// first allocation: true if it is in place (now or from an earlier call), false if OpenSSL
// was used before, in which case freed blocks are not cleared.
inline bool clear_tls_memory_on_free() {
  static const bool installed =
      CRYPTO_set_mem_functions(&detail::tls_malloc, &detail::tls_realloc, &detail::tls_free) == 1;
  return installed;
}

}  // namespace pop3
