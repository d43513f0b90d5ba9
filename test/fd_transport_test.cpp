// Tests of pop3/transport/fd.hpp over pipes, socket pairs and a loopback TCP connection.
#define BOOST_TEST_MODULE fd_transport
#include <boost/test/unit_test.hpp>

#include "pop3/transport/fd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct Fds {
  int a = -1;
  int b = -1;
  ~Fds() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
  void close_a() { ::close(a); a = -1; }
  void close_b() { ::close(b); b = -1; }
};

Fds make_pipe() {
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  return {fds[0], fds[1]};  // a: read end, b: write end
}

Fds make_socketpair() {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  return {fds[0], fds[1]};
}

std::span<const char> bytes(std::string_view s) { return {s.data(), s.size()}; }

// Reads until `want` bytes or end of input (bounded by `want`).
std::string drain(int fd, std::size_t want) {
  std::string got;
  std::array<char, 65536> buf;
  while (got.size() < want) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    got.append(buf.data(), static_cast<std::size_t>(n));
  }
  return got;
}

extern "C" void on_alarm(int) {}

}  // namespace

BOOST_AUTO_TEST_CASE(reads_what_the_peer_wrote) {
  Fds p = make_pipe();
  pop3::FdTransport t{p.a, -1, 5s};
  BOOST_REQUIRE(::write(p.b, "USER alice\r\n", 12) == 12);
  std::array<char, 64> buf{};
  std::error_code ec;
  const std::size_t n = t.read_some(buf, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(std::string_view(buf.data(), n) == "USER alice\r\n");
}

BOOST_AUTO_TEST_CASE(read_never_exceeds_the_buffer) {
  Fds p = make_pipe();
  pop3::FdTransport t{p.a, -1, 5s};
  BOOST_REQUIRE(::write(p.b, "abcdef", 6) == 6);
  std::array<char, 4> buf{};
  std::error_code ec;
  BOOST_TEST(t.read_some(buf, ec) == 4u);
  BOOST_TEST(t.read_some(buf, ec) == 2u);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(closed_peer_is_eof) {
  Fds p = make_pipe();
  pop3::FdTransport t{p.a, -1, 5s};
  p.close_b();
  std::array<char, 16> buf{};
  std::error_code ec;
  BOOST_TEST(t.read_some(buf, ec) == 0u);
  BOOST_TEST((ec == pop3::errc::eof));
}

BOOST_AUTO_TEST_CASE(read_error_is_eof) {
  // A descriptor that is not open: poll() reports POLLNVAL, read() fails with EBADF.
  int closed_fd = -1;
  {
    Fds p = make_pipe();
    closed_fd = p.a;
  }
  pop3::FdTransport t{closed_fd, -1, 5s};
  std::array<char, 16> buf{};
  std::error_code ec;
  BOOST_TEST(t.read_some(buf, ec) == 0u);
  BOOST_TEST((ec == pop3::errc::eof));
}

BOOST_AUTO_TEST_CASE(idle_client_times_out) {
  Fds p = make_pipe();
  pop3::FdTransport t{p.a, -1, 30ms};
  std::array<char, 16> buf{};
  std::error_code ec;
  BOOST_TEST(t.read_some(buf, ec) == 0u);
  BOOST_TEST((ec == pop3::errc::timeout));
}

BOOST_AUTO_TEST_CASE(a_signal_does_not_end_the_wait) {
  // SIGALRM without SA_RESTART interrupts poll() with EINTR; the read must go on waiting.
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  struct sigaction old {};
  BOOST_REQUIRE(::sigaction(SIGALRM, &sa, &old) == 0);
  Fds p = make_pipe();
  pop3::FdTransport t{p.a, -1, 10s};
  std::thread writer([fd = p.b] {
    std::this_thread::sleep_for(200ms);
    BOOST_CHECK(::write(fd, "NOOP\r\n", 6) == 6);
  });
  itimerval timer{};
  timer.it_value.tv_usec = 20000;
  BOOST_REQUIRE(::setitimer(ITIMER_REAL, &timer, nullptr) == 0);
  std::array<char, 16> buf{};
  std::error_code ec;
  const std::size_t n = t.read_some(buf, ec);
  writer.join();
  ::sigaction(SIGALRM, &old, nullptr);
  BOOST_TEST(!ec);
  BOOST_TEST(std::string_view(buf.data(), n) == "NOOP\r\n");
}

BOOST_AUTO_TEST_CASE(write_sends_everything_across_short_writes) {
  // 4 MiB through a socket pair: the kernel takes it in many short writes.
  Fds s = make_socketpair();
  pop3::FdTransport t{s.a, s.a, 10s};
  std::string big(4u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::string got;
  std::thread reader([&] { got = drain(s.b, big.size()); });
  std::error_code ec;
  t.write(bytes(big), ec);
  reader.join();
  BOOST_TEST(!ec);
  BOOST_TEST((got == big));
}

BOOST_AUTO_TEST_CASE(write_sends_everything_through_a_pipe) {
  // Through a pipe in PIPE_BUF pieces, each after poll() saw room.
  Fds p = make_pipe();
  pop3::FdTransport t{-1, p.b, 10s};
  std::string big(1u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  std::string got;
  std::thread reader([&] { got = drain(p.a, big.size()); });
  std::error_code ec;
  t.write(bytes(big), ec);
  reader.join();
  BOOST_TEST(!ec);
  BOOST_TEST((got == big));
}

BOOST_AUTO_TEST_CASE(write_to_a_closed_socket_is_eof_without_sigpipe) {
  // SIGPIPE at its default would kill this test: MSG_NOSIGNAL must prevent it.
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  struct sigaction old {};
  BOOST_REQUIRE(::sigaction(SIGPIPE, &sa, &old) == 0);
  Fds s = make_socketpair();
  pop3::FdTransport t{s.a, s.a, 5s};
  s.close_b();
  std::error_code ec;
  t.write(bytes("+OK\r\n"), ec);
  ::sigaction(SIGPIPE, &old, nullptr);
  BOOST_TEST((ec == pop3::errc::eof));
}

BOOST_AUTO_TEST_CASE(write_to_a_closed_pipe_is_eof) {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;  // as the daemon does at startup
  struct sigaction old {};
  BOOST_REQUIRE(::sigaction(SIGPIPE, &sa, &old) == 0);
  Fds p = make_pipe();
  pop3::FdTransport t{-1, p.b, 5s};
  p.close_a();
  std::error_code ec;
  t.write(bytes("+OK\r\n"), ec);
  ::sigaction(SIGPIPE, &old, nullptr);
  BOOST_TEST((ec == pop3::errc::eof));
}

BOOST_AUTO_TEST_CASE(client_that_stops_reading_times_out) {
  // A non-blocking socket whose peer reads nothing: EAGAIN, then poll(POLLOUT) runs out.
  Fds s = make_socketpair();
  BOOST_REQUIRE(::fcntl(s.a, F_SETFL, O_NONBLOCK) == 0);
  pop3::FdTransport t{s.a, s.a, 50ms};
  const std::string big(8u << 20, 'x');
  std::error_code ec;
  t.write(bytes(big), ec);
  BOOST_TEST((ec == pop3::errc::timeout));
}

BOOST_AUTO_TEST_CASE(blocking_socket_that_stops_being_read_times_out) {
  // A blocking socket (as inetd hands over): the sends do not block, poll() runs out.
  Fds s = make_socketpair();
  pop3::FdTransport t{s.a, s.a, 50ms};
  const std::string big(8u << 20, 'x');
  std::error_code ec;
  t.write(bytes(big), ec);
  BOOST_TEST((ec == pop3::errc::timeout));
}

// A client that reads a little every 100 ms, so that some bytes go out well within every idle
// period, against a write of far more than it reads: the write must end with errc::timeout
// once its one deadline has passed. After max_reads the reader shuts its end, so a write
// that had no such deadline ends with errc::eof instead.
void slow_reader_times_out(Fds& fds, bool socket) {
  constexpr int max_reads = 100;
  pop3::FdTransport t{-1, fds.b, 1s};
  const std::string big(4u << 20, 'x');
  std::atomic<bool> written{false};
  int reads = 0;
  std::thread reader([&] {
    std::array<char, 4096> buf;
    for (; reads < max_reads && !written; ++reads) {
      std::this_thread::sleep_for(100ms);
      pollfd p{fds.a, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1 && ::read(fds.a, buf.data(), buf.size()) <= 0) break;
    }
    if (socket) {
      ::shutdown(fds.a, SHUT_RDWR);
    } else {
      fds.close_a();
    }
  });
  std::error_code ec;
  t.write(bytes(big), ec);
  written = true;
  reader.join();
  BOOST_TEST((ec == pop3::errc::timeout));
  BOOST_TEST(reads < max_reads);
}

BOOST_AUTO_TEST_CASE(slow_reader_on_a_socket_times_out) {
  // A small send buffer, so that each 4 KiB read lets the writer go on.
  Fds s = make_socketpair();
  const int sndbuf = 4096;
  BOOST_REQUIRE(::setsockopt(s.b, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
  slow_reader_times_out(s, true);
}

BOOST_AUTO_TEST_CASE(slow_reader_on_a_pipe_times_out) {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;  // as the daemon does at startup
  struct sigaction old {};
  BOOST_REQUIRE(::sigaction(SIGPIPE, &sa, &old) == 0);
  Fds p = make_pipe();
  slow_reader_times_out(p, false);
  ::sigaction(SIGPIPE, &old, nullptr);
}

BOOST_AUTO_TEST_CASE(tcp_socket_gets_nodelay) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(listener, 1) == 0);
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const int server = ::accept(listener, nullptr, nullptr);
  BOOST_REQUIRE(server >= 0);

  int on = -1;
  socklen_t on_len = sizeof on;
  BOOST_REQUIRE(::getsockopt(server, IPPROTO_TCP, TCP_NODELAY, &on, &on_len) == 0);
  BOOST_TEST(on == 0);
  pop3::FdTransport t{server, server, 5s};
  BOOST_REQUIRE(::getsockopt(server, IPPROTO_TCP, TCP_NODELAY, &on, &on_len) == 0);
  BOOST_TEST(on != 0);

  std::error_code ec;
  t.write(bytes("+OK \r\n"), ec);
  BOOST_TEST(!ec);
  BOOST_TEST(drain(client, 6) == "+OK \r\n");
  BOOST_REQUIRE(::write(client, "QUIT\r\n", 6) == 6);
  std::array<char, 16> buf{};
  const std::size_t n = t.read_some(buf, ec);
  BOOST_TEST(std::string_view(buf.data(), n) == "QUIT\r\n");
  ::close(client);
  ::close(server);
  ::close(listener);
}

BOOST_AUTO_TEST_CASE(moves_and_copies_keep_the_descriptors) {
  Fds p = make_pipe();
  pop3::FdTransport first{p.a, -1, 5s};
  pop3::FdTransport moved = std::move(first);
  BOOST_REQUIRE(::write(p.b, "x", 1) == 1);
  std::array<char, 4> buf{};
  std::error_code ec;
  BOOST_TEST(moved.read_some(buf, ec) == 1u);
}
