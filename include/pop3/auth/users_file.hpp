// pop3/auth/users_file.hpp: the users file of CryptAuth, indexed once, and the crypt(3)
// methods its accounts use (libxcrypt; link -lcrypt).
//
// One account per line, `name:crypt-hash:uid:gid:mailbox` (mailbox: empty, an mbox path or a
// location template such as maildir:/srv/mail/alice). The file is read and validated
// once into a sorted index of names and line positions, which holds no hash; a lookup reads
// that one line again (pread) and parses it. A file that is no longer the one indexed
// (device, inode, size, mtime or ctime differ) is indexed again first.
//
//   std::string error;
//   auto users = pop3::UsersFile::open("/etc/popa3d/users", error);   // error: "FILE: line 3: why"
//   pop3::UsersFileAccount account;
//   std::error_code ec = users->find("alice", account);   // account.found, .hash, .uid, ...
//
// The daemon's root process keeps the index and forks every session, so no hash may stay in
// its memory: the file's text is wiped after indexing, and hashes are only ever copied into
// buffers that are wiped after use.
#pragma once

#include <crypt.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "pop3/auth/user_lookup.hpp"
#include "pop3/detail/secure_zero.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/detail/unique_fd.hpp"
#include "pop3/error.hpp"

namespace pop3 {

namespace detail {

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

// A hash copied into a NUL-terminated buffer for libxcrypt, wiped when it goes away.
class HashBuffer {
 public:
  explicit HashBuffer(std::string_view hash) noexcept : ok_(hash.size() < buffer_.size()) {
    if (ok_) std::memcpy(buffer_.data(), hash.data(), hash.size());
  }
  HashBuffer(const HashBuffer&) = delete;
  HashBuffer& operator=(const HashBuffer&) = delete;
  ~HashBuffer() { secure_zero(buffer_.data(), buffer_.size()); }
  // false: longer than any hash crypt(3) produces.
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] const char* c_str() const noexcept { return buffer_.data(); }

 private:
  std::array<char, CRYPT_OUTPUT_SIZE> buffer_{};
  bool ok_;
};

// Where a crypt(3) hash keeps its method and cost (the "key", hash[0, key_end)) and its salt
// (hash[key_end, salt_end)). Two hashes with the same key cost the same to compute.
struct HashLayout {
  std::size_t key_end = 0;
  std::size_t salt_end = 0;
};

// The layouts of the methods libxcrypt implements (crypt(5)): DES "ssHHHHHHHHHHH", BSDi
// "_CCCCSSSSHHHHHHHHHHH", bcrypt "$2b$NN$" + 22 salt + 31 hash, scrypt "$7$" + 11 parameter
// characters + salt "$" hash, NT "$3$$" hash (no salt), SunMD5 "$md5[,rounds=N]$salt$$hash",
// and the rest "$id$[parameters$]salt$hash" (MD5, SHA-256/512, sha1crypt, yescrypt,
// gost-yescrypt). For whole hashes, as accounts hold them: std::nullopt for anything else, and
// a setting without its hash may be split wrongly.
inline std::optional<HashLayout> hash_layout(std::string_view hash) noexcept {
  if (hash.empty()) return std::nullopt;
  if (hash.front() == '_') {
    if (hash.size() < 9) return std::nullopt;
    return HashLayout{5, 9};
  }
  if (hash.front() != '$') {
    if (hash.size() < 13) return std::nullopt;
    return HashLayout{0, 2};
  }
  if (hash.size() >= 29 && hash[1] == '2' && hash[3] == '$' && hash[6] == '$') return HashLayout{7, 29};
  if (hash.starts_with("$7$")) {
    const std::size_t end = hash.find('$', 14);
    if (hash.size() < 14 || end == std::string_view::npos) return std::nullopt;
    return HashLayout{14, end};
  }
  if (hash.starts_with("$3$$")) return HashLayout{3, 3};
  if (hash.starts_with("$md5")) {
    const std::size_t key = hash.find('$', 1);
    const std::size_t end = key == std::string_view::npos ? key : hash.find("$$", key + 1);
    if (end == std::string_view::npos) return std::nullopt;
    return HashLayout{key + 1, end};
  }
  const std::size_t last = hash.rfind('$');
  const std::size_t before = last == 0 ? std::string_view::npos : hash.rfind('$', last - 1);
  if (before == std::string_view::npos || before == 0 || last + 1 == hash.size()) return std::nullopt;
  return HashLayout{before + 1, last};
}

// A setting with the method and cost of `hash` and a fresh random salt: hashing any password
// with it costs what checking a password against `hash` costs, and no account's salt or hash
// is in it. The salt comes from crypt_gensalt where the method decodes it (bcrypt, yescrypt),
// otherwise from getrandom in crypt(3)'s alphabet at the length `hash` uses.
inline bool make_dummy_setting(std::string_view hash, std::string& setting) {
  const std::optional<HashLayout> layout = hash_layout(hash);
  if (!layout) return false;
  const std::string_view key = hash.substr(0, layout->key_end);
  const std::size_t salt_size = layout->salt_end - layout->key_end;
  std::string salt;
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> generated{};
  const bool bcrypt = hash.size() > 1 && hash[1] == '2' && layout->key_end == 7;
  if (bcrypt || hash.starts_with("$y$") || hash.starts_with("$gy$")) {
    if (::crypt_gensalt_rn(bcrypt ? "$2b$" : "$y$", 0, nullptr, 0, generated.data(),
                           static_cast<int>(generated.size())) == nullptr) {
      return false;
    }
    const std::string_view out = generated.data();
    salt = bcrypt ? out.substr(7, 22) : out.substr(out.rfind('$') + 1);
  } else {
    constexpr std::string_view alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::array<unsigned char, 64> random{};
    if (salt_size > random.size() ||
        ::getrandom(random.data(), salt_size, 0) != static_cast<ssize_t>(salt_size)) {
      return false;
    }
    for (std::size_t i = 0; i < salt_size; ++i) salt += alphabet[random[i] & 63];
  }
  setting.assign(key).append(salt);
  if (hash.starts_with("$md5") || hash.starts_with("$sha1$")) setting += '$';  // as crypt_gensalt writes them
  const int check = ::crypt_checksalt(setting.c_str());
  return check == CRYPT_SALT_OK || check == CRYPT_SALT_METHOD_LEGACY || check == CRYPT_SALT_TOO_CHEAP;
}

}  // namespace detail

