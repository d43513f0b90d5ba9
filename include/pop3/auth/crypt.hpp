// pop3/auth/crypt.hpp: an AuthPolicy that checks passwords with crypt(3) (libxcrypt; link -lcrypt).
//
// Accounts come from the system (getpwnam + getspnam, maildrop = spool/user) or from a users file
// in passwd format, `name:crypt-hash:uid:gid:mailbox`. Needs root to read /etc/shadow.
//
//   std::string error;
//   auto auth = pop3::CryptAuth::from_users_file("/etc/popa3d/users", "/var/mail", error);
//   if (!auth) die(error);   // "/etc/popa3d/users: line 3: uid is not a number"
//
// Refused like popa3d's crypt builds (spec 6.4): UID 0, an empty user or password, a hash that is
// empty or starts with '*' or '!'. An unknown user costs one crypt(3) as expensive as a real one.
//
// @par Concepts
//   AuthPolicy
#pragma once

#include <crypt.h>
#include <fcntl.h>
#include <pwd.h>
#include <shadow.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/error.hpp"

namespace pop3 {

namespace detail {

// One account of a users file. The hash is wiped when the entry goes away: the file is read in
// the root process that forks the pre-auth children, which must not inherit it.
struct UsersFileEntry {
  std::string name;
  std::string hash;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string mailbox;  // absolute path, or empty for spool/name
  std::size_t line = 0;

  UsersFileEntry() = default;
  UsersFileEntry(const UsersFileEntry&) = delete;
  UsersFileEntry& operator=(const UsersFileEntry&) = delete;
  UsersFileEntry(UsersFileEntry&& other) noexcept
      : name(std::move(other.name)), hash(other.hash), uid(other.uid), gid(other.gid),
        mailbox(std::move(other.mailbox)), line(other.line) {
    secure_zero(other.hash);
  }
  UsersFileEntry& operator=(UsersFileEntry&&) = delete;
  ~UsersFileEntry() { secure_zero(hash); }
};

// A hash that can match some password. Empty, '*' and '!' mark locked accounts (shadow(5)).
inline bool usable_hash(std::string_view hash) noexcept {
  return !hash.empty() && hash.front() != '*' && hash.front() != '!';
}

// uid_t(-1) and gid_t(-1) mean "leave unchanged" to setresuid/setresgid, so they can never be
// an account's identity.
inline bool parse_id(std::string_view text, std::uint32_t& value) noexcept {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size() && value != UINT32_MAX;
}

inline bool has_control(std::string_view s) noexcept {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// A name that can be a USER argument and a file name in the spool: one word, no '/'.
inline bool valid_user_name(std::string_view name) noexcept {
  if (name.empty() || name == "." || name == "..") return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == ':') return false;
  }
  return true;
}

// The users file, one account per line: name:crypt-hash:uid:gid:mailbox. Blank lines and lines
// whose first non-blank character is '#' are ignored. On a malformed line: false and
// error = "line N: why". Locked hashes ('*', '!', empty) are accepted here and refused at login.
inline bool parse_users_file(std::string_view text, std::vector<UsersFileEntry>& entries,
                             std::string& error) {
  entries.clear();
  std::size_t number = 0;
  auto fail = [&](std::string_view why) {
    error = "line " + std::to_string(number) + ": " + std::string(why);
    entries.clear();
    return false;
  };
  while (!text.empty()) {
    ++number;
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);

    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (has_control(line)) return fail("control character in line (DOS line ends?)");

    std::array<std::string_view, 5> fields;
    std::string_view rest = line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::size_t colon = rest.find(':');
      if (i + 1 < fields.size()) {
        if (colon == std::string_view::npos) return fail("expected 5 fields name:hash:uid:gid:mailbox");
        fields[i] = rest.substr(0, colon);
        rest = rest.substr(colon + 1);
      } else {
        if (colon != std::string_view::npos) return fail("more than 5 fields (':' in the mailbox path?)");
        fields[i] = rest;
      }
    }
    UsersFileEntry entry;
    entry.line = number;
    entry.name = fields[0];
    if (!valid_user_name(fields[0])) return fail("user name is empty or contains a blank or '/'");
    entry.hash = fields[1];
    if (usable_hash(entry.hash)) {
      // Legacy (DES, MD5) and cheap hashes still work; a typo or a disabled method never could.
      const int check = ::crypt_checksalt(entry.hash.c_str());
      if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY && check != CRYPT_SALT_TOO_CHEAP) {
        return fail("password hash is not one crypt(3) supports");
      }
    }
    if (!parse_id(fields[2], entry.uid)) return fail("uid is not a number from 0 to 4294967294");
    if (!parse_id(fields[3], entry.gid)) return fail("gid is not a number from 0 to 4294967294");
    if (!fields[4].empty() && fields[4].front() != '/') return fail("mailbox is not an absolute path");
    entry.mailbox = fields[4];
    for (const UsersFileEntry& other : entries) {
      if (other.name == entry.name) {
        return fail("user name already defined on line " + std::to_string(other.line));
      }
    }
    entries.push_back(std::move(entry));
  }
  return true;
}

