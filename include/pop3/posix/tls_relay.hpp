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

#include "pop3/log.hpp"

namespace pop3::posix {

namespace detail {

inline bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// One direction's bytes: taken in whole from one side, given out in parts to the other.
struct RelayBuffer {
  std::array<char, 16384> bytes;  // one TLS record's worth of plaintext
  std::size_t begin = 0;
  std::size_t end = 0;
  [[nodiscard]] bool empty() const noexcept { return begin == end; }
  void clear() noexcept { begin = end = 0; }
};

// What a non-blocking SSL call that did not complete waits for.
struct TlsWait {
  bool read = false;
  bool write = false;
  bool failed = false;  // the connection is over (close_notify, error, reset)
};

inline TlsWait tls_wait(SSL* ssl, int ret) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ: return {true, false, false};
    case SSL_ERROR_WANT_WRITE: return {false, true, false};
    default: ERR_clear_error(); return {false, false, true};
  }
}

// close_notify, waiting at most `idle_timeout` for room to send it.
inline void send_close_notify(SSL* ssl, int in_fd, int out_fd, std::chrono::milliseconds idle_timeout) {
  if ((SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) != 0) return;
  const auto deadline = std::chrono::steady_clock::now() + idle_timeout;
  for (int round = 0; round < 64; ++round) {
    ERR_clear_error();
    const int ret = SSL_shutdown(ssl);
    if (ret >= 0) return;  // sent (0: the client's own not awaited)
    const TlsWait wait = tls_wait(ssl, ret);
    if (wait.failed) return;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{wait.write ? out_fd : in_fd, static_cast<short>(wait.write ? POLLOUT : POLLIN), 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), INT_MAX))) == 0) return;
  }
}

}  // namespace detail

// Relays until either side ends; `ssl` is the pre-auth child's session on the client's
// descriptors `in_fd` and `out_fd` (the same socket, or inetd's pair), `session_fd` its end
// of the socketpair. The SSL is taken over: it reads and writes the descriptors directly from
// now on. Returns the child's exit status: 0, or 1 when it could not start.
inline int relay_tls(SSL* ssl, int in_fd, int out_fd, int session_fd, std::chrono::milliseconds idle_timeout,
                     const LogSink& log) {
  BIO* rbio = BIO_new_fd(in_fd, BIO_NOCLOSE);
  BIO* wbio = in_fd == out_fd ? rbio : BIO_new_fd(out_fd, BIO_NOCLOSE);
  if (ssl == nullptr || rbio == nullptr || wbio == nullptr || !detail::set_nonblocking(in_fd) ||
      !detail::set_nonblocking(out_fd) || !detail::set_nonblocking(session_fd)) {
    if (wbio != rbio) BIO_free(wbio);
    BIO_free(rbio);
    log_line(log, LogPriority::crit, "TLS relay could not start");
    return 1;
  }
  if (wbio == rbio) BIO_up_ref(rbio);  // SSL_set_bio takes one reference per direction
  SSL_set_bio(ssl, rbio, wbio);
  if (idle_timeout <= std::chrono::milliseconds::zero()) idle_timeout = std::chrono::milliseconds{INT_MAX};

  detail::RelayBuffer up;    // client -> session process
  detail::RelayBuffer down;  // session process -> client
  bool client_open = true;
  bool session_open = true;
  for (;;) {
    bool progress = false;
    detail::TlsWait client;
    short session_events = 0;

    if (up.empty() && client_open) {
      std::size_t n = 0;
      ERR_clear_error();
      const int ret = SSL_read_ex(ssl, up.bytes.data(), up.bytes.size(), &n);
      if (ret == 1) {
        up.begin = 0;
        up.end = n;
        progress = true;
      } else {
        client = detail::tls_wait(ssl, ret);
        if (client.failed) client_open = false;
      }
    }
    if (!up.empty()) {
      const ssize_t n = ::send(session_fd, up.bytes.data() + up.begin, up.end - up.begin, MSG_NOSIGNAL);
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
      const ssize_t n = ::recv(session_fd, down.bytes.data(), down.bytes.size(), 0);
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
    if (!down.empty() && client_open) {
      std::size_t n = 0;
      ERR_clear_error();
      // Retried with the same bytes until it completes, as SSL_write requires.
      const int ret = SSL_write_ex(ssl, down.bytes.data() + down.begin, down.end - down.begin, &n);
      if (ret == 1) {
        down.clear();
        progress = true;
      } else {
        const detail::TlsWait wait = detail::tls_wait(ssl, ret);
        client.read = client.read || wait.read;
        client.write = client.write || wait.write;
        if (wait.failed) client_open = false;
      }
    }

    if (!client_open) {
      // The client is gone or said close_notify: the session process sees end of file.
      if ((SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0) {
        detail::send_close_notify(ssl, in_fd, out_fd, idle_timeout);
      }
      return 0;
    }
    if (!session_open && down.empty()) {
      detail::send_close_notify(ssl, in_fd, out_fd, idle_timeout);
      return 0;
    }
    if (progress) continue;

    std::array<pollfd, 3> fds{};
    nfds_t count = 0;
    if (client.read) fds[count++] = {in_fd, POLLIN, 0};
    if (client.write) fds[count++] = {out_fd, POLLOUT, 0};
    if (session_events != 0) fds[count++] = {session_fd, session_events, 0};
    // Bytes held for a side that takes none: that side has `idle_timeout`. Otherwise both
    // sides are waited for as long as the session process lives; it has its own timeout.
    const bool holding = !up.empty() || !down.empty();
    const int timeout = holding ? static_cast<int>(std::min<long long>(idle_timeout.count(), INT_MAX)) : -1;
    const int ready = ::poll(fds.data(), count, timeout);
    if (ready < 0 && errno != EINTR) return 1;
    if (ready == 0) {
      log_line(log, LogPriority::notice, "TLS relay: timeout");
      return 0;
    }
  }
}

}  // namespace pop3::posix