// The crypt(3) methods and costs that a set of accounts uses, each with a dummy setting of the
// same method and cost (detail::make_dummy_setting). A refused login attempt hashes the
// password once per method here, with the account's real hash for its own method and the
// dummies for the others, so a known user, a locked one and an unknown name all cost the same
// (detail::hash_attempt in pop3/auth/crypt.hpp).
class CryptMethods {
 public:
  // Far more than any real system has; past it, further methods are not matched (their
  // accounts then cost what the first methods cost, plus their own hash).
  static constexpr std::size_t max_methods = 16;

  struct Method {
    std::string key;    // the hash up to its salt: "$6$rounds=10000$", "$2b$12$", "" for DES
    std::string dummy;  // that key with a fresh random salt
  };

  // Takes note of `hash`'s method and cost, if usable and new.
  void add(std::string_view hash) {
    if (!detail::usable_hash(hash) || methods_.size() >= max_methods) return;
    const std::optional<detail::HashLayout> layout = detail::hash_layout(hash);
    if (!layout || find_key(hash.substr(0, layout->key_end)) != npos) return;
    Method method;
    method.key = hash.substr(0, layout->key_end);
    if (detail::make_dummy_setting(hash, method.dummy)) methods_.push_back(std::move(method));
  }
  // Adds a method that was read elsewhere (the system accounts' reader child): `dummy` must
  // be `key` followed by a salt, and a setting crypt(3) accepts.
  bool add_dummy(std::string key, std::string dummy) {
    const int check = ::crypt_checksalt(dummy.c_str());
    if (methods_.size() >= max_methods || !dummy.starts_with(key) || dummy.find('\0') != std::string::npos ||
        (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY && check != CRYPT_SALT_TOO_CHEAP) ||
        find_key(key) != npos) {
      return false;
    }
    methods_.push_back(Method{std::move(key), std::move(dummy)});
    return true;
  }

