// pop3/posix/tls_relay.hpp: the pre-auth child's last job with TLS: it stays the session's TLS
// endpoint and relays plaintext between the client's TLS connection and the socketpair whose
// other end is the session process's descriptors 0 and 1 (privsep.hpp), as Dovecot's login
// processes proxy for their post-login processes.
//
//   pop3::posix::SessionTls tls;
//   tls.relay = [&](int session_fd) {
//     return pop3::posix::relay_tls(server.transport().native_handle(), 0, 1, session_fd, timeout, log);
//   };
//   pop3::posix::run_privsep_session(server, config, log, tls);
//
// Both sides are non-blocking and served in turn from one poll() loop, so a client that
// pipelines while a long RETR streams cannot wedge the two processes against each other.
// OpenSSL reads the client's socket itself and writes its records into memory, which goes
// out in large write()s: 16 KiB records, many per system call.
// The relay ends when either side does: the session process's end (after QUIT, or killed)
// gets the client a close_notify; the client's end (or the relay killed) gets the session
// process end of file, which it takes as a premature disconnect, with no UPDATE. It waits
// for nobody indefinitely while it holds bytes for a side: `idle_timeout` bounds that.
#pragma once

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>

#include "pop3/log.hpp"

namespace pop3::posix {

namespace detail {

inline bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// One direction's bytes: taken in whole from one side, given out in parts to the other. Not
// zeroed: a short session (login, STAT, QUIT) then never touches most of its pages.
template <std::size_t Size>
struct RelayBuffer {
  std::unique_ptr<char[]> bytes = std::make_unique_for_overwrite<char[]>(Size);
  std::size_t begin = 0;
  std::size_t end = 0;
  static constexpr std::size_t size = Size;
  [[nodiscard]] bool empty() const noexcept { return begin == end; }
  void clear() noexcept { begin = end = 0; }
};

// The relay's TLS side: OpenSSL reads the client's descriptor itself (non-blocking) and
// writes its records into a string, from which they go out in as few write()s as the socket
// takes: a 256 KiB block of message text is 16 records of 16 KiB in one system call.
class RelayTls {
 public:
  RelayTls(SSL* ssl, int in_fd, int out_fd) : ssl_(ssl), in_fd_(in_fd), out_fd_(out_fd) {}

  bool attach() {
    BIO_METHOD* method = sink_method();
    BIO* rbio = BIO_new_fd(in_fd_, BIO_NOCLOSE);
    BIO* wbio = method != nullptr ? BIO_new(method) : nullptr;
    if (rbio == nullptr || wbio == nullptr) {
      BIO_free(rbio);
      BIO_free(wbio);
      return false;
    }
    BIO_set_data(wbio, &out_);
    BIO_set_init(wbio, 1);
    SSL_set_bio(ssl_, rbio, wbio);
    return true;
  }

  // Plaintext from the client: > 0 bytes; 0 when it has none now (want_read_ set); -1 at its
  // end (close_notify, an error, a reset).
  long read(char* data, std::size_t size) {
    std::size_t n = 0;
    ERR_clear_error();
    const int ret = SSL_read_ex(ssl_, data, size, &n);
    want_read_ = false;
    if (ret == 1) return static_cast<long>(n);
    if (SSL_get_error(ssl_, ret) == SSL_ERROR_WANT_READ) {
      want_read_ = true;
      return 0;
    }
    ERR_clear_error();
    return -1;
  }

  // Encrypts all of `data` into records waiting to be sent; false if the connection failed.
  bool write(const char* data, std::size_t size) {
    std::size_t n = 0;
    ERR_clear_error();
    const int ret = SSL_write_ex(ssl_, data, size, &n);  // into memory: never partial
    ERR_clear_error();
    return ret == 1;
  }

  void close_notify() {
    if ((SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) != 0) return;
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
  }

  // Sends what it can of the waiting records; false if the client's side is gone.
  bool send() {
    while (out_begin_ < out_.size()) {
      const ssize_t n = ::write(out_fd_, out_.data() + out_begin_, out_.size() - out_begin_);
      if (n > 0) {
        out_begin_ += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    out_.clear();
    out_begin_ = 0;
    return true;
  }

  [[nodiscard]] std::size_t unsent() const noexcept { return out_.size() - out_begin_; }
  [[nodiscard]] bool want_read() const noexcept { return want_read_; }
  [[nodiscard]] bool received_close_notify() const noexcept {
    return (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0;
  }

 private:
  // The write BIO: appends OpenSSL's records to out_ (a memory BIO would copy them once
  // more, and zero its whole buffer on every reset).
  static int sink_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
    static_cast<std::string*>(BIO_get_data(bio))->append(data, size);
    *written = size;
    return 1;
  }
  static long sink_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }
  static BIO_METHOD* sink_method() {
    static BIO_METHOD* const m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pop3 relay records");
      if (made != nullptr) {
        BIO_meth_set_write_ex(made, &sink_write);
        BIO_meth_set_ctrl(made, &sink_ctrl);
      }
      return made;
    }();
    return m;
  }

