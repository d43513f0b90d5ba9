// pop3/auth/crypt.hpp: an AuthPolicy that checks passwords with crypt(3) (libxcrypt; link -lcrypt).
//
// Accounts come from the system (getpwnam + getspnam) or from a users file in passwd format,
// `name:crypt-hash:uid:gid:mailbox` (pop3/auth/users_file.hpp), whose mailbox field the Account
// carries for the MailboxLocator (pop3/mailbox/locator.hpp). Needs root to read /etc/shadow.
//
//   std::string error;
//   auto auth = pop3::CryptAuth::from_users_file("/etc/popa3d/users", error);
//   if (!auth) die(error);   // "/etc/popa3d/users: line 3: uid is not a number"
//
// Refused like popa3d's crypt builds (spec 6.4): UID 0, an empty user or password, a hash that is
// empty or starts with '*' or '!'; and, as pam_unix's account check refuses them, system accounts
// that shadow's expiry, inactivity or forced-change fields close. A refused attempt costs one
// crypt(3) per method and cost in use (CryptMethods), so an unknown user costs what a known one
// costs; a login that succeeds costs its own hash only (detail::hash_attempt).
//
// @par Concepts
//   AuthPolicy
#pragma once

#include <crypt.h>
#include <fcntl.h>
#include <pwd.h>
#include <shadow.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pop3/account.hpp"
#include "pop3/auth/user_lookup.hpp"
#include "pop3/auth/users_file.hpp"
#include "pop3/concepts.hpp"
#include "pop3/detail/secure_zero.hpp"
#include "pop3/detail/unique_fd.hpp"
#include "pop3/error.hpp"
#include "pop3/log.hpp"

namespace pop3 {

namespace detail {

// A crypt_data (32 KiB, holds the password while hashing) on the heap, wiped when done.
class CryptScratch {
 public:
  CryptScratch() : data_(std::make_unique<crypt_data>()) {}  // value-initialized: all zero
  CryptScratch(const CryptScratch&) = delete;
  CryptScratch& operator=(const CryptScratch&) = delete;
  ~CryptScratch() { detail::secure_zero(data_.get(), sizeof *data_); }
  // crypt_rn: NULL on failure (never crypt's "*0" magic), no static buffer.
  const char* hash(const char* phrase, const char* setting) {
    return ::crypt_rn(phrase, setting, data_.get(), sizeof *data_);
  }