// Reads the users file with open/read into memory that is wiped after use (no stdio buffers
// holding hashes). Refuses a file others could change or read: it grants logins as any UID.
inline bool read_users_file(const std::string& path, std::string& text, std::string& error) {
  constexpr off_t max_size = 16 << 20;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok) {
    error = path + ": " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    ok = false;
  } else if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    error = path + ": must be owned by root (or by the user running popa3d)";
    ok = false;
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) != 0) {
    error = path + ": must not be writable by group or others, nor readable by others (chmod 600)";
    ok = false;
  } else if (st.st_size > max_size) {
    error = path + ": larger than 16 MiB";
    ok = false;
  }
  if (ok) {
    secure_zero(text);
    text.reserve(static_cast<std::size_t>(st.st_size) + 1);
    std::array<char, 4096> block;
    for (;;) {
      const ssize_t n = ::read(fd, block.data(), block.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = path + ": " + std::strerror(errno);
        ok = false;
        break;
      }
      if (n == 0) break;
      if (text.size() + static_cast<std::size_t>(n) > text.capacity()) {
        error = path + ": grew while being read";
        ok = false;
        break;
      }
      text.append(block.data(), static_cast<std::size_t>(n));
    }
    ::explicit_bzero(block.data(), block.size());
  }
  ::close(fd);
  if (!ok) secure_zero(text);
  return ok;
}

// Loads and validates the users file; errors name the file and the line.
inline bool load_users_file(const std::string& path, std::vector<UsersFileEntry>& entries,
                            std::string& error) {
  std::string text;
  bool ok = read_users_file(path, text, error);
  if (ok && !parse_users_file(text, entries, error)) {
    error = path + ": " + error;
    ok = false;
  }
  secure_zero(text);
  return ok;
}

