// pop3/transport/tls.hpp: OpenSslTransport<Next>, a TlsTransport over another transport:
// plaintext until start_tls(), then OpenSSL's server side over the Next transport's bytes.
//
//   pop3::OpenSslTransport io{pop3::FdTransport{0, 1, timeout}, context, log, "192.0.2.1"};
//   io.start_tls({}, ec);                  // implicit TLS (port 995); STLS: the engine calls it
//   io.write(std::string_view{"+OK\r\n"}, ec);   // one TLS record, in one write of Next
//   io.close_notify(ec);                   // after QUIT
//
// OpenSSL reads and writes through a BIO of our own over Next, so Next's idle timeout bounds
// every wait of the handshake and of the session alike. Reads go straight to Next (after the
// read-ahead bytes a layer below had read); what OpenSSL writes is gathered and handed to
// Next once per call (a reply, a 16 KiB-record run of message text, a handshake flight), so a
// write keeps Next's one deadline for the whole call. A failed handshake is logged with the
// peer's address and gets no plaintext reply (at most OpenSSL's TLS alert); a good one logs
// the TLS version and cipher.
//
// @par Concepts
//   TransportPolicy, TlsTransport
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cassert>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/concepts.hpp"
#include "pop3/error.hpp"
#include "pop3/log.hpp"
#include "pop3/transport/fd.hpp"
#include "pop3/transport/tls_context.hpp"

namespace pop3 {

namespace detail {

// What the BIO works on. On the heap, so that the BIO's pointer to it survives a move of the
// transport (Pop3Server takes its transport by value).
template <class Next>
struct TlsIo {
  Next next;
  std::string read_ahead;  // client bytes to give OpenSSL before reading from Next
  std::size_t read_ahead_used = 0;
  std::string out;     // ciphertext OpenSSL wrote, not yet handed to Next
  std::error_code ec;  // why Next failed, for the caller (errc::timeout stays a timeout)

  bool flush() {
    if (out.empty()) return true;
    next.write(std::span<const char>(out.data(), out.size()), ec);
    out.clear();
    return !ec;
  }

  static TlsIo* of(BIO* bio) { return static_cast<TlsIo*>(BIO_get_data(bio)); }

  static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
    of(bio)->out.append(data, size);
    *written = size;
    return 1;
  }

  static int bio_read(BIO* bio, char* data, std::size_t size, std::size_t* read) {
    TlsIo* io = of(bio);
    BIO_clear_retry_flags(bio);
    // OpenSSL waits for the client only after its own flight is out.
    if (!io->flush()) return 0;
    if (io->read_ahead_used < io->read_ahead.size()) {
      const std::size_t n = std::min(size, io->read_ahead.size() - io->read_ahead_used);
      std::memcpy(data, io->read_ahead.data() + io->read_ahead_used, n);
      io->read_ahead_used += n;
      if (io->read_ahead_used == io->read_ahead.size()) std::string().swap(io->read_ahead);
      *read = n;
      return 1;
    }
    const std::size_t n = io->next.read_some(std::span<char>(data, size), io->ec);
    if (n == 0) return 0;  // no retry flag: OpenSSL sees the end (SSL_ERROR_SYSCALL)
    *read = n;
    return 1;
  }

  static long bio_ctrl(BIO* bio, int command, long, void*) {
    if (command == BIO_CTRL_FLUSH) return of(bio)->flush() ? 1 : 0;
    return 0;
  }

  static BIO_METHOD* method() {
    // One per Next type for the life of the process; OpenSSL keeps no other state in it.
    static BIO_METHOD* const m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pop3 transport");
      if (made != nullptr) {
        BIO_meth_set_write_ex(made, &bio_write);
        BIO_meth_set_read_ex(made, &bio_read);
        BIO_meth_set_ctrl(made, &bio_ctrl);
      }
      return made;
    }();
    return m;
  }
};

struct SslFree {
  void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};

}  // namespace detail