  SSL* ssl_;
  int in_fd_;
  int out_fd_;
  std::string out_;  // records for the client, from out_begin_ on
  std::size_t out_begin_ = 0;
  bool want_read_ = false;
};

inline int poll_timeout(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::min<long long>(timeout.count(), INT_MAX));
}

// Sends the last records (close_notify), waiting at most `idle_timeout` for room.
inline void drain(RelayTls& tls, int out_fd, std::chrono::milliseconds idle_timeout) {
  const auto deadline = std::chrono::steady_clock::now() + idle_timeout;
  while (tls.send() && tls.unsent() > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{out_fd, POLLOUT, 0};
    if (left.count() <= 0 || ::poll(&p, 1, poll_timeout(left)) == 0) return;
  }
}

}  // namespace detail

// Relays until either side ends; `ssl` is the pre-auth child's session on the client's
// descriptors `in_fd` and `out_fd` (the same socket, or inetd's pair), `session_fd` its end
// of the socketpair. The SSL is taken over: it reads the client's descriptor directly from
// now on. Returns the child's exit status: 0, or 1 when it could not start.
inline int relay_tls(SSL* ssl, int in_fd, int out_fd, int session_fd, std::chrono::milliseconds idle_timeout,
                     const LogSink& log) {
  detail::RelayTls tls{ssl, in_fd, out_fd};
  if (ssl == nullptr || !tls.attach() || !detail::set_nonblocking(in_fd) || !detail::set_nonblocking(out_fd) ||
      !detail::set_nonblocking(session_fd)) {
    log_line(log, LogPriority::crit, "TLS relay could not start");
    return 1;
  }
  if (idle_timeout <= std::chrono::milliseconds::zero()) idle_timeout = std::chrono::milliseconds{INT_MAX};

  // Client to session: a command line or a few; session to client: the engine's blocks of
  // message text, up to 256 KiB at a time, encrypted once there is room for their records.
  // Larger is not faster: a 1 MiB buffer with a 1 MiB socket pair cut the wakeups by two
  // thirds and lost wall and CPU time, the three stages (session, relay, client) sharing two
  // cores overlapping less (DESIGN.md).
  detail::RelayBuffer<16384> up;
  detail::RelayBuffer<262144> down;
  constexpr std::size_t max_unsent = 262144;
  bool client_open = true;
  bool session_open = true;
  for (;;) {
    bool progress = false;
    short session_events = 0;

    if (up.empty() && client_open) {
      const long n = tls.read(up.bytes.get(), up.size);
      if (n > 0) {
        up.begin = 0;
        up.end = static_cast<std::size_t>(n);
        progress = true;
      } else if (n < 0) {
        client_open = false;
      }
    }
    if (!up.empty()) {
      const ssize_t n = ::send(session_fd, up.bytes.get() + up.begin, up.end - up.begin, MSG_NOSIGNAL);
      if (n > 0) {
        up.begin += static_cast<std::size_t>(n);
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        session_events |= POLLOUT;
      } else {
        session_open = false;
        up.clear();
      }
    }
    if (down.empty() && session_open) {
      const ssize_t n = ::recv(session_fd, down.bytes.get(), down.size, 0);
      if (n > 0) {
        down.begin = 0;
        down.end = static_cast<std::size_t>(n);
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        session_events |= POLLIN;
      } else {
        session_open = false;
      }
    }
    if (!down.empty() && client_open && tls.unsent() < max_unsent) {
      if (tls.write(down.bytes.get() + down.begin, down.end - down.begin)) {
        down.clear();
        progress = true;
      } else {
        client_open = false;
      }
    }
    if (client_open && tls.unsent() > 0) {
      const std::size_t before = tls.unsent();
      if (!tls.send()) client_open = false;
      if (tls.unsent() < before) progress = true;
    }

    if (!client_open) {
      // The client is gone or said close_notify: the session process sees end of file.
      if (tls.received_close_notify()) {
        tls.close_notify();
        detail::drain(tls, out_fd, idle_timeout);
      }
      return 0;
    }
    if (!session_open && down.empty()) {
      tls.close_notify();
      detail::drain(tls, out_fd, idle_timeout);
      return 0;
    }
    if (progress) continue;

    std::array<pollfd, 3> fds{};
    nfds_t count = 0;
    if (tls.want_read() && up.empty()) fds[count++] = {in_fd, POLLIN, 0};
    if (tls.unsent() > 0) fds[count++] = {out_fd, POLLOUT, 0};
    if (session_events != 0) fds[count++] = {session_fd, session_events, 0};
    // Bytes held for a side that takes none: that side has `idle_timeout`. Otherwise both
    // sides are waited for as long as the session process lives; it has its own timeout.
    const bool holding = !up.empty() || !down.empty() || tls.unsent() > 0;
    const int ready = ::poll(fds.data(), count, holding ? detail::poll_timeout(idle_timeout) : -1);
    if (ready < 0 && errno != EINTR) return 1;
    if (ready == 0) {
      log_line(log, LogPriority::notice, "TLS relay: timeout");
      return 0;
    }
  }
}

}  // namespace pop3::posix