 private:
  std::unique_ptr<crypt_data> data_;
};

// Compares a crypt result with the stored hash in time that depends only on the stored length.
inline bool constant_time_equal(std::string_view computed, std::string_view stored) noexcept {
  unsigned char diff = computed.size() == stored.size() ? 0 : 1;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const char c = i < computed.size() ? computed[i] : '\0';
    diff = static_cast<unsigned char>(diff | (c ^ stored[i]));
  }
  return diff == 0;
}

// What one login attempt's hashing found: whether the account's own hash matched, and how many
// crypt(3) calls it made.
struct HashAttempt {
  bool match = false;
  std::size_t hashed = 0;
};

// Hashes `phrase` with the account's own hash `own` (nullptr: no usable one) first. A match that
// opens the account (`stop_on_match`) ends it there: the reply says the password was right, so
// the time may say it too. Every other outcome (an unknown name, a wrong password, a locked or
// closed account) also hashes the dummy of every other method in `methods`, or `fallback` when
// none is in use, so it costs one hash per method whoever asks: the time tells nothing about
// the name or its method. A login therefore pays only its own method's cost.
inline HashAttempt hash_attempt(const char* phrase, const std::string* own, bool stop_on_match,
                                const CryptMethods& methods, const std::string& fallback) {
  const std::vector<CryptMethods::Method>& in_use = methods.methods();
  HashAttempt attempt;
  CryptScratch scratch;
  std::size_t own_method = CryptMethods::npos;
  if (own != nullptr) {
    const char* result = scratch.hash(phrase, own->c_str());
    ++attempt.hashed;
    attempt.match = result != nullptr && constant_time_equal(result, *own);
    if (attempt.match && stop_on_match) return attempt;
    own_method = methods.find(*own);
  }
  for (std::size_t i = 0; i < in_use.size(); ++i) {
    if (i == own_method) continue;
    (void)scratch.hash(phrase, in_use[i].dummy.c_str());
    ++attempt.hashed;
  }
  if (in_use.empty() && own == nullptr) {
    (void)scratch.hash(phrase, fallback.c_str());
    ++attempt.hashed;
  }
  return attempt;
}

// The aging fields of a shadow entry (shadow(5)), in days since 1970-01-01; -1 where empty.
struct ShadowAging {
  long last_change = -1;  // sp_lstchg; 0 = the password must be changed at the next login
  long max_age = -1;      // sp_max
  long inactive = -1;     // sp_inact: days after max_age during which a change is still allowed
  long expire = -1;       // sp_expire: the account is closed from this day on
};

// Why pam_unix's account check refuses an account, or open.
enum class ShadowVerdict { open, account_expired, password_inactive, change_forced, password_aged };

// pam_unix's check_shadow_expiry (modules/pam_unix/passverify.c) as Debian 12's Linux-PAM 1.5.2
// has it, whose refusals Debian's popa3d gets from pam_acct_mgmt. `today` counts days since
// 1970-01-01 (time(NULL) / 86400). The aging rules refuse once the days since the last change
// exceed the limit (on the day they reach it, 1.5.2 still lets the login in; later upstream
// releases refuse a day earlier, and aging with an empty last-change field then stays off).
// A last change in the future leaves the account open; a minimum age only matters when
// changing the password.
inline ShadowVerdict check_shadow_expiry(const ShadowAging& s, long today) noexcept {
  if (s.expire != -1 && today >= s.expire) return ShadowVerdict::account_expired;
  if (s.last_change == 0) return ShadowVerdict::change_forced;
  if (today < s.last_change) return ShadowVerdict::open;
  // 1.5.2's tests, with its `passed > max + inactive` written so that nothing overflows (the
  // fields are whatever /etc/shadow holds): a last change near LONG_MIN counts as the longest
  // time ago, and passed - max_age, known to be positive, is beyond any inactive period when
  // it does not fit in a long.
  const long passed = s.last_change < today - LONG_MAX ? LONG_MAX : today - s.last_change;
  long past_max = 0;
  if (s.max_age != -1 && s.inactive != -1 && passed > s.max_age && passed > s.inactive &&
      (__builtin_sub_overflow(passed, s.max_age, &past_max) || past_max > s.inactive)) {
    return ShadowVerdict::password_inactive;
  }
  if (s.max_age != -1 && passed > s.max_age) return ShadowVerdict::password_aged;
  return ShadowVerdict::open;
}

// The log line, worded as pam_unix's pam_sm_acct_mgmt words it.
inline std::string closed_account_message(ShadowVerdict verdict, std::string_view user) {
  const std::string name(user);
  switch (verdict) {
    case ShadowVerdict::account_expired: return "Account " + name + " has expired (account expired)";
    case ShadowVerdict::password_inactive: return "Account " + name + " has expired (failed to change password)";
    case ShadowVerdict::change_forced: return "Expired password for user " + name + " (root enforced)";
    case ShadowVerdict::password_aged: return "Expired password for user " + name + " (password aged)";
    case ShadowVerdict::open: break;
  }
  return {};
}

// What a lookup found; the hash is wiped on destruction.
struct FoundAccount {
  bool found = false;
  std::string hash;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string mailbox;  // a users file's own mailbox field; empty: the locator's rule
  std::string home;     // system accounts: pw_dir (a users file has no home field)
  std::optional<ShadowAging> aging;  // system accounts with a shadow entry
  FoundAccount() = default;
  FoundAccount(const FoundAccount&) = delete;
  FoundAccount& operator=(const FoundAccount&) = delete;
  ~FoundAccount() { secure_zero(hash); }
};

inline bool write_bytes(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The system's methods and costs (shadow hashes, and passwd fields other than "x"), read in a
// child process that then exits: glibc keeps the last getspent() entry in a static buffer and
// frees its line buffers without wiping them, so the process that reads shadow must not be one
// that lives on (the -D listener forks every session, and each pre-auth child, from itself).
// The child sends each method as a 32-bit key length, the key, a 32-bit dummy length, the
// dummy; the parent checks each one (CryptMethods::add_dummy) and that the child exited 0.
inline bool read_system_methods(CryptMethods& methods, std::string& error) {
  methods = {};
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  UniqueFd read_end{fds[0]};
  UniqueFd write_end{fds[1]};
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    int status = 1;
    try {
      read_end.reset();
      CryptMethods found;
      ::setspent();
      for (std::size_t i = 0; i < (1u << 24); ++i) {
        const struct spwd* entry = ::getspent();
        if (entry == nullptr) break;
        if (entry->sp_pwdp != nullptr) found.add(entry->sp_pwdp);
      }
      ::endspent();
      ::setpwent();
      for (std::size_t i = 0; i < (1u << 24); ++i) {
        const struct passwd* entry = ::getpwent();
        if (entry == nullptr) break;
        if (entry->pw_passwd != nullptr && std::strcmp(entry->pw_passwd, "x") != 0) found.add(entry->pw_passwd);
      }
      ::endpwent();
      std::string message;
      for (const CryptMethods::Method& method : found.methods()) {
        for (const std::string* field : {&method.key, &method.dummy}) {
          const auto size = static_cast<std::uint32_t>(field->size());
          message.append(reinterpret_cast<const char*>(&size), sizeof size).append(*field);
        }
      }
      status = write_bytes(write_end.get(), message) ? 0 : 1;
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  write_end.reset();
  constexpr std::size_t max_message = CryptMethods::max_methods * 2 * (sizeof(std::uint32_t) + CRYPT_OUTPUT_SIZE);
  std::string message;
  std::array<char, 4096> block;
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(read_end.get(), block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    message.append(block.data(), static_cast<std::size_t>(n));
    if (message.size() > max_message) {
      ok = false;
      break;
    }
  }
  read_end.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ok = false;
      break;
    }
  }
  ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::string_view rest = message;
  auto field = [&](std::string& out) {
    std::uint32_t size = 0;
    if (rest.size() < sizeof size) return false;
    std::memcpy(&size, rest.data(), sizeof size);
    rest.remove_prefix(sizeof size);
    if (size > CRYPT_OUTPUT_SIZE || size > rest.size()) return false;
    out.assign(rest.substr(0, size));
    rest.remove_prefix(size);
    return true;
  };
  while (ok && !rest.empty()) {
    std::string key, dummy;
    ok = field(key) && field(dummy) && methods.add_dummy(std::move(key), std::move(dummy));
  }
  if (!ok) {
    methods = {};
    error = "could not read the password hash methods of /etc/shadow";
  }
  return ok;
}

// /etc/shadow and /etc/passwd as last read, so that a change is noticed.
inline std::array<FileIdentity, 2> system_files_identity() {
  std::array<FileIdentity, 2> ids{};
  const std::array<const char*, 2> paths{"/etc/shadow", "/etc/passwd"};
  for (std::size_t i = 0; i < paths.size(); ++i) {
    struct stat st {};
    if (::stat(paths[i], &st) == 0) ids[i] = FileIdentity::of(st);
  }
  return ids;
}

}  // namespace detail

