// Tests of pop3/posix/systemd_notify.hpp: $NOTIFY_SOCKET taken and unset, and one datagram
// per notify() to a path or an abstract socket that the test binds.
#define BOOST_TEST_MODULE systemd_notify
#include <boost/test/unit_test.hpp>

#include "pop3/posix/systemd_notify.hpp"

#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace {

using pop3::posix::SystemdNotifier;

// A datagram socket bound to `address` (a path, or an abstract name after '@').
class Receiver {
 public:
  explicit Receiver(const std::string& address) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, address.data(), address.size());
    if (address[0] == '@') sun.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    BOOST_REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sun), length) == 0);
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  std::string receive() {
    char buf[512];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  pop3::detail::UniqueFd fd_;
};

SystemdNotifier notifier_for(const char* value) {
  ::setenv("NOTIFY_SOCKET", value, 1);
  SystemdNotifier notifier = SystemdNotifier::take_from_environment();
  BOOST_TEST(std::getenv("NOTIFY_SOCKET") == nullptr);
  return notifier;
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_the_variable_there_is_nobody_to_tell) {
  ::unsetenv("NOTIFY_SOCKET");
  const SystemdNotifier notifier = SystemdNotifier::take_from_environment();
  BOOST_TEST(!notifier);
  BOOST_TEST(notifier.error().empty());
  std::string error;
  BOOST_TEST(notifier.notify("READY=1", error));
  BOOST_TEST(error.empty());
}

BOOST_AUTO_TEST_CASE(an_abstract_name_gets_each_state_as_one_datagram) {
  const std::string name = "@popa3d-notify-test-" + std::to_string(::getpid());
  Receiver receiver(name);
  const SystemdNotifier notifier = notifier_for(name.c_str());
  BOOST_REQUIRE(static_cast<bool>(notifier));
  std::string error;
  BOOST_TEST(notifier.notify("READY=1\nSTATUS=Accepting connections", error));
  BOOST_TEST(notifier.notify("STOPPING=1", error));
  BOOST_TEST(error.empty());
  BOOST_TEST(receiver.receive() == "READY=1\nSTATUS=Accepting connections");
  BOOST_TEST(receiver.receive() == "STOPPING=1");
}

BOOST_AUTO_TEST_CASE(a_path_gets_it_too_and_a_missing_one_is_an_error) {
  char dir[] = "/tmp/systemd_notify_test.XXXXXX";
  BOOST_REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/notify";
  {
    Receiver receiver(path);
    const SystemdNotifier notifier = notifier_for(path.c_str());
    std::string error;
    BOOST_TEST(notifier.notify("READY=1", error));
    BOOST_TEST(receiver.receive() == "READY=1");
  }
  ::unlink(path.c_str());
  const SystemdNotifier notifier = notifier_for(path.c_str());
  std::string error;
  BOOST_TEST(!notifier.notify("READY=1", error));
  BOOST_TEST(error == "notify systemd: sendto: " + std::string(std::strerror(ENOENT)));
  ::rmdir(dir);
}

BOOST_AUTO_TEST_CASE(a_value_that_is_no_unix_address_is_ignored_with_a_reason) {
  const std::string too_long(sizeof(sockaddr_un{}.sun_path), 'x');
  for (const std::string& value : {std::string(""), std::string("@"), std::string("relative/path"),
                                   std::string("vsock:2:1234"), "/" + too_long}) {
    const SystemdNotifier notifier = notifier_for(value.c_str());
    BOOST_TEST(!notifier, value);
    BOOST_TEST(notifier.error() == "NOTIFY_SOCKET=" + value +
                                       " is not an AF_UNIX socket path or @abstract name; not notifying systemd");
  }
}
