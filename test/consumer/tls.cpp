// Builds against the installed headers and the component pop3::tls: a TLS context is refused
// for a key file that does not exist, with the one-line error the daemon prints, and an
// OpenSslTransport over an FdTransport without a context cannot start TLS.
//   consumer_tls
#include <cstdio>
#include <string>

#include <pop3/transport/fd.hpp>
#include <pop3/transport/tls.hpp>

int main() {
  std::string error;
  if (pop3::make_tls_context({"/nonexistent/cert.pem", "/nonexistent/key.pem"}, error) ||
      error.rfind("/nonexistent/cert.pem: ", 0) != 0) {
    std::fprintf(stderr, "consumer_tls: unexpected: %s\n", error.c_str());
    return 1;
  }
  pop3::OpenSslTransport io{pop3::FdTransport{0, 1, pop3::FdTransport::default_idle_timeout}, pop3::TlsContext{}};
  std::error_code ec;
  io.start_tls({}, ec);
  if (ec != pop3::errc::tls_failed || io.tls_active()) {
    std::fprintf(stderr, "consumer_tls: start_tls without a context: %s\n", ec.message().c_str());
    return 1;
  }
  return 0;
}