  // The method of `hash` among these, or npos.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  [[nodiscard]] std::size_t find(std::string_view hash) const noexcept {
    const std::optional<detail::HashLayout> layout = detail::hash_layout(hash);
    return layout ? find_key(hash.substr(0, layout->key_end)) : npos;
  }
  [[nodiscard]] const std::vector<Method>& methods() const noexcept { return methods_; }

 private:
  [[nodiscard]] std::size_t find_key(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < methods_.size(); ++i) {
      if (methods_[i].key == key) return i;
    }
    return npos;
  }
  std::vector<Method> methods_;
};

// What a lookup found. The hash is wiped on destruction.
struct UsersFileAccount {
  bool found = false;
  std::string hash;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string mailbox;  // an absolute mbox path, a location template (locator.hpp), or empty

  UsersFileAccount() = default;
  UsersFileAccount(const UsersFileAccount&) = delete;
  UsersFileAccount& operator=(const UsersFileAccount&) = delete;
  ~UsersFileAccount() { detail::secure_zero(hash); }
};

namespace detail {

// One line of the users file, as views into its text.
struct UsersLine {
  std::string_view name;
  std::string_view hash;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string_view mailbox;
};

// Parses one line that is neither blank nor a comment. nullptr, or why it is malformed.
// Locked hashes ('*', '!', empty) are accepted here and refused at login.
inline const char* parse_users_line(std::string_view line, UsersLine& out) {
  if (has_control(line)) return "control character in line (DOS line ends?)";
  std::array<std::string_view, 5> fields;
  std::string_view rest = line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::size_t colon = rest.find(':');
    if (i + 1 < fields.size()) {
      if (colon == std::string_view::npos) return "expected 5 fields name:hash:uid:gid:mailbox";
      fields[i] = rest.substr(0, colon);
      rest = rest.substr(colon + 1);
    } else {
      // The mailbox field may start with a location template's scheme (locator.hpp).
      const std::size_t scheme = rest.starts_with(maildir_scheme) ? maildir_scheme.size()
                                 : rest.starts_with(mbox_scheme)  ? mbox_scheme.size()
                                                                  : 0;
      if (rest.find(':', scheme) != std::string_view::npos) return "more than 5 fields (':' in the mailbox path?)";
      fields[i] = rest;
    }
  }
  if (!valid_user_name(fields[0])) return "user name is empty or contains a blank or '/'";
  if (usable_hash(fields[1])) {
    // Legacy (DES, MD5) and cheap hashes still work; a typo or a disabled method never could.
    const HashBuffer hash(fields[1]);
    const int check = hash.ok() ? ::crypt_checksalt(hash.c_str()) : CRYPT_SALT_INVALID;
    if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY && check != CRYPT_SALT_TOO_CHEAP) {
      return "password hash is not one crypt(3) supports";
    }
  }
  if (!parse_id(fields[2], out.uid)) return "uid is not a number from 0 to 4294967294";
  if (!parse_id(fields[3], out.gid)) return "gid is not a number from 0 to 4294967294";
  if (!fields[4].empty() && fields[4].front() != '/') {
    if (fields[4].find(':') == std::string_view::npos) return "mailbox is not an absolute path";
    if (check_location_template(fields[4]) != nullptr)
      return "mailbox is neither an absolute path nor a template (mbox:PATH, maildir:PATH; %u, %h, %%)";
  }
  out.name = fields[0];
  out.hash = fields[1];
  out.mailbox = fields[4];
  return nullptr;
}

// Which file was indexed: any write or replacement changes one of these.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  timespec mtime{};
  timespec ctime{};

  static FileIdentity of(const struct stat& st) noexcept {
    return FileIdentity{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
  }
  friend bool operator==(const FileIdentity& a, const FileIdentity& b) noexcept {
    return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime.tv_sec == b.mtime.tv_sec &&
           a.mtime.tv_nsec == b.mtime.tv_nsec && a.ctime.tv_sec == b.ctime.tv_sec &&
           a.ctime.tv_nsec == b.ctime.tv_nsec;
  }
};

inline constexpr off_t max_users_file_size = 16 << 20;

// Refuses a file others could change or read: it grants logins as any UID.
inline bool check_users_file(const std::string& path, const struct stat& st, std::string& error) {
  if (!S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
  } else if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    error = path + ": must be owned by root (or by the user running popa3d)";
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) != 0) {
    error = path + ": must not be writable by group or others, nor readable by others (chmod 600)";
  } else if (st.st_size > max_users_file_size) {
    error = path + ": larger than 16 MiB";
  } else {
    return true;
  }
  return false;
}

