// Tests of pop3/posix/systemd_sockets.hpp: LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES read and
// unset, and each passed descriptor checked. The sockets are put at descriptors 3 and 4, where
// systemd puts them, and whatever the test process had there is put back afterwards.
#define BOOST_TEST_MODULE systemd_sockets
#include <boost/test/unit_test.hpp>

#include "pop3/posix/systemd_sockets.hpp"

#include <netinet/in.h>
#include <sys/un.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

using pop3::posix::SystemdSockets;

void set_variables(const char* pid, const char* fds, const char* names) {
  for (const auto& [name, value] : {std::pair{"LISTEN_PID", pid}, {"LISTEN_FDS", fds}, {"LISTEN_FDNAMES", names}}) {
    if (value != nullptr) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
}

bool variables_gone() {
  return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
         std::getenv("LISTEN_FDNAMES") == nullptr;
}

// Sockets at descriptors 3, 4, ... for the scope; the descriptors there before come back after.
class PassedSockets {
 public:
  explicit PassedSockets(std::vector<int> sockets) {
    for (int& fd : sockets) {  // out of the way first: one may have been opened as 3 or 4
      const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 200);
      BOOST_REQUIRE(moved >= 0);
      ::close(fd);
      fd = moved;
    }
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      const int target = 3 + static_cast<int>(i);
      saved_.push_back(::fcntl(target, F_DUPFD_CLOEXEC, 100));  // -1: nothing was there
      BOOST_REQUIRE(::dup2(sockets[i], target) == target);
      ::close(sockets[i]);
    }
  }
  PassedSockets(const PassedSockets&) = delete;
  PassedSockets& operator=(const PassedSockets&) = delete;
  ~PassedSockets() {
    for (std::size_t i = 0; i < saved_.size(); ++i) {
      const int target = 3 + static_cast<int>(i);
      if (saved_[i] >= 0) {
        ::dup3(saved_[i], target, O_CLOEXEC);
        ::close(saved_[i]);
      } else {
        ::close(target);
      }
    }
  }

 private:
  std::vector<int> saved_;
};

int tcp_socket(bool listening) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  if (listening) BOOST_REQUIRE(::listen(fd, 1) == 0);
  return fd;
}

SystemdSockets passed(unsigned count, std::vector<std::string> names) { return {count, std::move(names), {}}; }

std::string check_error(const SystemdSockets& sockets) {
  std::string error;
  const auto checked = pop3::posix::check_systemd_sockets(sockets, error);
  BOOST_TEST(checked.empty());
  return error;
}

}  // namespace

BOOST_AUTO_TEST_CASE(variables_of_another_process_are_unset_and_ignored) {
  set_variables("1", "2", "pop3:pop3s");
  const SystemdSockets got = pop3::posix::take_systemd_sockets();
  BOOST_TEST(got.count == 0u);
  BOOST_TEST(got.error.empty());
  BOOST_TEST(variables_gone());
  set_variables(nullptr, nullptr, nullptr);
  BOOST_TEST(pop3::posix::take_systemd_sockets().count == 0u);
}

BOOST_AUTO_TEST_CASE(names_are_split_and_descriptors_made_close_on_exec) {
  PassedSockets sockets({tcp_socket(true), tcp_socket(true)});
  const std::string pid = std::to_string(::getpid());
  set_variables(pid.c_str(), "2", "pop3:pop3s");
  const SystemdSockets got = pop3::posix::take_systemd_sockets();
  BOOST_TEST(got.error.empty());
  BOOST_TEST(got.count == 2u);
  BOOST_TEST((got.names == std::vector<std::string>{"pop3", "pop3s"}));
  BOOST_TEST(variables_gone());
  for (const int fd : {3, 4}) {
    const int flags = ::fcntl(fd, F_GETFD);  // dup2 left it clear
    BOOST_TEST((flags >= 0 && (flags & FD_CLOEXEC) != 0), "descriptor " << fd);
  }

  set_variables(pid.c_str(), "1", nullptr);  // sd_listen_fds_with_names' name for none
  BOOST_TEST((pop3::posix::take_systemd_sockets().names == std::vector<std::string>{"unknown"}));
  set_variables(pid.c_str(), "0", nullptr);
  const SystemdSockets none = pop3::posix::take_systemd_sockets();
  BOOST_TEST(none.count == 0u);
  BOOST_TEST(none.error.empty());
}