template <TransportPolicy Next>
class OpenSslTransport {
 public:
  // `context` may be empty: then start_tls() always fails, and this is Next with a branch.
  OpenSslTransport(Next next, TlsContext context, LogSink log = {}, std::string peer = {})
      : io_(std::make_unique<detail::TlsIo<Next>>(detail::TlsIo<Next>{std::move(next), {}, 0, {}, {}})),
        context_(std::move(context)),
        log_(std::move(log)),
        peer_(std::move(peer)) {}

  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    assert(!buf.empty());
    if (!ssl_) return io_->next.read_some(buf, ec);
    ERR_clear_error();
    io_->ec.clear();
    std::size_t n = 0;
    const int ok = SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n);
    // A TLS 1.3 KeyUpdate or an alert may have left a record to send.
    const bool flushed = io_->flush();
    if (ok == 1 && flushed) {
      ec.clear();
      return n;
    }
    ec = failure();
    return 0;
  }

  void write(std::span<const char> bytes, std::error_code& ec) {
    if (!ssl_) return io_->next.write(bytes, ec);
    ERR_clear_error();
    io_->ec.clear();
    while (!bytes.empty()) {
      const std::size_t chunk = std::min<std::size_t>(bytes.size(), INT_MAX);
      std::size_t written = 0;
      const int ok = SSL_write_ex(ssl_.get(), bytes.data(), chunk, &written);
      if (ok != 1) {
        io_->out.clear();
        ec = failure();
        return;
      }
      bytes = bytes.subspan(written);
    }
    ec = io_->flush() ? std::error_code{} : io_->ec;
  }

  // The server side of the handshake, fed first with `read_ahead`. On failure ec is
  // errc::tls_failed, or errc::timeout when the client went quiet; either way it is logged.
  void start_tls(std::string_view read_ahead, std::error_code& ec) {
    assert(!ssl_);
    ERR_clear_error();
    io_->ec.clear();
    io_->read_ahead.assign(read_ahead);
    io_->read_ahead_used = 0;
    BIO_METHOD* method = detail::TlsIo<Next>::method();
    BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
    std::unique_ptr<SSL, detail::SslFree> ssl{context_ ? SSL_new(context_.get()) : nullptr};
    if (bio == nullptr || !ssl) {
      BIO_free(bio);
      log_line(log_, LogPriority::crit, "TLS: " + (context_ ? detail::openssl_error() : std::string("no certificate")));
      ec = errc::tls_failed;
      return;
    }
    BIO_set_data(bio, io_.get());
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl.get(), bio, bio);
    SSL_set_accept_state(ssl.get());
    const int ok = SSL_do_handshake(ssl.get());
    const bool flushed = io_->flush();
    if (ok != 1 || !flushed) {
      const bool quiet = io_->ec == errc::timeout;
      const std::string why = quiet        ? std::string("timeout")
                              : io_->ec    ? std::string("client disconnected")
                                           : detail::openssl_error();
      log_line(log_, LogPriority::notice, "TLS handshake failed" + from() + ": " + why);
      ec = quiet ? std::error_code(errc::timeout) : std::error_code(errc::tls_failed);
      return;
    }
    ssl_ = std::move(ssl);
    log_line(log_, LogPriority::info,
             "TLS " + std::string(SSL_get_version(ssl_.get())) + " " + SSL_get_cipher_name(ssl_.get()) + from());
    ec.clear();
  }

  [[nodiscard]] bool tls_active() const noexcept { return static_cast<bool>(ssl_); }

  // Sends close_notify (once; the client's own is not waited for). Nothing without TLS.
  void close_notify(std::error_code& ec) {
    ec.clear();
    if (!ssl_ || (SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) != 0) return;
    ERR_clear_error();
    io_->ec.clear();
    (void)SSL_shutdown(ssl_.get());
    ERR_clear_error();
    if (!io_->flush()) ec = io_->ec;
  }

  // Gives up this process's reference to the context, and so the private key with it when no
  // other is left; start_tls() fails from then on. The process model calls it before a
  // session process changes to the mail user.
  void forget_context() noexcept { context_.reset(); }

  // The connection's SSL, for a relay that takes over the descriptors (posix/tls_relay.hpp);
  // null before start_tls().
  [[nodiscard]] SSL* native_handle() const noexcept { return ssl_.get(); }

  Next& next_layer() noexcept { return io_->next; }

 private:
  std::string from() const { return peer_.empty() ? std::string() : " from " + peer_; }

  // The session's end after a failed SSL call: Next's own error if it had one (a timeout
  // stays one), the client's close_notify, a protocol error or a broken connection as eof.
  std::error_code failure() {
    ERR_clear_error();
    return io_->ec ? io_->ec : std::error_code(errc::eof);
  }

  std::unique_ptr<detail::TlsIo<Next>> io_;
  std::unique_ptr<SSL, detail::SslFree> ssl_;
  TlsContext context_;
  LogSink log_;
  std::string peer_;
};

static_assert(TlsTransport<OpenSslTransport<FdTransport>>, "OpenSslTransport must model pop3::TlsTransport");

}  // namespace pop3
