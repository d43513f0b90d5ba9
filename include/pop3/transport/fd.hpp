// pop3/transport/fd.hpp: a TransportPolicy over two file descriptors, with popa3d's idle timeout.
//
// Reads from `in_fd` and writes to `out_fd` (the same socket in both inetd and -D mode, where
// the process model has put it on descriptors 0 and 1). The descriptors are not owned: the
// transport never closes them.
//
//   pop3::FdTransport io{0, 1, pop3::FdTransport::default_idle_timeout};
//   std::error_code ec;
//   io.write(std::string_view{"+OK\r\n"}, ec);
//
// @par Concepts
//   TransportPolicy
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <span>
#include <system_error>

#include "pop3/concepts.hpp"
#include "pop3/error.hpp"

namespace pop3 {

class FdTransport {
 public:
  // RFC 1939 s.3: the autologout timer is at least 10 minutes (popa3d POP_TIMEOUT). Here and
  // not in Limits: the transport is what waits for the client.
  static constexpr std::chrono::seconds default_idle_timeout{600};

  // idle_timeout: how long one read may wait for the client, and how long one write() may take
  // as a whole. Zero or negative: wait forever.
  FdTransport(int in_fd, int out_fd, std::chrono::milliseconds idle_timeout) noexcept
      : in_fd_(in_fd), out_fd_(out_fd), idle_timeout_(idle_timeout) {
    int type = 0;
    socklen_t length = sizeof type;
    out_is_socket_ = ::getsockopt(out_fd_, SOL_SOCKET, SO_TYPE, &type, &length) == 0;
    if (out_is_socket_) {
      // The engine writes each reply whole; without TCP_NODELAY a reply that follows another
      // (the +OK of PASS after the greeting, a pipelined QUIT) waits for the client's delayed
      // ACK. Fails harmlessly on a non-TCP socket, so the result is ignored.
      const int on = 1;
      (void)::setsockopt(out_fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
  }

  // Some bytes from the client: 1..buf.size(), or 0 with ec = errc::timeout after the idle
  // limit, errc::eof when the client closed its side or the read failed (popa3d treats both
  // as a disconnect).
  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    assert(!buf.empty());
    const Deadline deadline{idle_timeout_};
    for (;;) {
      if (!wait_for(in_fd_, POLLIN, deadline, ec)) return 0;
      const ssize_t n = ::read(in_fd_, buf.data(), buf.size());
      if (n > 0) {
        ec.clear();
        return static_cast<std::size_t>(n);
      }
      // A non-blocking descriptor whose readiness was spurious: wait again, same deadline.
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      ec = errc::eof;
      return 0;
    }
  }

  // All of `bytes`, or ec set: errc::eof when the client is gone (EPIPE, ECONNRESET, any write
  // error), errc::timeout when the whole call took longer than the idle limit.
  //
  // One deadline for the call, not one per system call: a client that accepts a few bytes
  // before each idle period ends would otherwise hold its session for ever. So no system call
  // here waits past it: sends to a socket never block (MSG_DONTWAIT; the descriptor's own
  // flags are the client's and stay as they are), and anything else is written only once
  // poll() saw room, at most PIPE_BUF bytes, which a pipe then takes without waiting. The
  // engine hands over at most 768 KiB per call (under 256 KiB of queued replies, then one
  // 256 KiB chunk of message text, at worst doubled by the CR LF encoding: server.hpp), so
  // with the default 600 s a client that takes in 1.3 KB a second or more is never dropped.
  void write(std::span<const char> bytes, std::error_code& ec) {
    ec.clear();
    const Deadline deadline{idle_timeout_};
    while (!bytes.empty()) {
      if (!out_is_socket_ && !wait_for(out_fd_, POLLOUT, deadline, ec)) return;
      // MSG_NOSIGNAL: a closed connection is an error code here, not a SIGPIPE, even when the
      // library is used by a program that did not ignore the signal.
      const ssize_t n =
          out_is_socket_
              ? ::send(out_fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT)
              : ::write(out_fd_, bytes.data(), std::min<std::size_t>(bytes.size(), PIPE_BUF));
      if (n > 0) {
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Full: wait for room, same deadline (a non-socket waits at the top of the loop).
        if (out_is_socket_ && !wait_for(out_fd_, POLLOUT, deadline, ec)) return;
        continue;
      }
      ec = errc::eof;
      return;
    }
  }

 private:
  // One idle period: a retried poll() or system call must not restart the clock.
  struct Deadline {
    explicit Deadline(std::chrono::milliseconds timeout)
        : forever(timeout <= std::chrono::milliseconds::zero()),
          at(std::chrono::steady_clock::now() + (forever ? std::chrono::milliseconds::zero() : timeout)) {}
    // poll()'s timeout argument for what is left: -1 = forever, 0 = expired.
    [[nodiscard]] int poll_timeout() const {
      if (forever) return -1;
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(at - std::chrono::steady_clock::now()).count();
      if (left <= 0) return 0;
      return left > INT_MAX ? INT_MAX : static_cast<int>(left);
    }
    bool forever;
    std::chrono::steady_clock::time_point at;
  };

  // Waits until `fd` is ready for `events`. false with ec set on timeout (errc::timeout) or a
  // poll() failure (errc::eof). POLLHUP/POLLERR count as ready: the read or write that follows
  // reports the end.
  static bool wait_for(int fd, short events, const Deadline& deadline, std::error_code& ec) {
    for (;;) {
      pollfd p{fd, events, 0};
      const int timeout = deadline.poll_timeout();
      const int r = ::poll(&p, 1, timeout);
      if (r > 0) return true;
      if (r == 0) {
        // poll() may return a little early; only a spent deadline is a timeout.
        if (deadline.poll_timeout() != 0) continue;
        ec = errc::timeout;
        return false;
      }
      if (errno == EINTR) continue;
      ec = errc::eof;
      return false;
    }
  }

  int in_fd_;
  int out_fd_;
  std::chrono::milliseconds idle_timeout_;
  bool out_is_socket_ = false;
};

static_assert(TransportPolicy<FdTransport>, "FdTransport must model pop3::TransportPolicy");

}  // namespace pop3
