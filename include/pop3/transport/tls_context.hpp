// pop3/transport/tls_context.hpp: the server's OpenSSL context, built once at startup from a
// PEM certificate chain and a private key, with the protocol floor the daemon promises.
//
//   std::string error;
//   std::optional<pop3::TlsContext> tls = pop3::make_tls_context({.cert_file = c, .key_file = k}, error);
//   if (!tls) fail(error);                 // one line: "/etc/ssl/private/pop3.key: readable by group or others"
//   pop3::OpenSslTransport io{pop3::FdTransport{0, 1, timeout}, *tls};   // transport/tls.hpp
//
// What every handshake gets: TLS 1.2 or 1.3; under TLS 1.2 only ECDHE key exchange with an
// AEAD cipher (AES-GCM, ChaCha20-Poly1305), the server's order; no renegotiation, no
// compression. No session resumption: a ticket key would live as long as the daemon, the
// same in every session, and would undo the forward secrecy of every resumed session if it
// leaked; a server-side cache dies with each forked session anyway. A POP3 client makes one
// connection per poll, so the full handshake is the price of a poll, not of every request.
//
// The key file is checked before it is read, as sshd checks its host keys: a regular file,
// owned by root (or by the user running the program, when that is not root), readable by no
// group and no other user; and it must match the leaf certificate.
#pragma once

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "pop3/detail/secure_zero.hpp"
#include "pop3/detail/unique_fd.hpp"
#include "pop3/transport/tls_memory.hpp"

namespace pop3 {

struct TlsOptions {
  std::string cert_file;  // PEM: the leaf certificate, then the chain up to (not including) the root
  std::string key_file;   // PEM: the leaf's private key, unencrypted
};

// A reference to an SSL_CTX: copies share it (SSL_CTX_up_ref), the last one frees it, and with
// it the private key, whose numbers OpenSSL clears when it frees them.
class TlsContext {
 public:
  TlsContext() noexcept = default;
  explicit TlsContext(SSL_CTX* ctx) noexcept : ctx_(ctx) {}
  TlsContext(const TlsContext& other) noexcept : ctx_(other.ctx_) {
    if (ctx_ != nullptr) SSL_CTX_up_ref(ctx_);
  }
  TlsContext(TlsContext&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
  TlsContext& operator=(TlsContext other) noexcept {
    std::swap(ctx_, other.ctx_);
    return *this;
  }
  ~TlsContext() { reset(); }

  void reset() noexcept {
    if (ctx_ != nullptr) SSL_CTX_free(std::exchange(ctx_, nullptr));
  }
  [[nodiscard]] SSL_CTX* get() const noexcept { return ctx_; }
  explicit operator bool() const noexcept { return ctx_ != nullptr; }

 private:
  SSL_CTX* ctx_ = nullptr;
};

namespace detail {

// The oldest error OpenSSL queued, as text ("no start line", "key values mismatch"); the
// queue is emptied.
inline std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
}

// The key file's bytes, read only after its owner and mode passed. false with a one-line error.
inline bool read_key_file(const std::string& path, std::string& bytes, std::string& error) {
  constexpr std::size_t max_size = 65536;  // a PEM key is a few KiB; an RSA-16384 one under 13
  UniqueFd fd{::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)};
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    return false;
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    error = path + ": must be owned by root (or by the user running popa3d)";
    return false;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    error = path + ": readable by group or others (chmod 600 " + path + ")";
    return false;
  }
  if (static_cast<std::size_t>(st.st_size) > max_size) {
    error = path + ": larger than " + std::to_string(max_size) + " bytes";
    return false;
  }
  bytes.assign(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return true;
}

// The private key from PEM bytes, or nullptr.
inline EVP_PKEY* parse_private_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return nullptr;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

}  // namespace detail

// Under TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305, ECDSA or RSA certificates. TLS 1.3's
// suites are all AEAD with (EC)DHE, so OpenSSL's default list for it stays.
inline constexpr const char* tls12_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL";

// The context for `options`, or std::nullopt with a one-line `error` naming the file and what
// is wrong with it.
inline std::optional<TlsContext> make_tls_context(const TlsOptions& options, std::string& error) {
  // Before OpenSSL's first allocation, so that the key's decoding leaves no copy behind for
  // the processes forked later (tls_memory.hpp).
  (void)clear_tls_memory_on_free();
  ERR_clear_error();
  TlsContext context{SSL_CTX_new(TLS_server_method())};
  SSL_CTX* ctx = context.get();
  if (ctx == nullptr) {
    error = "TLS: " + detail::openssl_error();
    return std::nullopt;
  }
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
    error = "TLS: " + detail::openssl_error();
    return std::nullopt;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(ctx, 0);  // TLS 1.3 sends none either
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // Full writes only (no SSL_MODE_ENABLE_PARTIAL_WRITE): a large SSL_write becomes records of
  // the maximum 16 KiB, which transport/tls.hpp sends in one go.

  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
    error = options.cert_file + ": " + detail::openssl_error();
    return std::nullopt;
  }
  std::string pem;
  if (!detail::read_key_file(options.key_file, pem, error)) return std::nullopt;
  EVP_PKEY* key = detail::parse_private_key(pem);
  pop3::detail::secure_zero(pem);
  if (key == nullptr) {
    error = options.key_file + ": " + detail::openssl_error();
    return std::nullopt;
  }
  const int used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);  // the context holds its own reference
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    error = options.key_file + ": does not match the certificate in " + options.cert_file;
    return std::nullopt;
  }
  return context;
}

}  // namespace pop3
