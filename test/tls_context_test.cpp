// Tests of pop3/transport/tls_context.hpp: the startup checks of the key file, and what a
// client can and cannot get from the context (old protocols, CBC ciphers, renegotiation,
// compression),
// with OpenSSL clients over a socket pair.
#define BOOST_TEST_MODULE tls_context
#include <boost/test/unit_test.hpp>

#include "pop3/transport/tls_context.hpp"

#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "pop3/transport/fd.hpp"
#include "pop3/transport/tls.hpp"
#include "support/temp_dir.hpp"
#include "support/tls_fixture.hpp"

namespace {

using namespace std::chrono_literals;

struct Certificates {
  pop3::test::TempDir dir;
  pop3::test::TestCertificate cert = pop3::test::make_certificate(dir.path().string());
  pop3::test::TestCertificate other = pop3::test::make_certificate(dir.path().string(), "other");
};

std::optional<pop3::TlsContext> make(const std::string& cert, const std::string& key, std::string& error) {
  return pop3::make_tls_context({cert, key}, error);
}

// Root-only tests skip without root, but fail in CI, which runs as root.
bool is_root() {
  if (::geteuid() == 0) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string_view(ci) == "true") BOOST_FAIL("CI=true but not root");
  BOOST_TEST_MESSAGE("not root: key ownership cannot be exercised, test skipped");
  return false;
}

// One handshake of a client configured by `configure` against `context`: whether it
// succeeded, from the server's side, and the log line.
struct Handshake {
  bool ok = false;
  std::string log;
};

Handshake handshake(const pop3::TlsContext& context, const std::function<void(SSL_CTX*)>& configure) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  Handshake result;
  pop3::OpenSslTransport io{pop3::FdTransport{fds[0], fds[0], 10s}, context,
                            [&](pop3::LogPriority, std::string_view m) { result.log = m; }};
  std::thread client_thread([&] {
    pop3::test::TlsClient client{fds[1], configure};
    (void)client.handshake();
    ::shutdown(fds[1], SHUT_RDWR);
  });
  std::error_code ec;
  io.start_tls({}, ec);
  client_thread.join();
  ::close(fds[0]);
  ::close(fds[1]);
  result.ok = !ec;
  return result;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(certificate_and_matching_key_make_a_context, Certificates) {
  std::string error;
  const auto context = make(cert.cert_file, cert.key_file, error);
  BOOST_TEST(static_cast<bool>(context), error);
  BOOST_TEST(handshake(*context, {}).ok);
}

BOOST_FIXTURE_TEST_CASE(key_readable_by_group_or_others_is_refused, Certificates) {
  for (const mode_t mode : {0640, 0604, 0660, 0644}) {
    ::chmod(cert.key_file.c_str(), mode);
    std::string error;
    BOOST_TEST(!make(cert.cert_file, cert.key_file, error));
    BOOST_TEST(error == cert.key_file + ": readable by group or others (chmod 600 " + cert.key_file + ")");
  }
  ::chmod(cert.key_file.c_str(), 0400);
  std::string error;
  BOOST_TEST(static_cast<bool>(make(cert.cert_file, cert.key_file, error)), error);
}

BOOST_FIXTURE_TEST_CASE(key_owned_by_another_user_is_refused, Certificates) {
  if (!is_root()) return;
  const passwd* nobody = ::getpwnam("nobody");
  BOOST_REQUIRE(nobody != nullptr);
  BOOST_REQUIRE(::chown(cert.key_file.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
  std::string error;
  BOOST_TEST(!make(cert.cert_file, cert.key_file, error));
  BOOST_TEST(error == cert.key_file + ": must be owned by root (or by the user running popa3d)");
}

BOOST_FIXTURE_TEST_CASE(key_of_another_certificate_is_refused, Certificates) {
  std::string error;
  BOOST_TEST(!make(cert.cert_file, other.key_file, error));
  BOOST_TEST(error == other.key_file + ": does not match the certificate in " + cert.cert_file);
}

BOOST_FIXTURE_TEST_CASE(missing_or_wrong_files_name_the_file, Certificates) {
  std::string error;
  BOOST_TEST(!make(dir.path().string() + "/none.pem", cert.key_file, error));
  BOOST_TEST(error.rfind(dir.path().string() + "/none.pem: ", 0) == 0u, error);
  BOOST_TEST(!make(cert.cert_file, dir.path().string() + "/none.key", error));
  BOOST_TEST(error == dir.path().string() + "/none.key: No such file or directory");
  // A certificate where the key should be.
  ::chmod(cert.cert_file.c_str(), 0600);
  BOOST_TEST(!make(cert.cert_file, cert.cert_file, error));
  BOOST_TEST(error.rfind(cert.cert_file + ": ", 0) == 0u, error);
  BOOST_TEST(!make(cert.cert_file, dir.path().string(), error));
  BOOST_TEST(error == dir.path().string() + ": not a regular file");
}

BOOST_FIXTURE_TEST_CASE(tls_1_1_and_older_are_refused, Certificates) {
  std::string error;
  const auto context = make(cert.cert_file, cert.key_file, error);
  BOOST_REQUIRE(context);
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    const Handshake h = handshake(*context, [&](SSL_CTX* ctx) {
      SSL_CTX_set_security_level(ctx, 0);  // Debian's client default would not even offer them
      SSL_CTX_set_min_proto_version(ctx, version);
      SSL_CTX_set_max_proto_version(ctx, version);
    });
    BOOST_TEST(!h.ok);
    BOOST_TEST(h.log.find("TLS handshake failed") == 0u, h.log);
  }
  BOOST_TEST(handshake(*context, [](SSL_CTX* ctx) { SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION); }).ok);
}

