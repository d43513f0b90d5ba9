// pop3/posix/systemd_notify.hpp: service state to systemd (Type=notify), without libsystemd.
//
// The protocol of sd_notify(3): one datagram of "KEY=VALUE" lines to the AF_UNIX socket that
// $NOTIFY_SOCKET names (a path, or an abstract socket when it starts with '@').
//
//   const auto notifier = pop3::posix::SystemdNotifier::take_from_environment();
//   if (notifier && !notifier.notify("READY=1", error)) log(error);   // once listening
//   notifier.notify("STOPPING=1", error);                               // on SIGTERM
//
// Without $NOTIFY_SOCKET the notifier is empty and notify() does nothing.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "pop3/detail/unique_fd.hpp"

namespace pop3::posix {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET and unsets it: sessions and the programs they run have nothing to tell
  // systemd, and only the main process may (NotifyAccess=main). A value that is no AF_UNIX
  // address leaves the notifier empty with `error()` saying why.
  static SystemdNotifier take_from_environment() {
    SystemdNotifier notifier;
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (value == nullptr) return notifier;
    const std::string path = value;
    ::unsetenv("NOTIFY_SOCKET");
    if (path.size() < 2 || (path[0] != '/' && path[0] != '@') || path.size() >= sizeof notifier.address_.sun_path) {
      notifier.error_ = "NOTIFY_SOCKET=" + path + " is not an AF_UNIX socket path or @abstract name; not notifying systemd";
      return notifier;
    }
    notifier.address_.sun_family = AF_UNIX;
    std::memcpy(notifier.address_.sun_path, path.data(), path.size());
    // An abstract name has no terminating NUL: its length is the address length.
    if (path[0] == '@') notifier.address_.sun_path[0] = '\0';
    notifier.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '/' ? 1 : 0));
    return notifier;
  }

  explicit operator bool() const noexcept { return length_ != 0; }
  // Why $NOTIFY_SOCKET was not used; empty when it was, or was not set.
  const std::string& error() const noexcept { return error_; }

  // Sends `state` (newline-separated assignments) in one datagram. true when sent or when
  // there is nobody to tell; false with a one-line `error`.
  bool notify(std::string_view state, std::string& error) const {
    if (length_ == 0) return true;
    pop3::detail::UniqueFd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (!fd) {
      error = std::string("notify systemd: socket: ") + std::strerror(errno);
      return false;
    }
    ssize_t sent = -1;
    do {
      sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address_),
                      length_);
    } while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(state.size())) {
      error = std::string("notify systemd: sendto: ") + (sent < 0 ? std::strerror(errno) : "short datagram");
      return false;
    }
    return true;
  }

 private:
  sockaddr_un address_{};
  socklen_t length_ = 0;
  std::string error_;
};

}  // namespace pop3::posix