// The sorted index: names and where their lines are, no hash.
struct UsersIndex {
  struct Slot {
    std::uint32_t name_offset;  // into `names`
    std::uint32_t name_size;
    std::uint32_t line_offset;  // into the file
    std::uint32_t line_size;
    std::uint32_t line;         // 1-based line number
  };
  FileIdentity identity;
  std::string error;  // empty: the file is valid; otherwise "line N: why"
  std::string names;
  std::vector<Slot> slots;  // sorted by name
  CryptMethods methods;

  [[nodiscard]] std::string_view name(const Slot& slot) const noexcept {
    return std::string_view(names).substr(slot.name_offset, slot.name_size);
  }
};

// Indexes the text of a users file in O(n log n). Blank lines and lines whose first non-blank
// character is '#' are ignored. On a malformed line, or a name defined twice, `index.error`
// is "line N: why" for the first such line, as a reading from the top would find it.
inline void index_users_file(std::string_view text, UsersIndex& index) {
  index.error.clear();
  index.names.clear();
  index.slots.clear();
  index.methods = {};
  std::size_t number = 0;
  std::size_t offset = 0;
  std::string first_error;
  std::size_t error_line = 0;
  while (offset < text.size()) {
    ++number;
    const std::size_t eol = text.find('\n', offset);
    const std::size_t end = eol == std::string_view::npos ? text.size() : eol;
    const std::string_view line = text.substr(offset, end - offset);
    const std::size_t line_offset = offset;
    offset = eol == std::string_view::npos ? text.size() : eol + 1;

    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    UsersLine parsed;
    if (const char* why = parse_users_line(line, parsed)) {
      first_error = why;
      error_line = number;
      break;
    }
    index.methods.add(parsed.hash);
    index.slots.push_back({static_cast<std::uint32_t>(index.names.size()),
                           static_cast<std::uint32_t>(parsed.name.size()),
                           static_cast<std::uint32_t>(line_offset), static_cast<std::uint32_t>(line.size()),
                           static_cast<std::uint32_t>(number)});
    index.names.append(parsed.name);
  }
  std::sort(index.slots.begin(), index.slots.end(), [&](const UsersIndex::Slot& a, const UsersIndex::Slot& b) {
    const int order = index.name(a).compare(index.name(b));
    return order != 0 ? order < 0 : a.line < b.line;
  });
  // The earliest line that repeats a name defined above it, if before the first malformed line.
  const UsersIndex::Slot* repeat = nullptr;
  const UsersIndex::Slot* original = nullptr;
  for (std::size_t i = 1; i < index.slots.size(); ++i) {
    const UsersIndex::Slot& a = index.slots[i - 1];
    const UsersIndex::Slot& b = index.slots[i];
    if (index.name(a) == index.name(b) && (repeat == nullptr || b.line < repeat->line)) {
      const bool same_run = i >= 2 && index.name(index.slots[i - 2]) == index.name(b);
      if (!same_run) {
        repeat = &b;
        original = &a;
      }
    }
  }
  if (repeat != nullptr) {
    index.error = "line " + std::to_string(repeat->line) + ": user name already defined on line " +
                  std::to_string(original->line);
  } else if (error_line != 0) {
    index.error = "line " + std::to_string(error_line) + ": " + first_error;
  }
  if (!index.error.empty()) {
    index.names.clear();
    index.slots.clear();
    index.methods = {};
  }
}

// Reads all of `fd` (a users file, `st` its fstat) into `text`, which is wiped on failure.
inline bool read_users_text(int fd, const std::string& path, const struct stat& st, std::string& text,
                            std::string& error) {
  secure_zero(text);
  text.reserve(static_cast<std::size_t>(st.st_size) + 1);
  std::array<char, 4096> block;
  bool ok = true;
  off_t at = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, block.data(), block.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = path + ": " + std::strerror(errno);
      ok = false;
      break;
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > static_cast<std::size_t>(st.st_size)) {
      error = path + ": grew while being read";
      ok = false;
      break;
    }
    text.append(block.data(), static_cast<std::size_t>(n));
    at += n;
  }
  secure_zero(block.data(), block.size());
  if (!ok) secure_zero(text);
  return ok;
}