class CryptAuth {
 public:
  // System accounts: passwd + shadow (the hash comes from /etc/shadow when the passwd field is
  // "x"). Shadow is read here only for the methods in use, and in a child process
  // (read_system_methods).
  static std::optional<CryptAuth> system_accounts(std::string& error) {
    CryptAuth auth;
    if (!auth.make_default_dummy(error)) return std::nullopt;
    if (::geteuid() != 0 && ::access("/etc/shadow", R_OK) != 0 && errno == EACCES) {
      error = "/etc/shadow is readable by root only: run as root, or use a users file";
      return std::nullopt;
    }
    auth.system_ids_ = detail::system_files_identity();
    if (!detail::read_system_methods(auth.methods_, error)) return std::nullopt;
    return auth;
  }

  // A users file (see UsersFile), loaded and validated now so that a bad file is a startup
  // error. Indexed without its hashes; each login reads the account's line again, and a file
  // changed since is indexed again, so edits apply without a restart.
  static std::optional<CryptAuth> from_users_file(std::string path, std::string& error) {
    CryptAuth auth;
    if (!auth.make_default_dummy(error)) return std::nullopt;
    // Read again at each login, maybe after the daemon changed directory to "/".
    if (!path.empty() && path.front() != '/') {
      std::error_code ec;
      const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
      if (ec) {
        error = path + ": " + ec.message();
        return std::nullopt;
      }
      path = absolute.string();
    }
    auth.users_ = UsersFile::open(std::move(path), error);
    if (!auth.users_) return std::nullopt;
    return auth;
  }

  // Where the reasons for refusing a closed account go (shadow's expiry and aging fields).
  void set_log(LogSink log) { log_ = std::move(log); }

  // Reads the accounts' files again if they changed since: the users file's index, or the
  // methods in use in /etc/shadow. For a process that lives on and forks the sessions (the -D
  // listener), so that each one starts from the current files. false with `error` when a
  // changed file could not be read; logins then fail (users file) or use the old methods.
  bool refresh(std::string& error) {
    if (users_) return users_->refresh(error);
    const std::array<detail::FileIdentity, 2> ids = detail::system_files_identity();
    if (ids == system_ids_) return true;
    system_ids_ = ids;
    CryptMethods methods;
    if (!detail::read_system_methods(methods, error)) return false;
    methods_ = std::move(methods);
    return true;
  }

  // The methods and costs a login attempt hashes with (see CryptMethods).
  [[nodiscard]] const CryptMethods& methods() const noexcept { return users_ ? users_->methods() : methods_; }