// A crypt_data (32 KiB, holds the password while hashing) on the heap, wiped when done.
class CryptScratch {
 public:
  CryptScratch() : data_(std::make_unique<crypt_data>()) {}  // value-initialized: all zero
  CryptScratch(const CryptScratch&) = delete;
  CryptScratch& operator=(const CryptScratch&) = delete;
  ~CryptScratch() { ::explicit_bzero(data_.get(), sizeof *data_); }
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

// The setting (method, cost and salt: a hash without its final part) that an unknown user's
// password is hashed with, so that the attempt costs what a real one costs. It comes from
// `model`, a real hash, or is default yescrypt (what Debian's passwd writes) when `model` is
// empty. Making a setting costs nothing: no hash is computed at startup, and no real hash
// is kept in memory.
inline bool make_dummy_setting(const std::string& model, std::string& setting, std::string& error) {
  if (!model.empty()) {
    // "$id$params$salt$hash" -> "$id$params$salt"; traditional DES: the 2-character salt.
    const auto last = model.rfind('$');
    setting = model.front() == '$' && last != std::string::npos && last > 0 ? model.substr(0, last)
                                                                          : model.substr(0, 2);
    return true;
  }
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> salt{};
  if (::crypt_gensalt_rn("$y$", 0, nullptr, 0, salt.data(), static_cast<int>(salt.size())) == nullptr) {
    error = std::string("crypt_gensalt: ") + std::strerror(errno);
    return false;
  }
  setting = salt.data();
  return true;
}

// What a lookup found; the hash is wiped on destruction.
struct FoundAccount {
  bool found = false;
  std::string hash;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string maildrop;
  FoundAccount() = default;
  FoundAccount(const FoundAccount&) = delete;
  FoundAccount& operator=(const FoundAccount&) = delete;
  ~FoundAccount() { secure_zero(hash); }
};

// getpwnam_r / getspnam_r with a growing, wiped buffer. Returns 0 (found or not: see `*out`)
// or an errno value.
template <class Entry, class Lookup>
int lookup_entry(const char* name, Entry& entry, Entry** out, std::vector<char>& buffer, Lookup lookup) {
  buffer.assign(4096, '\0');
  for (;;) {
    const int rc = lookup(name, &entry, buffer.data(), buffer.size(), out);
    if (rc != ERANGE || buffer.size() >= (1u << 20)) {
      // ENOENT, ESRCH, EBADF and EPERM are documented ways of saying "no such name".
      if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
        *out = nullptr;
        return 0;
      }
      return rc;
    }
    ::explicit_bzero(buffer.data(), buffer.size());
    buffer.assign(buffer.size() * 2, '\0');
  }
}

}  // namespace detail

class CryptAuth {
 public:
  // System accounts: passwd + shadow (the hash comes from /etc/shadow when the passwd field is
  // "x"); the maildrop is spool/user, the user name exactly as sent (spec section 2).
  static std::optional<CryptAuth> system_accounts(std::string spool, std::string& error) {
    CryptAuth auth;
    if (!auth.set_spool(std::move(spool), error)) return std::nullopt;
    if (::geteuid() != 0 && ::access("/etc/shadow", R_OK) != 0 && errno == EACCES) {
      error = "/etc/shadow is readable by root only: run as root, or use a users file";
      return std::nullopt;
    }
    // The dummy check copies the method and cost of the first usable system hash, so an
    // unknown name costs what a real account costs here (default yescrypt if none).
    std::string model;
    ::setspent();
    while (const struct spwd* entry = ::getspent()) {
      if (entry->sp_pwdp != nullptr && detail::usable_hash(entry->sp_pwdp)) {
        model = entry->sp_pwdp;
        break;
      }
    }
    ::endspent();
    const bool ok = detail::make_dummy_setting(model, auth.dummy_setting_, error);
    detail::secure_zero(model);
    if (!ok) return std::nullopt;
    return auth;
  }

  // A users file (see parse_users_file), loaded and validated now so that a bad file is a
  // startup error; read again at each login, so the hashes never stay in this process's memory
  // (the root process forks the pre-auth children) and edits apply without a restart.
  static std::optional<CryptAuth> from_users_file(std::string path, std::string spool, std::string& error) {
    CryptAuth auth;
    if (!auth.set_spool(std::move(spool), error)) return std::nullopt;
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
    std::vector<detail::UsersFileEntry> entries;
    if (!detail::load_users_file(path, entries, error)) return std::nullopt;
    std::string model;
    for (const detail::UsersFileEntry& entry : entries) {
      if (detail::usable_hash(entry.hash)) {
        model = entry.hash;
        break;
      }
    }
    const bool ok = detail::make_dummy_setting(model, auth.dummy_setting_, error);
    detail::secure_zero(model);
    if (!ok) return std::nullopt;
    auth.users_file_ = std::move(path);
    return auth;
  }