BOOST_FIXTURE_TEST_CASE(tls_1_2_without_ecdhe_and_aead_is_refused, Certificates) {
  std::string error;
  const auto context = make(cert.cert_file, cert.key_file, error);
  BOOST_REQUIRE(context);
  // CBC with ECDHE, and plain-RSA-less static suites: none is acceptable.
  for (const char* ciphers : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"}) {
    const Handshake h = handshake(*context, [&](SSL_CTX* ctx) {
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
      SSL_CTX_set_cipher_list(ctx, ciphers);
    });
    BOOST_TEST(!h.ok, ciphers);
  }
  for (const char* ciphers : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    BOOST_TEST(handshake(*context, [&](SSL_CTX* ctx) {
                 SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
                 SSL_CTX_set_cipher_list(ctx, ciphers);
               }).ok,
               ciphers);
  }
}

// A TLS 1.2 client asks for a new handshake in the middle of the session: the server does not
// take part, and the session's own bytes still flow. A client that also allows the unsafe
// legacy kind (as s_client -legacy_renegotiation) gets no further.
BOOST_FIXTURE_TEST_CASE(renegotiation_is_refused, Certificates) {
  std::string error;
  const auto context = make(cert.cert_file, cert.key_file, error);
  BOOST_REQUIRE(context);
  BOOST_TEST((SSL_CTX_get_options(context->get()) & SSL_OP_NO_RENEGOTIATION) != 0u);
  for (const std::uint64_t legacy : {std::uint64_t{0}, std::uint64_t{SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION}}) {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    pop3::OpenSslTransport io{pop3::FdTransport{fds[0], fds[0], 10s}, *context};
    bool renegotiated = true;
    std::thread client_thread([&] {
      pop3::test::TlsClient client{fds[1], [&](SSL_CTX* ctx) {
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx, legacy);
      }};
      if (!client.handshake()) return;
      renegotiated = SSL_renegotiate(client.ssl()) == 1 && client.handshake();
      ::shutdown(fds[1], SHUT_RDWR);
    });
    std::error_code ec;
    io.start_tls({}, ec);
    BOOST_REQUIRE(!ec);
    std::array<char, 64> buf{};
    // The server reads the client's renegotiation request here and declines it; the client
    // then gives up on the connection.
    BOOST_TEST(io.read_some(buf, ec) == 0u);
    client_thread.join();
    ::close(fds[0]);
    ::close(fds[1]);
    BOOST_TEST(!renegotiated, "legacy options " << legacy);
  }
}

// TLS compression (CRIME) is never used, even with a client that offers it: the context says
// so itself rather than relying on the library's build (Debian's OpenSSL has no zlib, so the
// handshake alone could not tell).
BOOST_FIXTURE_TEST_CASE(compression_is_never_negotiated, Certificates) {
  std::string error;
  const auto context = make(cert.cert_file, cert.key_file, error);
  BOOST_REQUIRE(context);
  BOOST_TEST((SSL_CTX_get_options(context->get()) & SSL_OP_NO_COMPRESSION) != 0u);
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  pop3::OpenSslTransport io{pop3::FdTransport{fds[0], fds[0], 10s}, *context};
  std::thread client_thread([&] {
    pop3::test::TlsClient client{fds[1], [](SSL_CTX* ctx) {
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);  // TLS 1.3 has no compression at all
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_clear_options(ctx, SSL_OP_NO_COMPRESSION);
    }};
    (void)client.handshake();
    ::shutdown(fds[1], SHUT_RDWR);
  });
  std::error_code ec;
  io.start_tls({}, ec);
  client_thread.join();
  BOOST_REQUIRE(!ec);
  BOOST_TEST(SSL_get_current_compression(io.native_handle()) == nullptr);
  ::close(fds[0]);
  ::close(fds[1]);
}
