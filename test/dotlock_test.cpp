// pop3/mailbox/dotlock.hpp: MAILBOX.lock against liblockfile's dotlockfile(1), stale locks,
// and a writer that takes the locks in the other order.
#define BOOST_TEST_MODULE dotlock
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "pop3/mailbox/dotlock.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using pop3::Dotlock;
using pop3::test::TempDir;

namespace {

const char* const dotlockfile = "/usr/bin/dotlockfile";

bool have_dotlockfile() {
  if (::access(dotlockfile, X_OK) == 0) return true;
  if (const char* ci = std::getenv("CI"); ci != nullptr && std::string(ci) == "true")
    BOOST_FAIL("(CI=true) dotlockfile is needed (apt-get install liblockfile-bin)");
  BOOST_TEST_MESSAGE("skipped: no dotlockfile (apt-get install liblockfile-bin)");
  return false;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fcntl side as a counter: what lock_for_update took and dropped.
struct CountingFcntl {
  int* held;
  int* taken;
  bool operator()(bool take) const {
    *held += take ? 1 : -1;
    if (take) ++*taken;
    return true;
  }
};

pop3::DotlockOptions quick(std::chrono::milliseconds wait) {
  pop3::DotlockOptions options{true};
  options.max_wait = wait;
  return options;
}

}  // namespace

BOOST_AUTO_TEST_CASE(taken_with_our_pid_and_removed) {
  TempDir dir;
  const std::string lock = (dir.path() / "alice.lock").string();
  {
    std::optional<Dotlock> held;
    BOOST_TEST((Dotlock::try_take(lock, dotlockfile, held) == Dotlock::Try::taken));
    BOOST_TEST(read_all(lock) == std::to_string(::getpid()) + "\n");
    std::optional<Dotlock> again;
    BOOST_TEST((Dotlock::try_take(lock, dotlockfile, again) == Dotlock::Try::busy));
    BOOST_TEST(!again);
  }
  BOOST_TEST(!fs::exists(lock));
  // Nothing left behind but the lock itself, and that is gone.
  BOOST_TEST(fs::is_empty(dir.path()));
}

BOOST_AUTO_TEST_CASE(disabled_is_fcntl_alone) {
  TempDir dir;
  int held = 0, taken = 0;
  std::optional<Dotlock> lock;
  std::error_code ec;
  BOOST_TEST(pop3::detail::lock_for_update(CountingFcntl{&held, &taken}, pop3::DotlockOptions{},
                                           (dir.path() / "a.lock").string(), lock, ec));
  BOOST_TEST((held == 1 && !lock && !fs::exists(dir.path() / "a.lock")));
}

BOOST_AUTO_TEST_CASE(a_lock_held_by_dotlockfile_is_waited_for_then_given_up) {
  if (!have_dotlockfile()) return;
  TempDir dir;
  const std::string lock = (dir.path() / "alice.lock").string();
  BOOST_REQUIRE(std::system(("/usr/bin/dotlockfile -l -r 0 " + lock).c_str()) == 0);
  int held = 0, taken = 0;
  std::optional<Dotlock> ours;
  std::error_code ec;
  BOOST_TEST(!pop3::detail::lock_for_update(CountingFcntl{&held, &taken}, quick(std::chrono::milliseconds(300)),
                                            lock, ours, ec));
  BOOST_TEST(ec == pop3::errc::mailbox_io);
  BOOST_TEST(held == 0);  // the fcntl lock is not kept after giving up
  BOOST_TEST(fs::exists(lock));
  BOOST_REQUIRE(std::system(("/usr/bin/dotlockfile -u " + lock).c_str()) == 0);
  BOOST_TEST(pop3::detail::lock_for_update(CountingFcntl{&held, &taken}, quick(std::chrono::milliseconds(300)), lock,
                                           ours, ec));
  BOOST_TEST(held == 1);
  // And dotlockfile sees ours.
  BOOST_TEST(std::system(("/usr/bin/dotlockfile -l -r 0 -q " + lock).c_str()) != 0);
  ours.reset();
  BOOST_TEST(!fs::exists(lock));
}

BOOST_AUTO_TEST_CASE(stale_locks_are_removed) {
  TempDir dir;
  const std::string lock = (dir.path() / "alice.lock").string();
  // Older than 5 minutes, whatever it holds.
  dir.write("alice.lock", "1\n");
  const struct timespec old[2] = {{std::time(nullptr) - 301, 0}, {std::time(nullptr) - 301, 0}};
  BOOST_REQUIRE(::utimensat(AT_FDCWD, lock.c_str(), old, 0) == 0);
  std::optional<Dotlock> held;
  BOOST_TEST((Dotlock::try_take(lock, dotlockfile, held) == Dotlock::Try::taken));
  held.reset();
  // Fresh, but naming a process that has exited.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  BOOST_REQUIRE(::waitpid(child, nullptr, 0) == child);
  dir.write("alice.lock", std::to_string(child) + "\n");
  BOOST_TEST((Dotlock::try_take(lock, dotlockfile, held) == Dotlock::Try::taken));
  held.reset();
  // Fresh and naming a live process (this one's parent), or no PID: held.
  dir.write("alice.lock", std::to_string(::getppid()) + "\n");
  BOOST_TEST((Dotlock::try_take(lock, dotlockfile, held) == Dotlock::Try::busy));
  dir.write("alice.lock", "");
  BOOST_TEST((Dotlock::try_take(lock, dotlockfile, held) == Dotlock::Try::busy));
}

// A writer that takes the dotlock first and then waits for the fcntl lock, while the UPDATE
// holds the fcntl lock and waits for the dotlock: the UPDATE lets go of fcntl now and then,
// the writer finishes, and the UPDATE gets both, well within its bound.
BOOST_AUTO_TEST_CASE(a_writer_locking_in_the_other_order_does_not_deadlock) {
  TempDir dir;
  const std::string mbox = dir.write("alice", "From x\n\nbody\n");
  const std::string lock = mbox + ".lock";
  int ready[2];
  BOOST_REQUIRE(::pipe(ready) == 0);
  const pid_t writer = ::fork();
  if (writer == 0) {
    std::optional<Dotlock> dotlock;
    if (Dotlock::try_take(lock, "", dotlock) != Dotlock::Try::taken) ::_exit(2);
    const int fd = ::open(mbox.c_str(), O_RDWR);
    (void)::write(ready[1], "x", 1);
    ::usleep(300000);  // the UPDATE holds the fcntl lock by now (or gets it later: no matter)
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd, F_SETLKW, &fl) != 0) ::_exit(3);
    (void)::write(fd, "x", 1);  // the delivery
    fl.l_type = F_UNLCK;
    ::fcntl(fd, F_SETLK, &fl);
    dotlock.reset();
    ::_exit(0);
  }
  char byte;
  BOOST_REQUIRE(::read(ready[0], &byte, 1) == 1);
  const int fd = ::open(mbox.c_str(), O_RDWR);
  const auto fcntl_lock = [fd](bool take) {
    struct flock fl {};
    fl.l_type = take ? F_WRLCK : F_UNLCK;
    fl.l_whence = SEEK_SET;
    return ::fcntl(fd, take ? F_SETLKW : F_SETLK, &fl) == 0;
  };
  std::optional<Dotlock> held;
  std::error_code ec;
  BOOST_TEST(pop3::detail::lock_for_update(fcntl_lock, quick(std::chrono::seconds(20)), lock, held, ec));
  BOOST_TEST(!ec);
  int status = 0;
  BOOST_REQUIRE(::waitpid(writer, &status, 0) == writer);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  BOOST_TEST(read_all(mbox) == "xrom x\n\nbody\n");  // the writer's byte went in first
  held.reset();
  fcntl_lock(false);
  ::close(fd);
  ::close(ready[0]);
  ::close(ready[1]);
}