  // An account on success. Otherwise std::nullopt and ec = errc::unknown_user (no such name),
  // errc::auth_failed (known name: wrong password, locked, UID 0, empty password) or
  // errc::auth_backend (the account database could not be read).
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
    // An unknown user's phrase is hashed with the dummy setting, which matches no result.
    const std::string& stored = real ? account.hash : dummy_setting_;
    bool match = false;
    {
      detail::CryptScratch scratch;
      const char* result = scratch.hash(phrase.data(), stored.c_str());
      match = result != nullptr && detail::constant_time_equal(result, stored);
    }
    ::explicit_bzero(phrase.data(), phrase.size());

    if (!account.found) {
      ec = errc::unknown_user;
      return std::nullopt;
    }
    if (!real || !match) {
      ec = errc::auth_failed;
      return std::nullopt;
    }
    return Account{std::string(user), std::move(account.maildrop), account.uid, account.gid};
  }

 private:
  CryptAuth() = default;

  bool set_spool(std::string spool, std::string& error) {
    while (spool.size() > 1 && spool.back() == '/') spool.pop_back();
    if (spool.empty() || spool.front() != '/') {
      error = "mail spool \"" + spool + "\" is not an absolute path";
      return false;
    }
    spool_ = std::move(spool);
    return true;
  }

  std::error_code lookup(const std::string& user, detail::FoundAccount& out) const {
    if (!users_file_.empty()) return lookup_users_file(user, out);
    return lookup_system(user, out);
  }

  std::error_code lookup_users_file(const std::string& user, detail::FoundAccount& out) const {
    std::vector<detail::UsersFileEntry> entries;
    std::string error;
    if (!detail::load_users_file(users_file_, entries, error)) return errc::auth_backend;
    for (detail::UsersFileEntry& entry : entries) {
      if (entry.name != user) continue;
      out.found = true;
      out.hash = entry.hash;
      out.uid = entry.uid;
      out.gid = entry.gid;
      out.maildrop = entry.mailbox.empty() ? spool_ + "/" + user : entry.mailbox;
      break;
    }
    return {};
  }

  std::error_code lookup_system(const std::string& user, detail::FoundAccount& out) const {
    std::vector<char> buffer;
    passwd pw{};
    passwd* pw_found = nullptr;
    if (detail::lookup_entry(user.c_str(), pw, &pw_found, buffer, ::getpwnam_r) != 0) {
      return errc::auth_backend;
    }
    if (pw_found == nullptr) return {};
    out.found = true;
    out.uid = pw.pw_uid;
    out.gid = pw.pw_gid;
    out.maildrop = spool_ + "/" + user;
    // An identity that setresuid/setresgid would read as "unchanged" is never usable.
    const bool id_ok = pw.pw_uid != static_cast<uid_t>(-1) && pw.pw_gid != static_cast<gid_t>(-1);
    const bool shadowed = std::strcmp(pw.pw_passwd, "x") == 0;
    if (id_ok && !shadowed) out.hash = pw.pw_passwd;
    ::explicit_bzero(buffer.data(), buffer.size());
    if (id_ok && shadowed) {
      spwd sp{};
      spwd* sp_found = nullptr;
      const int rc = detail::lookup_entry(user.c_str(), sp, &sp_found, buffer, ::getspnam_r);
      if (rc == 0 && sp_found != nullptr) out.hash = sp.sp_pwdp;  // no shadow entry: locked
      ::explicit_bzero(buffer.data(), buffer.size());
      if (rc != 0) return errc::auth_backend;
    }
    return {};
  }

  std::string spool_;
  std::string users_file_;  // empty: system accounts
  std::string dummy_setting_;
};

static_assert(AuthPolicy<CryptAuth>, "CryptAuth must model pop3::AuthPolicy");

}  // namespace pop3
