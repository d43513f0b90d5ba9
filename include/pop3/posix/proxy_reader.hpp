// pop3/posix/proxy_reader.hpp: takes a PROXY protocol header (protocol/proxy_header.hpp) off a
// connected socket, and not one byte more.
//
//   pop3::posix::ProxyHeaderReader reader;
//   auto step = reader.step(fd);   // non-blocking: call again when fd is readable
//   if (step == pop3::posix::ProxyStep::complete) peer = pop3::posix::proxied_peer(reader.header(), peer);
//   // or, blocking with a deadline: step = pop3::posix::read_proxy_header(fd, proxy_header_timeout, reader);
//   if (step != complete) log(notice, proxy_address + pop3::posix::proxy_failure(step, reader));   // unless ""
//
// Each step peeks at what the socket holds (MSG_PEEK), parses it, and then consumes only what
// belongs to the header: everything while the header is incomplete, exactly its end once it
// is complete. The client's own bytes after the header stay in the socket for the session
// (or for the TLS handshake) to read, so nothing has to be handed on. At most
// max_proxy_header_size bytes are ever held.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "pop3/protocol/proxy_header.hpp"

namespace pop3::posix {

// How long a listed proxy has to send its header. The spec asks for at least 3 seconds (a TCP
// retransmit); a proxy sends the header at once with its connection, so more is only time a
// slot or a process is held by a connection that is not a proxy's.
inline constexpr std::chrono::seconds proxy_header_timeout{5};

enum class ProxyStep {
  complete,   // header() is set; the socket is at the client's first byte
  need_more,  // wait until the socket is readable again
  invalid,    // not a valid header
  closed,     // the peer closed (or reset) the connection; received() says after how much
  failed,     // another recv error
};

class ProxyHeaderReader {
 public:
  // One non-blocking round on `fd`.
  ProxyStep step(int fd) {
    if (have_ >= buffer_.size()) return ProxyStep::invalid;
    const ssize_t n = ::recv(fd, buffer_.data() + have_, buffer_.size() - have_, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return ProxyStep::closed;
    if (n < 0) {
      error_ = errno;
      if (error_ == EAGAIN || error_ == EWOULDBLOCK || error_ == EINTR) return ProxyStep::need_more;
      return error_ == ECONNRESET ? ProxyStep::closed : ProxyStep::failed;
    }
    const std::size_t seen = have_ + static_cast<std::size_t>(n);
    const ProxyParse parse = parse_proxy_header({buffer_.data(), seen}, header_);
    if (parse.status == ProxyParseStatus::invalid) return ProxyStep::invalid;
    // Incomplete, every byte seen is the header's; complete, the header ends at `consumed`.
    const std::size_t take = (parse.status == ProxyParseStatus::complete ? parse.consumed : seen) - have_;
    const ssize_t taken = ::recv(fd, buffer_.data() + have_, take, MSG_DONTWAIT);
    if (taken < 0 || static_cast<std::size_t>(taken) != take) {
      error_ = taken < 0 ? errno : EIO;
      return ProxyStep::failed;
    }
    have_ += take;
    return parse.status == ProxyParseStatus::complete ? ProxyStep::complete : ProxyStep::need_more;
  }

  [[nodiscard]] const ProxyHeader& header() const noexcept { return header_; }
  [[nodiscard]] std::size_t received() const noexcept { return have_; }
  [[nodiscard]] int error() const noexcept { return error_; }  // errno of the last failed step

 private:
  std::array<char, max_proxy_header_size> buffer_{};
  std::size_t have_ = 0;
  int error_ = 0;
  ProxyHeader header_;
};

// The client's address: the header's source when it names one, else `connection` (the
// proxy's own, for LOCAL and UNKNOWN).
inline sockaddr_storage proxied_peer(const ProxyHeader& header, const sockaddr_storage& connection) {
  if (!header.proxied) return connection;
  sockaddr_storage ss{};
  if (header.source.family == ProxyFamily::inet) {
    auto& sin = reinterpret_cast<sockaddr_in&>(ss);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(header.source.port);
    std::memcpy(&sin.sin_addr, header.source.bytes.data(), 4);
  } else {
    auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(header.source.port);
    std::memcpy(&sin6.sin6_addr, header.source.bytes.data(), 16);
  }
  return ss;
}

// True when the peer has closed or reset `fd` and sent nothing more: after a LOCAL header,
// HAProxy's health check (send-proxy-v2 with check: LOCAL, then a reset at once), which is
// then over without a session and without its log lines.
inline bool peer_gone(int fd) {
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

// Why a listed proxy's connection is dropped, to follow its address in a log line; "" when
// it closed before sending a byte (a proxy's TCP health check, which is no news). `step` is
// not complete; need_more means the time ran out.
inline std::string proxy_failure(ProxyStep step, const ProxyHeaderReader& reader) {
  switch (step) {
    case ProxyStep::invalid: return ": invalid PROXY header";
    case ProxyStep::failed: return ": PROXY header: " + std::string(std::strerror(reader.error()));
    case ProxyStep::closed: return reader.received() > 0 ? ": connection closed in the PROXY header" : "";
    case ProxyStep::need_more:
      return ": no PROXY header within " + std::to_string(proxy_header_timeout.count()) + " seconds";
    case ProxyStep::complete: break;
  }
  return {};
}

// The header from blocking `fd` within `timeout` (inetd mode) into `reader`: complete,
// invalid, closed or failed; need_more means the time ran out.
inline ProxyStep read_proxy_header(int fd, std::chrono::milliseconds timeout, ProxyHeaderReader& reader) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  // Bounded: each round that is not the last takes a byte, or waits out the time.
  for (std::size_t round = 0; round <= max_proxy_header_size + 1; ++round) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return ProxyStep::need_more;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return ProxyStep::failed;
    if (ready <= 0) continue;
    const ProxyStep step = reader.step(fd);
    if (step != ProxyStep::need_more) return step;
  }
  return ProxyStep::need_more;
}

}  // namespace pop3::posix
