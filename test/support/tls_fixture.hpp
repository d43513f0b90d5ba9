// test/support/tls_fixture.hpp: what the TLS tests and the TLS benchmark share: a self-signed
// ECDSA P-256 certificate made at run time (no key is ever committed), and an OpenSSL client
// on one end of a socket pair.
//
//   pop3::test::TempDir dir;
//   const pop3::test::TestCertificate cert = pop3::test::make_certificate(dir.path().string());
//   pop3::test::TlsClient client{fd, [](SSL_CTX* ctx) { SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION); }};
//   if (client.handshake()) client.write("STAT\r\n");
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

namespace pop3::test {

struct TestCertificate {
  std::string cert_file;  // PEM, mode 0644
  std::string key_file;   // PEM, mode 0600
};

// A fresh P-256 key and a self-signed certificate for "localhost", written into `dir` as
// `name`.pem and `name`.key.
inline TestCertificate make_certificate(const std::string& dir, const std::string& name = "test") {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x509 = X509_new();
  if (key == nullptr || x509 == nullptr) throw std::runtime_error("cannot make a test key");
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509), 86400);
  X509_set_pubkey(x509, key);
  X509_NAME* subject = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1,
                             -1, 0);
  X509_set_issuer_name(x509, subject);
  if (X509_sign(x509, key, EVP_sha256()) == 0) throw std::runtime_error("cannot sign the test certificate");
  TestCertificate made{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  FILE* cert = std::fopen(made.cert_file.c_str(), "w");
  FILE* pem_key = std::fopen(made.key_file.c_str(), "w");
  if (cert == nullptr || pem_key == nullptr) throw std::runtime_error("cannot write the test certificate");
  ::chmod(made.key_file.c_str(), 0600);
  PEM_write_X509(cert, x509);
  PEM_write_PrivateKey(pem_key, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(cert);
  std::fclose(pem_key);
  X509_free(x509);
  EVP_PKEY_free(key);
  return made;
}

// A blocking OpenSSL client on `fd` (not owned). `configure` may narrow its context (protocol
// versions, cipher list) before the SSL is made.
class TlsClient {
 public:
  explicit TlsClient(int fd, const std::function<void(SSL_CTX*)>& configure = {}) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) throw std::runtime_error("SSL_CTX_new");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // a self-signed test certificate
    if (configure) configure(ctx_);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    SSL_set_connect_state(ssl_);
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool handshake() {
    ERR_clear_error();
    return SSL_do_handshake(ssl_) == 1;
  }
  bool write(const std::string& text) {
    std::size_t written = 0;
    return SSL_write_ex(ssl_, text.data(), text.size(), &written) == 1;
  }
  // Up to `size` bytes of plaintext; "" at the end (then last_error() says which).
  std::string read(std::size_t size = 65536) {
    std::string out(size, '\0');
    std::size_t n = 0;
    ERR_clear_error();
    const int ret = SSL_read_ex(ssl_, out.data(), out.size(), &n);
    last_error_ = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, ret);
    out.resize(n);
    return out;
  }
  // Exactly `size` bytes, or fewer at the end.
  std::string read_exactly(std::size_t size) {
    std::string out;
    while (out.size() < size) {
      const std::string part = read(size - out.size());
      if (part.empty()) break;
      out += part;
    }
    return out;
  }
  [[nodiscard]] int last_error() const noexcept { return last_error_; }
  SSL* ssl() const noexcept { return ssl_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int last_error_ = SSL_ERROR_NONE;
};

}  // namespace pop3::test
