// Tests of pop3/detail/mapping_guard.hpp: truncation under a guarded mapping reads
// zeros and is counted; a fault anywhere else still kills the process.
#define BOOST_TEST_MODULE mapping_guard
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pop3/detail/mapping_guard.hpp"

namespace {

struct TempFile {
  std::string path;
  int fd = -1;
  explicit TempFile(std::size_t size) {
    char name[] = "/tmp/pop3-guard-XXXXXX";
    fd = mkstemp(name);
    BOOST_REQUIRE(fd >= 0);
    path = name;
    std::vector<char> bytes(size, 'x');
    BOOST_REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  ~TempFile() {
    close(fd);
    unlink(path.c_str());
  }
};

// Runs `body` in a child and returns its wait status.
template <class F>
int in_child(F body) {
  const pid_t pid = fork();
  if (pid == 0) {
    // The test framework's own handler would catch the signal; the daemon has none.
    signal(SIGBUS, SIG_DFL);
    const struct rlimit no_core {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

void check_died_of_sigbus(int status) {
  BOOST_TEST(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) BOOST_TEST(WTERMSIG(status) == SIGBUS);
}

}  // namespace

BOOST_AUTO_TEST_CASE(truncation_under_a_guarded_mapping_reads_zeros) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  TempFile file(8 * page + 100);
  std::error_code ec;
  auto map = pop3::detail::FileMapping::map(file.fd, 0, 8 * page + 100, ec);
  BOOST_REQUIRE(!ec);
  BOOST_TEST(map.faults() == 0u);
  BOOST_TEST(map.bytes()[5 * page] == 'x');
  BOOST_REQUIRE(ftruncate(file.fd, static_cast<off_t>(3 * page)) == 0);
  const auto bytes = map.bytes();
  unsigned long sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 64) sum += static_cast<unsigned char>(bytes[i]);
  BOOST_TEST(map.faults() == 1u);  // one repair covers the rest of the range
  BOOST_TEST(bytes[2 * page] == 'x');  // still inside the file
  BOOST_TEST(bytes[3 * page] == '\0');
  BOOST_TEST(bytes[8 * page + 99] == '\0');
  BOOST_TEST(sum == static_cast<unsigned long>('x') * (3 * page / 64));
}

BOOST_AUTO_TEST_CASE(fault_count_belongs_to_the_mapping) {
  TempFile a(10000), b(10000);
  std::error_code ec;
  auto ma = pop3::detail::FileMapping::map(a.fd, 0, 10000, ec);
  BOOST_REQUIRE(!ec);
  auto mb = pop3::detail::FileMapping::map(b.fd, 0, 10000, ec);
  BOOST_REQUIRE(!ec);
  BOOST_REQUIRE(ftruncate(b.fd, 0) == 0);
  BOOST_TEST(mb.bytes()[9000] == '\0');
  BOOST_TEST(ma.faults() == 0u);
  BOOST_TEST(mb.faults() == 1u);
  auto moved = std::move(mb);
  BOOST_TEST(moved.faults() == 1u);
  BOOST_TEST(!mb.mapped());
  moved.reset();
  // A new mapping reuses the slot with a fresh count.
  auto again = pop3::detail::FileMapping::map(a.fd, 0, 10000, ec);
  BOOST_REQUIRE(!ec);
  BOOST_TEST(again.faults() == 0u);
}

BOOST_AUTO_TEST_CASE(a_full_registry_refuses_rather_than_guarding_nothing) {
  std::vector<pop3::detail::MappingGuard> guards;
  static char arena[1];
  std::size_t registered = 0;
  for (std::size_t i = 0; i < pop3::detail::mapping_guard_slots + 1; ++i) {
    guards.emplace_back(arena, 1);
    registered += guards.back().registered() ? 1 : 0;
  }
  // Other tests' guards are gone, so every slot but the last request is ours.
  BOOST_TEST(registered == pop3::detail::mapping_guard_slots);
  BOOST_TEST(!guards.back().registered());
  TempFile file(100);
  std::error_code ec;
  auto map = pop3::detail::FileMapping::map(file.fd, 0, 100, ec);
  BOOST_TEST(ec == pop3::errc::mailbox_io);
  BOOST_TEST(!map.mapped());
  guards.clear();
  map = pop3::detail::FileMapping::map(file.fd, 0, 100, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(map.mapped());
}

BOOST_AUTO_TEST_CASE(a_fault_outside_every_guarded_range_still_kills) {
  TempFile file(100000);
  const int status = in_child([&] {
    std::error_code ec;
    auto guarded = pop3::detail::FileMapping::map(file.fd, 0, 100, ec);  // installs the handler
    void* p = mmap(nullptr, 100000, PROT_READ, MAP_SHARED, file.fd, 0);
    if (ec || p == MAP_FAILED || ftruncate(file.fd, 0) != 0) _exit(3);
    volatile char c = static_cast<const char*>(p)[50000];
    (void)c;
  });
  check_died_of_sigbus(status);
}

BOOST_AUTO_TEST_CASE(a_sigbus_sent_by_kill_still_kills) {
  TempFile file(100);
  const int status = in_child([&] {
    std::error_code ec;
    auto guarded = pop3::detail::FileMapping::map(file.fd, 0, 100, ec);
    if (ec) _exit(3);
    raise(SIGBUS);
  });
  check_died_of_sigbus(status);
}

BOOST_AUTO_TEST_CASE(a_handler_installed_later_is_chained_not_lost) {
  TempFile file(10000);
  struct sigaction other {};
  other.sa_handler = SIG_DFL;
  BOOST_REQUIRE(sigaction(SIGBUS, &other, nullptr) == 0);
  std::error_code ec;
  auto map = pop3::detail::FileMapping::map(file.fd, 0, 10000, ec);
  BOOST_REQUIRE(!ec);
  struct sigaction current {};
  BOOST_REQUIRE(sigaction(SIGBUS, nullptr, &current) == 0);
  BOOST_TEST((current.sa_flags & SA_SIGINFO) != 0);
  BOOST_TEST(current.sa_sigaction == &pop3::detail::sigbus_handler);
  BOOST_REQUIRE(ftruncate(file.fd, 0) == 0);
  BOOST_TEST(map.bytes()[5000] == '\0');
  BOOST_TEST(map.faults() == 1u);
}
