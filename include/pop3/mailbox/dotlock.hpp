// pop3/mailbox/dotlock.hpp: MAILBOX.lock, the dotlock that mail delivery agents take besides
// (or instead of) fcntl, for the UPDATE of an mbox file (off by default: popa3d is fcntl-only).
//
// Taken the NFS-safe way (liblockfile's lockfile_create(3)): a unique file next to the lock,
// link(2) to the lock's name, success if the unique file then has two links. A lock older than
// 5 minutes, or naming a local PID that no longer runs, is stale and removed. Where the user
// cannot create files in the spool (Debian's /var/mail is 2775 root:mail) the setgid helper
// dotlockfile(1) of liblockfile-bin takes and removes it instead, so no mail group is kept.
//
//   pop3::DotlockOptions options{true};
//   std::optional<pop3::Dotlock> held;
//   if (pop3::detail::lock_for_update(fcntl_lock, options, "/var/mail/alice.lock", held, ec)) { /* update */ }
//   held.reset();   // the dotlock goes first, then the caller drops the fcntl lock
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "pop3/error.hpp"

namespace pop3 {

struct DotlockOptions {
  bool enabled = false;  // --dotlock; off: fcntl alone, as popa3d
  // liblockfile-bin's setgid-mail helper, for a spool the user cannot write to.
  std::string helper = "/usr/bin/dotlockfile";
  // The longest an UPDATE waits for the dotlock in all; then it fails ("-ERR", nothing deleted).
  std::chrono::milliseconds max_wait{10000};
};

// A dotlock this process holds; removed on destruction.
class Dotlock {
 public:
  enum class Try { taken, busy, failed };

  // One attempt at `lock_path`, removing a stale lock first. `helper`: dotlockfile's path, used
  // when the directory does not let us create the lock ourselves.
  static Try try_take(const std::string& lock_path, const std::string& helper, std::optional<Dotlock>& out) {
    const std::string unique = lock_path + ".lk" + std::to_string(::getpid()) + "." + std::to_string(counter()++);
    const int fd = ::open(unique.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno != EACCES && errno != EPERM && errno != EROFS) return Try::failed;
      // -r 0: one try (we wait ourselves); -p: our PID in the lock, so a crash leaves it stale.
      const int status = run_helper(helper, {"-l", "-r", "0", "-p", "-q"}, lock_path);
      if (status != 0) return status == max_tries_status ? Try::busy : Try::failed;
      out.emplace(lock_path, helper);
      return Try::taken;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";  // liblockfile's content
    const bool written = ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
    ::close(fd);
    if (!written) {
      ::unlink(unique.c_str());
      return Try::failed;
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      // NFS: link() may report failure for a link the server made; the count is the truth.
      [[maybe_unused]] const int linked = ::link(unique.c_str(), lock_path.c_str());
      struct stat st {};
      if (::stat(unique.c_str(), &st) == 0 && st.st_nlink == 2) {
        ::unlink(unique.c_str());
        out.emplace(lock_path, std::string());
        return Try::taken;
      }
      if (attempt == 0 && !remove_if_stale(lock_path)) break;
    }
    ::unlink(unique.c_str());
    return Try::busy;
  }

  Dotlock(std::string path, std::string helper) : path_(std::move(path)), helper_(std::move(helper)) {}
  Dotlock(Dotlock&& other) noexcept : path_(std::exchange(other.path_, {})), helper_(std::move(other.helper_)) {}
  Dotlock& operator=(Dotlock&&) = delete;
  Dotlock(const Dotlock&) = delete;
  Dotlock& operator=(const Dotlock&) = delete;
  ~Dotlock() {
    if (path_.empty()) return;
    if (helper_.empty()) {
      ::unlink(path_.c_str());
    } else {
      (void)run_helper(helper_, {"-u"}, path_);
    }
  }

  // dotlockfile's exit status, or -1 if it could not be run or did not finish in time. Its
  // descriptors 0-2 are /dev/null (ours may be the client's socket), its environment empty.
  static int run_helper(const std::string& helper, std::initializer_list<const char*> options, const std::string& lock) {
    std::vector<char*> argv{const_cast<char*>(helper.c_str())};
    for (const char* o : options) argv.push_back(const_cast<char*>(o));
    argv.push_back(const_cast<char*>(lock.c_str()));
    argv.push_back(nullptr);
    char* envp[] = {nullptr};
    posix_spawn_file_actions_t actions;
    if (posix_spawn_file_actions_init(&actions) != 0) return -1;
    for (const int fd : {0, 1, 2})
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) return -1;
    // "-r 0" tries once, so it ends at once; the bound is for a helper that hangs (NFS).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) return -1;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  static constexpr int max_tries_status = 4;  // lockfile_create(3)'s L_MAXTRYS: someone holds it

  static unsigned& counter() {
    static unsigned n = 0;
    return n;
  }

  // lockfile_create(3)'s rule: a lock is stale once 5 minutes old, or at once if it holds the
  // PID of a process that no longer exists. True if it was removed (or is gone).
  static bool remove_if_stale(const std::string& lock_path) {
    struct stat st {};
    if (::lstat(lock_path.c_str(), &st) != 0) return errno == ENOENT;
    bool stale = std::time(nullptr) - st.st_mtime > 300;
    if (!stale && S_ISREG(st.st_mode)) {
      char text[16] = {};
      const int fd = ::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        const ssize_t n = ::read(fd, text, sizeof text - 1);
        ::close(fd);
        long pid = 0;
        const auto [end, err] = std::from_chars(text, text + (n > 0 ? n : 0), pid);
        stale = err == std::errc{} && end != text && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      }
    }
    return stale && (::unlink(lock_path.c_str()) == 0 || errno == ENOENT);
  }

  std::string path_;    // empty: moved from
  std::string helper_;  // empty: we made the lock ourselves
};

namespace detail {

// Locks for an UPDATE in Debian Policy's order (s.11.6): the fcntl lock, then, if enabled, the
// dotlock. `fcntl_lock(true)` takes the fcntl lock (waiting), `fcntl_lock(false)` drops it.
// While the dotlock is busy the fcntl lock is dropped now and then for a moment, so that a
// writer that takes them in the other order (dotlock, then fcntl) gets through instead of
// waiting for us for ever; the whole wait is bounded by options.max_wait. True with both held
// (`held` empty when dotlocks are off); false with neither and ec = errc::mailbox_io.
template <class FcntlLock>
bool lock_for_update(FcntlLock&& fcntl_lock, const DotlockOptions& options, const std::string& lock_path,
                     std::optional<Dotlock>& held, std::error_code& ec) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + options.max_wait;
  for (;;) {
    if (!fcntl_lock(true)) {
      ec = errc::mailbox_io;
      return false;
    }
    if (!options.enabled) return true;
    const auto spell_end = std::min(deadline, clock::now() + std::chrono::seconds(1));
    for (;;) {
      const Dotlock::Try got = Dotlock::try_take(lock_path, options.helper, held);
      if (got == Dotlock::Try::taken) return true;
      if (got == Dotlock::Try::failed) {
        fcntl_lock(false);
        ec = errc::mailbox_io;
        return false;
      }
      if (clock::now() >= spell_end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fcntl_lock(false);
    if (clock::now() >= deadline) {
      ec = errc::mailbox_io;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace detail
}  // namespace pop3