BOOST_AUTO_TEST_CASE(malformed_variables_are_an_error_with_no_sockets) {
  const std::string pid = std::to_string(::getpid());
  const std::vector<std::pair<const char*, const char*>> cases{
      {"", "pop3"}, {"-1", "pop3"}, {"1x", "pop3"}, {"+1", "pop3"}, {"33", nullptr}, {"2", "pop3"}, {"1", "pop3:pop3s"}};
  for (const auto& [fds, names] : cases) {
    set_variables(pid.c_str(), fds, names);
    const SystemdSockets got = pop3::posix::take_systemd_sockets();
    BOOST_TEST(got.count == 0u, "LISTEN_FDS=" << fds);
    BOOST_TEST(!got.error.empty(), "LISTEN_FDS=" << fds);
    BOOST_TEST(variables_gone());
  }
  set_variables((pid + "0").c_str(), "1", "pop3");  // LISTEN_PID compared whole
  BOOST_TEST(pop3::posix::take_systemd_sockets().error.empty());
}

BOOST_AUTO_TEST_CASE(listening_tcp_sockets_named_pop3_or_pop3s_pass) {
  PassedSockets sockets({tcp_socket(true), tcp_socket(true)});
  std::string error;
  const auto checked = pop3::posix::check_systemd_sockets(passed(2, {"pop3s", "pop3"}), error);
  BOOST_TEST(error.empty());
  BOOST_REQUIRE(checked.size() == 2u);
  BOOST_TEST(checked[0].fd == 3);
  BOOST_TEST(checked[0].implicit_tls);
  BOOST_TEST(checked[1].fd == 4);
  BOOST_TEST(!checked[1].implicit_tls);
  const int flags = ::fcntl(3, F_GETFL);
  BOOST_TEST((flags >= 0 && (flags & O_NONBLOCK) != 0));
}

BOOST_AUTO_TEST_CASE(every_other_descriptor_is_refused_by_number_and_name) {
  {
    PassedSockets sockets({tcp_socket(false)});
    BOOST_TEST(check_error(passed(1, {"pop3"})) ==
               "systemd socket 3 (pop3) is not listening: a daemon's socket unit needs Accept=no");
  }
  {
    PassedSockets sockets({::socket(AF_INET, SOCK_DGRAM, 0)});
    BOOST_TEST(check_error(passed(1, {"pop3"})) == "systemd socket 3 (pop3) is not a stream socket: use ListenStream=");
  }
  {
    PassedSockets sockets({tcp_socket(true), ::socket(AF_UNIX, SOCK_STREAM, 0)});
    BOOST_TEST(check_error(passed(2, {"pop3", "pop3"})) == "systemd socket 4 (pop3) is not a TCP socket (IPv4 or IPv6)");
  }
  {
    PassedSockets sockets({tcp_socket(true)});
    BOOST_TEST(check_error(passed(1, {"popa3d-daemon.socket"})) ==
               "systemd socket 3 (popa3d-daemon.socket): name it pop3 (plain) or pop3s (implicit TLS) with "
               "FileDescriptorName=");
  }
  {
    int pipe_fds[2] = {-1, -1};
    BOOST_REQUIRE(::pipe(pipe_fds) == 0);
    ::close(pipe_fds[1]);
    PassedSockets not_a_socket({pipe_fds[0]});
    BOOST_TEST(check_error(passed(1, {"pop3"})) == "systemd socket 3 (pop3): " + std::string(std::strerror(ENOTSOCK)));
  }
}