// A users file opened for reading, checked; none with `error` otherwise.
inline UniqueFd open_users_file(const std::string& path, struct stat& st, std::string& error) {
  UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd) {
    error = path + ": " + std::strerror(errno);
    return fd;
  }
  if (::fstat(fd.get(), &st) != 0) {
    error = path + ": " + std::strerror(errno);
  } else if (check_users_file(path, st, error)) {
    return fd;
  }
  return {};
}

}  // namespace detail

class UsersFile {
 public:
  // Reads and indexes `path` (an absolute path: it is read again after the daemon changes
  // directory). std::nullopt with error = "PATH: why" or "PATH: line N: why".
  static std::optional<UsersFile> open(std::string path, std::string& error) {
    UsersFile file;
    file.path_ = std::move(path);
    struct stat st {};
    const detail::UniqueFd fd = detail::open_users_file(file.path_, st, error);
    if (!fd || !file.reindex(fd.get(), st, error)) return std::nullopt;
    return file;
  }

  // Indexes the file again if it is not the one indexed. true if nothing changed or the new
  // file is valid; false with `error` when the changed file cannot be used, and then every
  // lookup answers errc::auth_backend until it is fixed.
  bool refresh(std::string& error) {
    struct stat st {};
    const detail::UniqueFd fd = detail::open_users_file(path_, st, error);
    if (!fd) {
      broken_ = true;
      return false;
    }
    if (broken_ || !(detail::FileIdentity::of(st) == index_->identity)) return reindex(fd.get(), st, error);
    return true;
  }

  // Looks `name` up. {} with out.found set or not; errc::auth_backend when the file cannot be
  // read or is no longer valid.
  std::error_code find(std::string_view name, UsersFileAccount& out) {
    out.found = false;
    struct stat st {};
    std::string error;
    const detail::UniqueFd fd = detail::open_users_file(path_, st, error);
    if (!fd) return errc::auth_backend;
    if (!(detail::FileIdentity::of(st) == index_->identity) && !reindex(fd.get(), st, error)) return errc::auth_backend;
    if (!index_->error.empty()) return errc::auth_backend;
    return read_entry(fd.get(), name, out);
  }

  [[nodiscard]] const CryptMethods& methods() const noexcept { return index_->methods; }
  [[nodiscard]] std::size_t size() const noexcept { return index_->slots.size(); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  UsersFile() = default;

  bool reindex(int fd, const struct stat& st, std::string& error) {
    auto index = std::make_shared<detail::UsersIndex>();
    index->identity = detail::FileIdentity::of(st);
    std::string text;
    if (!detail::read_users_text(fd, path_, st, text, error)) {
      index->error = error;
    } else {
      detail::index_users_file(text, *index);
      detail::secure_zero(text);
      if (!index->error.empty()) error = path_ + ": " + index->error;
    }
    broken_ = false;
    const bool ok = index->error.empty();
    index_ = std::move(index);
    return ok;
  }

  std::error_code read_entry(int fd, std::string_view name, UsersFileAccount& out) const {
    const detail::UsersIndex& index = *index_;
    const auto it = std::lower_bound(index.slots.begin(), index.slots.end(), name,
                                     [&](const detail::UsersIndex::Slot& slot, std::string_view key) {
                                       return index.name(slot) < key;
                                     });
    if (it == index.slots.end() || index.name(*it) != name) return {};
    std::string line(it->line_size, '\0');
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::pread(fd, line.data() + done, line.size() - done,
                                static_cast<off_t>(it->line_offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    detail::UsersLine parsed;
    std::error_code result;
    // The file changed in a way its identity did not show: not this index's line any more.
    if (done != line.size() || detail::parse_users_line(line, parsed) != nullptr || parsed.name != name) {
      result = errc::auth_backend;
    } else {
      out.found = true;
      out.hash = parsed.hash;
      out.uid = parsed.uid;
      out.gid = parsed.gid;
      out.mailbox = parsed.mailbox;
    }
    detail::secure_zero(line);
    return result;
  }

  std::string path_;
  // Shared by copies (each session holds one): the index is never changed, only replaced.
  std::shared_ptr<const detail::UsersIndex> index_;
  bool broken_ = false;  // the file could not be opened at the last refresh
};

}  // namespace pop3
