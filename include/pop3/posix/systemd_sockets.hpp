// pop3/posix/systemd_sockets.hpp: listening sockets passed by systemd (socket activation).
//
// The protocol of sd_listen_fds(3), without libsystemd: when LISTEN_PID is this process,
// LISTEN_FDS=N sockets are descriptors 3..3+N-1 and LISTEN_FDNAMES names them, colon-separated.
//
//   pop3::posix::SystemdSockets passed = pop3::posix::take_systemd_sockets();  // before closing fds
//   pop3::posix::prepare_process(passed.count);          // keeps descriptors 3..3+count-1
//   auto sockets = pop3::posix::check_systemd_sockets(passed, error);  // -D: each must listen
//
// A socket named "pop3" is served plain, one named "pop3s" with implicit TLS; any other name
// (systemd's default is the socket unit's name) is an error, so that a TLS port is never
// served plain by mistake.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pop3::posix {

// What systemd passed, taken from the environment.
struct SystemdSockets {
  unsigned count = 0;              // descriptors 3..3+count-1; 0: none for this process
  std::vector<std::string> names;  // one per descriptor
  std::string error;               // set when the variables were for us but malformed (count is 0)
};

// A passed socket as the listener uses it.
struct ListeningSocket {
  int fd = -1;
  bool implicit_tls = false;  // named "pop3s"
};

// More than the listener serves (listener.hpp's max_listen_sockets) is a configuration error.
inline constexpr unsigned max_systemd_sockets = 32;

// Reads LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES and unsets all three, whoever they were for,
// so that no process started later takes them as its own. The passed descriptors get FD_CLOEXEC.
// Call it before anything closes or opens descriptors.
inline SystemdSockets take_systemd_sockets() {
  SystemdSockets passed;
  const auto variable = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  const std::optional<std::string> pid = variable("LISTEN_PID");
  const std::optional<std::string> fds = variable("LISTEN_FDS");
  const std::optional<std::string> names = variable("LISTEN_FDNAMES");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  const auto parse = [](const std::optional<std::string>& text, long long& out) {
    if (!text || text->empty()) return false;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), out);
    return ec == std::errc{} && end == text->data() + text->size();
  };
  long long listen_pid = 0;
  if (!parse(pid, listen_pid) || listen_pid != ::getpid()) return passed;  // not for this process
  long long count = 0;
  if (!parse(fds, count) || count < 0 || count > max_systemd_sockets) {
    passed.error = "systemd's LISTEN_FDS=" + fds.value_or("") + " is not a number from 0 to " +
                   std::to_string(max_systemd_sockets);
    return passed;
  }
  if (names) {
    std::string_view rest = *names;
    for (;;) {
      const std::size_t colon = rest.find(':');
      passed.names.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (passed.names.size() != static_cast<std::size_t>(count)) {
      passed.error = "systemd's LISTEN_FDNAMES names " + std::to_string(passed.names.size()) +
                     " sockets, LISTEN_FDS=" + std::to_string(count);
      passed.names.clear();
      return passed;
    }
  } else {
    passed.names.assign(static_cast<std::size_t>(count), "unknown");  // sd_listen_fds_with_names' name
  }
  passed.count = static_cast<unsigned>(count);
  for (unsigned i = 0; i < passed.count; ++i) {
    const int fd = 3 + static_cast<int>(i);
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  return passed;
}

// Checks that every passed descriptor is a listening TCP socket named pop3 or pop3s, makes it
// non-blocking (the listener polls, and another process may take the connection first) and
// returns them. Empty with a one-line `error` naming the descriptor and the fix.
inline std::vector<ListeningSocket> check_systemd_sockets(const SystemdSockets& passed, std::string& error) {
  std::vector<ListeningSocket> sockets;
  for (unsigned i = 0; i < passed.count; ++i) {
    const int fd = 3 + static_cast<int>(i);
    const std::string& name = passed.names[i];
    const std::string what = "systemd socket " + std::to_string(fd) + " (" + name + ")";
    int value = 0;
    socklen_t length = sizeof value;
    const auto option = [&](int name_of_option) {
      length = sizeof value;
      return ::getsockopt(fd, SOL_SOCKET, name_of_option, &value, &length) == 0;
    };
    if (!option(SO_TYPE)) {
      error = what + ": " + std::strerror(errno);
    } else if (value != SOCK_STREAM) {
      error = what + " is not a stream socket: use ListenStream=";
    } else if (!option(SO_DOMAIN) || (value != AF_INET && value != AF_INET6)) {
      error = what + " is not a TCP socket (IPv4 or IPv6)";
    } else if (!option(SO_ACCEPTCONN) || value == 0) {
      error = what + " is not listening: a daemon's socket unit needs Accept=no";
    } else if (name != "pop3" && name != "pop3s") {
      error = what + ": name it pop3 (plain) or pop3s (implicit TLS) with FileDescriptorName=";
    } else {
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        error = what + ": fcntl: " + std::strerror(errno);
      } else {
        sockets.push_back({fd, name == "pop3s"});
        continue;
      }
    }
    return {};
  }
  return sockets;
}

}  // namespace pop3::posix