  // An account on success. Otherwise std::nullopt and ec = errc::unknown_user (no such name),
  // errc::auth_failed (known name: wrong password, locked, UID 0, empty password, closed by
  // its shadow entry) or errc::auth_backend (the account database could not be read).
  std::optional<Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    ec.clear();
    detail::FoundAccount account;
    if (detail::valid_user_name(user)) {
      if (const std::error_code failure = lookup(std::string(user), account)) {
        ec = failure;
        return std::nullopt;
      }
    }
    // popa3d's AUTH_BUFFER_SIZE bounds user and password anyway; a NUL would cut the phrase.
    std::array<char, 256> phrase{};
    const bool phrase_ok = !password.empty() && password.size() < phrase.size() &&
                           password.find('\0') == std::string_view::npos;
    if (phrase_ok) std::memcpy(phrase.data(), password.data(), password.size());

    const bool real = account.found && phrase_ok && detail::usable_hash(account.hash) && account.uid != 0;
    detail::ShadowVerdict verdict = detail::ShadowVerdict::open;
    if (account.aging) {
      verdict = detail::check_shadow_expiry(*account.aging, static_cast<long>(::time(nullptr) / 86400));
    }
    const detail::HashAttempt attempt = detail::hash_attempt(
        phrase.data(), real ? &account.hash : nullptr,
        /*stop_on_match=*/verdict == detail::ShadowVerdict::open, methods(), default_dummy_);
    detail::secure_zero(phrase.data(), phrase.size());

    if (!account.found) {
      ec = errc::unknown_user;
      return std::nullopt;
    }
    if (!real || !attempt.match) {
      ec = errc::auth_failed;
      return std::nullopt;
    }
    if (verdict != detail::ShadowVerdict::open) {
      log_line(log_, LogPriority::notice, detail::closed_account_message(verdict, user));
      ec = errc::auth_failed;
      return std::nullopt;
    }
    return Account{std::string(user), std::move(account.mailbox), account.uid, account.gid, std::move(account.home)};
  }

 private:
  CryptAuth() = default;

  // What an unknown user is hashed with when no account has a usable hash: default yescrypt,
  // what Debian's passwd writes.
  bool make_default_dummy(std::string& error) {
    std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
    if (::crypt_gensalt_rn("$y$", 0, nullptr, 0, salt.data(), static_cast<int>(salt.size())) == nullptr) {
      error = std::string("crypt_gensalt: ") + std::strerror(errno);
      return false;
    }
    default_dummy_ = salt.data();
    return true;
  }

  std::error_code lookup(const std::string& user, detail::FoundAccount& out) {
    if (users_) return lookup_users_file(user, out);
    return lookup_system(user, out);
  }

  std::error_code lookup_users_file(const std::string& user, detail::FoundAccount& out) {
    UsersFileAccount entry;
    if (const std::error_code ec = users_->find(user, entry)) return ec;
    if (!entry.found) return {};
    out.found = true;
    out.hash = entry.hash;
    out.uid = entry.uid;
    out.gid = entry.gid;
    out.mailbox = entry.mailbox;
    return {};
  }

  std::error_code lookup_system(const std::string& user, detail::FoundAccount& out) const {
    std::vector<char> buffer;
    passwd pw{};
    passwd* pw_found = nullptr;
    if (detail::lookup_entry(user.c_str(), pw, &pw_found, buffer, ::getpwnam_r) != 0) {
      return errc::auth_backend;
    }
    bool shadowed = true;  // an unknown name is looked up in shadow too, to take as long
    bool id_ok = true;
    if (pw_found != nullptr) {
      out.found = true;
      out.uid = pw.pw_uid;
      out.gid = pw.pw_gid;
      out.home = pw.pw_dir != nullptr ? pw.pw_dir : "";
      // An identity that setresuid/setresgid would read as "unchanged" is never usable.
      id_ok = pw.pw_uid != static_cast<uid_t>(-1) && pw.pw_gid != static_cast<gid_t>(-1);
      shadowed = std::strcmp(pw.pw_passwd, "x") == 0;
      if (id_ok && !shadowed) out.hash = pw.pw_passwd;
    }
    detail::secure_zero(buffer.data(), buffer.size());
    if (id_ok && shadowed) {
      spwd sp{};
      spwd* sp_found = nullptr;
      const int rc = detail::lookup_entry(user.c_str(), sp, &sp_found, buffer, ::getspnam_r);
      if (rc == 0 && sp_found != nullptr && out.found) {  // no shadow entry: locked
        out.hash = sp.sp_pwdp;
        out.aging = detail::ShadowAging{sp.sp_lstchg, sp.sp_max, sp.sp_inact, sp.sp_expire};
      }
      detail::secure_zero(buffer.data(), buffer.size());
      if (rc != 0 && out.found) return errc::auth_backend;
    }
    return {};
  }

  std::optional<UsersFile> users_;  // empty: system accounts
  CryptMethods methods_;            // system accounts: the methods in use in shadow
  std::array<detail::FileIdentity, 2> system_ids_{};
  std::string default_dummy_;
  LogSink log_;
};

static_assert(AuthPolicy<CryptAuth>, "CryptAuth must model pop3::AuthPolicy");

}  // namespace pop3
