// pop3/mailbox/maildir.hpp: a Maildir (or Maildir++) maildrop, served the way qmail-pop3d and
// Dovecot (pop3_uidl_format = %f) serve one, so their clients download nothing again.
//
// The messages are the regular files of cur/ and new/, in delivery order, fixed at open().
// UIDL is the file name up to its first ':'; LIST sizes are CRLF octets. QUIT unlinks the
// deleted files and moves the kept files of new/ to cur/. No lock is taken.
//
//   pop3::MaildirMailbox<> box{pop3::Limits{}};         // long or odd names hashed with MD5
//   std::error_code ec; box.open("maildir:/home/alice/Maildir", ec);
//   for (auto c = box.data(pop3::MsgIndex{0}, 0, ec); !c.empty(); c = box.data(...)) { /* LF text */ }
//
// @par Concepts
//   MailboxPolicy
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pop3/concepts.hpp"
#include "pop3/detail/unique_fd.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/error.hpp"
#include "pop3/limits.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/types.hpp"

namespace pop3 {

namespace detail {

// An NFS client returns ESTALE when the file handle it cached went away under it (the server
// replaced the directory or the file); looking the path up again usually succeeds.
inline constexpr int maildir_stale_tries = 4;

template <class Call>
auto maildir_retry_stale(Call call) {
  for (int attempt = 1;; ++attempt) {
    const auto result = call();
    if (result >= 0 || (errno != ESTALE && errno != EINTR) || attempt == maildir_stale_tries) return result;
  }
}

// The part of a Maildir file name before its first ':' (the info, ":2,FLAGS", follows it): the
// message's unique name, which does not change when a reader moves it or sets flags.
inline std::string_view maildir_base_name(std::string_view name) noexcept { return name.substr(0, name.find(':')); }

// The value of the `,KEY=digits` field of the base name (Courier's and Dovecot's ,S= raw size,
// Dovecot's ,W= size with CRLF line ends), or nullopt if there is none or it is not a number.
inline std::optional<std::uint64_t> maildir_name_field(std::string_view name, char key) noexcept {
  const std::string_view base = maildir_base_name(name);
  for (std::size_t comma = base.find(','); comma != std::string_view::npos;) {
    const std::size_t next = base.find(',', comma + 1);
    const std::string_view field = base.substr(comma + 1, next == std::string_view::npos ? next : next - comma - 1);
    if (field.size() > 2 && field[0] == key && field[1] == '=') {
      std::uint64_t value = 0;
      const auto [end, err] = std::from_chars(field.data() + 2, field.data() + field.size(), value);
      if (err == std::errc{} && end == field.data() + field.size()) return value;
      return std::nullopt;
    }
    comma = next;
  }
  return std::nullopt;
}

// Delivery order: the decimal timestamp a Maildir name starts with (none counts as 0), then
// the rest of the name, byte by byte. Digits are compared as numbers of any length.
inline bool maildir_delivered_before(std::string_view a, std::string_view b) noexcept {
  const auto digits = [](std::string_view s) {
    std::size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    return n;
  };
  const std::size_t da = digits(a), db = digits(b);
  std::string_view ta = a.substr(0, da), tb = b.substr(0, db);
  while (!ta.empty() && ta.front() == '0') ta.remove_prefix(1);
  while (!tb.empty() && tb.front() == '0') tb.remove_prefix(1);
  if (ta.size() != tb.size()) return ta.size() < tb.size();
  if (const int c = ta.compare(tb); c != 0) return c < 0;
  return a.substr(da) < b.substr(db);
}

// True if `base` may be sent as a UIDL as it is (RFC 1939 s.7: 1 to 70 characters, 0x21-0x7E).
inline bool maildir_valid_unique_id(std::string_view base) noexcept {
  if (base.empty() || base.size() > sizeof(UniqueId::chars)) return false;
  return std::all_of(base.begin(), base.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

// Message text as the encoder takes it (LF line ends): drops each CR that ends a line, so that
// a file stored with CRLF (as some delivery agents write) and one stored with LF (Courier,
// Dovecot, qmail) both go out with one CRLF per line. Works in place on `data[0, n)`, chunk by
// chunk: a CR that ends a chunk is held back (held_cr()) until the next byte is known. The
// output is at most n + 1 bytes: a held CR followed by something else is written first, at
// data - 1, so the caller keeps one byte free before `data`.
class CrlfToLf {
 public:
  // Converts `data[0, n)`; the result is [out, out + returned length), where out is data or data - 1.
  std::size_t convert(char* data, std::size_t n, char*& out) noexcept {
    out = data;
    char* o = data;
    const char* p = data;
    const char* const end = data + n;
    if (held_cr_) {
      held_cr_ = false;
      if (p == end || *p != '\n') {
        out = data - 1;
        *out = '\r';
      }
    }
    while (p < end) {
      const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
      const char* const stop = cr ? cr : end;
      if (o != p) std::memmove(o, p, static_cast<std::size_t>(stop - p));
      o += stop - p;
      p = stop;
      if (cr == nullptr) break;
      if (cr + 1 == end) {
        held_cr_ = true;  // decided by the next chunk, or kept at the end of the file
      } else if (cr[1] != '\n') {
        *o++ = '\r';
      }
      ++p;
    }
    return static_cast<std::size_t>(o - out);
  }
  // At the end of the file: a CR still held is a byte of the message.
  [[nodiscard]] bool held_cr() const noexcept { return held_cr_; }
  void reset() noexcept { held_cr_ = false; }

 private:
  bool held_cr_ = false;
};

}  // namespace detail

/// A Maildir maildrop (D. J. Bernstein's maildir(5), with Courier's Maildir++ quota file).
///
/// - open(location): the location is "maildir:DIR" or DIR. The messages are the regular files
///   of DIR/cur and DIR/new whose names do not start with '.' (subdirectories, symlinks and
///   other non-regular files are skipped), ordered by the timestamp their names start with,
///   then by the rest of the name. A file listed in both (moved by another reader while we
///   read) counts once. A missing DIR, cur or new is empty. Files that arrive in new/
///   afterwards are not seen until the next session.
/// - unique_id(): the name up to its first ':' if that is 1 to 70 characters from 0x21 to 0x7E;
///   otherwise the lower-case hex digits of Digest over it (over the whole name if that part
///   is empty), 32 for MD5, at most 70.
/// - size(): the octets sent for the message without dot-stuffing: the name's ,W= value when it
///   has one (Dovecot), else counted at open() from the file (never its raw size or ,S=, which
///   count LF line ends).
/// - data(): the file's bytes with each CR before an LF dropped (see detail::CrlfToLf), read
///   now. A file gone since open() is looked for in cur/ under its base name (another reader
///   moved it or changed its flags); if it is not there, errc::message_gone.
/// - commit(): unlinks the deleted files (gone already: fine), renames the kept files of new/
///   to cur/NAME:2, (moved already: fine), then, if DIR/maildirsize exists, appends the
///   Maildir++ line "-BYTES -COUNT" for the deleted files' raw sizes.
/// - verify() finds nothing to check: Maildir files are not rewritten.
/// Every system call is retried on ESTALE (an NFS-mounted maildir), a few times.
///
/// Memory: about 40 bytes per message plus its name, and one read buffer of chunk_bytes.
template <DigestPolicy Digest = Md5>
class MaildirMailbox {
 public:
  // Largest span data() returns, so the engine can flush between chunks of a large message.
  static constexpr std::size_t chunk_bytes = 64 * 1024;

  explicit MaildirMailbox(Limits limits = {}) noexcept : limits_(limits) {}

  MaildirMailbox(MaildirMailbox&&) noexcept = default;
  MaildirMailbox& operator=(MaildirMailbox&&) noexcept = default;
  MaildirMailbox(const MaildirMailbox&) = delete;
  MaildirMailbox& operator=(const MaildirMailbox&) = delete;

  // ec: errc::mailbox_refused (DIR is not a directory, or holds more than max_messages
  // messages), errc::mailbox_io (a directory or file that cannot be read, no memory).
  void open(std::string_view location, std::error_code& ec) {
    ec.clear();
    close_all();
    try {
      const std::string dir(parse_location(location).path);
      if (dir.empty()) return;  // no home for %h: nothing to serve
      maildir_fd_.reset(detail::maildir_retry_stale(
          [&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
      if (!maildir_fd_) {
        if (errno == ENOTDIR) ec = errc::mailbox_refused;
        else if (errno != ENOENT) ec = errc::mailbox_io;
        return;
      }
      // cur/ first: a file another reader moves from new/ to cur/ meanwhile is then seen once
      // or not at all (and kept for the next session), never twice.
      for (const bool in_cur : {true, false}) {
        read_directory(in_cur, ec);
        if (ec) return close_all();
      }
      order_and_size(ec);
      if (ec) return close_all();
      if (!buffer_) buffer_.reset(new char[chunk_bytes + 1]);
    } catch (const std::bad_alloc&) {
      ec = errc::mailbox_io;
      close_all();
    }
  }

  [[nodiscard]] std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(table_.size()); }
  [[nodiscard]] std::uint64_t size(MsgIndex i) const noexcept { return table_[i.value].size; }

  [[nodiscard]] UniqueId unique_id(MsgIndex i) const noexcept {
    const std::string_view name = name_of(table_[i.value]);
    const std::string_view base = detail::maildir_base_name(name);
    UniqueId id;
    if (detail::maildir_valid_unique_id(base)) {
      std::memcpy(id.chars.data(), base.data(), base.size());
      id.length = static_cast<std::uint8_t>(base.size());
      return id;
    }
    Digest digest;
    digest.update(base.empty() ? name : base);
    const auto value = digest.final();
    constexpr std::string_view hex = "0123456789abcdef";
    const std::size_t bytes = std::min(value.size(), id.chars.size() / 2);
    for (std::size_t k = 0; k < bytes; ++k) {
      id.chars[2 * k] = hex[value[k] >> 4];
      id.chars[2 * k + 1] = hex[value[k] & 0x0f];
    }
    id.length = static_cast<std::uint8_t>(2 * bytes);
    return id;
  }

  void verify(std::error_code& ec) noexcept { ec.clear(); }

  // The LF text of message i from `offset` (an offset in that text), at most chunk_bytes + 1
  // bytes, empty at the end. Reads on from where the last call stopped; any other offset reopens
  // the file. ec: errc::message_gone at offset 0 if the file is gone, errc::mailbox_io if it
  // cannot be read, errc::mailbox_changed if it went away under a later offset.
  [[nodiscard]] std::span<const char> data(MsgIndex i, std::uint64_t offset, std::error_code& ec) {
    ec.clear();
    if (!stream_fd_ || stream_index_ != i.value || offset != stream_offset_) {
      if (!open_stream(i, ec)) {
        if (ec == errc::message_gone && offset != 0) ec = errc::mailbox_changed;
        return {};
      }
      while (stream_offset_ < offset) {  // only for a caller that does not read in order
        const std::span<const char> skipped = next_chunk(ec);
        if (ec || skipped.empty()) {
          if (!ec) ec = errc::mailbox_changed;
          return {};
        }
        if (stream_offset_ > offset) {
          const auto keep = static_cast<std::size_t>(stream_offset_ - offset);
          return skipped.subspan(skipped.size() - keep);
        }
      }
    }
    return next_chunk(ec);
  }

  // UPDATE. ec: errc::mailbox_io if a file could not be unlinked or moved, or the quota file
  // not written (every other file is still dealt with).
  void commit(const DeletionSet& deletions, std::error_code& ec) {
    ec.clear();
    assert(deletions.messages() == count());
    stream_fd_.reset();
    if (!maildir_fd_) return;
    detail::UniqueFd quota(detail::maildir_retry_stale([&] {
      return ::openat(maildir_fd_.get(), "maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    }));
    bool failed = !quota && errno != ENOENT;
    std::uint64_t freed_bytes = 0;
    std::uint64_t freed_files = 0;
    for (std::uint32_t k = 0; k < count(); ++k) {
      Entry& entry = table_[k];
      if (deletions.marked(MsgIndex{k})) {
        std::uint64_t raw_size = 0;
        const int removed = remove(entry, static_cast<bool>(quota), raw_size);
        if (removed < 0) failed = true;
        if (removed > 0) {
          freed_bytes += raw_size;
          ++freed_files;
        }
      } else if (!entry.in_cur && !move_to_cur(entry)) {
        failed = true;
      }
    }
    if (quota && freed_files != 0) {
      // Maildir++: one line per change, "BYTES COUNT"; readers add the lines up.
      const std::string line = "-" + std::to_string(freed_bytes) + " -" + std::to_string(freed_files) + "\n";
      if (::write(quota.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) failed = true;
    }
    if (failed) ec = errc::mailbox_io;
  }

 private:
  struct Entry {
    std::uint32_t name_offset = 0;  // in names_
    std::uint16_t name_length = 0;
    bool in_cur = false;
    std::uint64_t size = 0;
  };

  [[nodiscard]] std::string_view name_of(const Entry& e) const noexcept {
    return std::string_view(names_).substr(e.name_offset, e.name_length);
  }
  [[nodiscard]] int dir_fd(bool in_cur) const noexcept { return in_cur ? cur_fd_.get() : new_fd_.get(); }

  void close_all() noexcept {
    maildir_fd_.reset();
    cur_fd_.reset();
    new_fd_.reset();
    stream_fd_.reset();
    table_.clear();
    table_.shrink_to_fit();
    names_.clear();
    names_.shrink_to_fit();
  }

  // Keeps `name` in names_; returns its offset there.
  std::uint32_t append_name(std::string_view name) {
    if (names_.size() > UINT32_MAX - name.size()) throw std::bad_alloc();
    const auto offset = static_cast<std::uint32_t>(names_.size());
    names_.append(name);
    return offset;
  }

  void add_entry(std::string_view name, bool in_cur) {
    table_.push_back(Entry{0, static_cast<std::uint16_t>(name.size()), in_cur, 0});
    table_.back().name_offset = append_name(name);
  }

  // Adds the messages of cur/ or new/. A missing directory holds none.
  void read_directory(bool in_cur, std::error_code& ec) {
    const char* sub = in_cur ? "cur" : "new";
    detail::UniqueFd& fd = in_cur ? cur_fd_ : new_fd_;
    const std::size_t first = table_.size();
    const std::size_t names_before = names_.size();
    for (int attempt = 1;; ++attempt) {
      fd.reset(detail::maildir_retry_stale(
          [&] { return ::openat(maildir_fd_.get(), sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
      if (!fd) {
        if (errno != ENOENT && errno != ENOTDIR) ec = errc::mailbox_io;
        return;
      }
      const int listing_fd = ::dup(fd.get());
      DIR* dir = listing_fd >= 0 ? ::fdopendir(listing_fd) : nullptr;
      if (dir == nullptr) {
        if (listing_fd >= 0) ::close(listing_fd);
        ec = errc::mailbox_io;
        return;
      }
      int error = 0;
      for (;;) {
        errno = 0;
        const dirent* d = ::readdir(dir);
        if (d == nullptr) {
          error = errno;
          break;
        }
        const std::string_view name(d->d_name);
        if (name.empty() || name.front() == '.') continue;
        bool regular = d->d_type == DT_REG;
        if (d->d_type == DT_UNKNOWN) {  // file systems that do not say: one lstat
          struct stat st {};
          regular = detail::maildir_retry_stale([&] {
                      return ::fstatat(fd.get(), d->d_name, &st, AT_SYMLINK_NOFOLLOW);
                    }) == 0 && S_ISREG(st.st_mode);
        }
        if (!regular) continue;
        if (table_.size() >= limits_.max_messages) {
          ::closedir(dir);
          ec = errc::mailbox_refused;
          return;
        }
        try {
          add_entry(name, in_cur);
        } catch (...) {
          ::closedir(dir);
          throw;
        }
      }
      ::closedir(dir);
      if (error == 0) return;
      table_.resize(first);
      names_.resize(names_before);
      if (error != ESTALE || attempt == detail::maildir_stale_tries) {
        ec = errc::mailbox_io;
        return;
      }
    }
  }

  // One entry per base name (cur/'s, if a file was seen in both), in delivery order, each with
  // its size. A file that went away before it could be counted is left out.
  void order_and_size(std::error_code& ec) {
    std::sort(table_.begin(), table_.end(), [this](const Entry& a, const Entry& b) {
      const std::string_view x = detail::maildir_base_name(name_of(a)), y = detail::maildir_base_name(name_of(b));
      return x != y ? x < y : a.in_cur > b.in_cur;
    });
    table_.erase(std::unique(table_.begin(), table_.end(),
                             [this](const Entry& a, const Entry& b) {
                               return detail::maildir_base_name(name_of(a)) == detail::maildir_base_name(name_of(b));
                             }),
                 table_.end());
    std::sort(table_.begin(), table_.end(), [this](const Entry& a, const Entry& b) {
      return detail::maildir_delivered_before(name_of(a), name_of(b));
    });
    std::size_t kept = 0;
    for (std::size_t k = 0; k < table_.size(); ++k) {
      Entry& e = table_[k];
      if (const auto wire = detail::maildir_name_field(name_of(e), 'W')) {
        e.size = *wire;
      } else if (!count_size(e, ec)) {
        if (ec) return;
        continue;  // gone
      }
      table_[kept++] = e;
    }
    table_.resize(kept);
    table_.shrink_to_fit();
  }

  // The octets the encoder sends for the file of `e` (CRLF line ends, no stuffing), into e.size.
  // False: the file is gone (no ec), or it could not be read (ec).
  bool count_size(Entry& e, std::error_code& ec) {
    if (!buffer_) buffer_.reset(new char[chunk_bytes + 1]);
    detail::UniqueFd fd(open_message(e));
    if (!fd) {
      if (errno != ENOENT) ec = errc::mailbox_io;
      return false;
    }
    detail::CrlfToLf lf;
    std::uint64_t size = 0;
    char last = '\n';
    for (;;) {
      const ssize_t got = detail::maildir_retry_stale([&] { return ::read(fd.get(), buffer_.get() + 1, chunk_bytes); });
      if (got < 0) {
        ec = errc::mailbox_io;
        return false;
      }
      if (got == 0) break;
      char* out = nullptr;
      const std::size_t n = lf.convert(buffer_.get() + 1, static_cast<std::size_t>(got), out);
      if (n == 0) continue;
      size += n + static_cast<std::uint64_t>(std::count(out, out + n, '\n'));
      last = out[n - 1];
    }
    if (lf.held_cr()) {
      ++size;
      last = '\r';
    }
    if (last != '\n') size += 2;  // the encoder ends an unterminated last line
    e.size = size;
    return true;
  }

  // The file of `e` opened for reading, or -1 with errno. A regular file only.
  int open_message(const Entry& e) const {
    const std::string name(name_of(e));
    const int fd = detail::maildir_retry_stale([&] {
      return ::openat(dir_fd(e.in_cur), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    });
    if (fd < 0) {
      if (errno == ELOOP) errno = ENOENT;  // a symlink put in its place: not the message
      return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      errno = ENOENT;
      return -1;
    }
    return fd;
  }

  // The message's file under its current name: if the name the table holds is gone, another
  // reader may have moved it to cur/ or changed its flags; the table then takes the name found
  // in cur/. False if there is none.
  bool find_moved(Entry& e) {
    if (!cur_fd_) return false;
    const std::string base(detail::maildir_base_name(name_of(e)));
    const int listing_fd = ::dup(cur_fd_.get());
    DIR* dir = listing_fd >= 0 ? ::fdopendir(listing_fd) : nullptr;
    if (dir == nullptr) {
      if (listing_fd >= 0) ::close(listing_fd);
      return false;
    }
    ::rewinddir(dir);  // the duplicate shares the offset an earlier listing left at the end
    bool found = false;
    while (const dirent* d = ::readdir(dir)) {
      const std::string_view name(d->d_name);
      if (name.starts_with(base) && (name.size() == base.size() || name[base.size()] == ':') &&
          (name_of(e) != name || !e.in_cur)) {
        try {
          e.name_offset = append_name(name);  // the table is not touched: `e` is one of its entries
        } catch (const std::bad_alloc&) {
          break;
        }
        e.name_length = static_cast<std::uint16_t>(name.size());
        e.in_cur = true;
        found = true;
        break;
      }
    }
    ::closedir(dir);
    return found;
  }

  // Starts reading message i from its first byte. ec: errc::message_gone, errc::mailbox_io.
  bool open_stream(MsgIndex i, std::error_code& ec) {
    stream_fd_.reset();
    stream_index_ = i.value;
    stream_offset_ = 0;
    lf_.reset();
    Entry& e = table_[i.value];
    stream_fd_.reset(open_message(e));
    if (!stream_fd_ && errno == ENOENT && find_moved(e)) stream_fd_.reset(open_message(e));
    if (!stream_fd_) {
      ec = errno == ENOENT ? errc::message_gone : errc::mailbox_io;
      return false;
    }
    return true;
  }

  std::span<const char> next_chunk(std::error_code& ec) {
    for (;;) {
      const ssize_t got =
          detail::maildir_retry_stale([&] { return ::read(stream_fd_.get(), buffer_.get() + 1, chunk_bytes); });
      if (got < 0) {
        stream_fd_.reset();
        ec = errc::mailbox_io;
        return {};
      }
      if (got == 0) {
        if (!lf_.held_cr()) return {};
        lf_.reset();
        buffer_[0] = '\r';
        stream_offset_ += 1;
        return {buffer_.get(), 1};
      }
      char* out = nullptr;
      const std::size_t n = lf_.convert(buffer_.get() + 1, static_cast<std::size_t>(got), out);
      if (n == 0) continue;  // a lone CR held back
      stream_offset_ += n;
      return {out, n};
    }
  }

  // Unlinks the file of `e` under its current name. 1: unlinked, with its raw size in
  // `raw_size` if `want_size`; 0: gone already; -1: failed.
  int remove(Entry& e, bool want_size, std::uint64_t& raw_size) {
    for (int round = 0; round < 2; ++round) {
      const std::string name(name_of(e));
      if (want_size) {
        struct stat st {};
        const auto named = detail::maildir_name_field(name, 'S');
        if (named) {
          raw_size = *named;
        } else if (detail::maildir_retry_stale([&] {
                     return ::fstatat(dir_fd(e.in_cur), name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
                   }) == 0) {
          raw_size = static_cast<std::uint64_t>(st.st_size);
        }
      }
      if (detail::maildir_retry_stale([&] { return ::unlinkat(dir_fd(e.in_cur), name.c_str(), 0); }) == 0) return 1;
      if (errno != ENOENT) return -1;
      if (round == 0 && !find_moved(e)) return 0;
    }
    return 0;
  }

  // Renames the file of `e` from new/ to cur/, with the info ":2," unless its name has one.
  // True also if it is no longer in new/ (another reader moved or deleted it).
  bool move_to_cur(Entry& e) {
    if (!cur_fd_) return true;  // no cur/: leave it where it is
    const std::string from(name_of(e));
    const std::string to = from.find(':') == std::string::npos ? from + ":2," : from;
    if (detail::maildir_retry_stale(
            [&] { return ::renameat(new_fd_.get(), from.c_str(), cur_fd_.get(), to.c_str()); }) == 0)
      return true;
    return errno == ENOENT;
  }

  Limits limits_;
  detail::UniqueFd maildir_fd_;
  detail::UniqueFd cur_fd_;
  detail::UniqueFd new_fd_;
  std::vector<Entry> table_;
  std::string names_;  // every message's file name, back to back
  std::unique_ptr<char[]> buffer_;  // chunk_bytes + 1: one byte before the read for a held CR
  // The file data() reads from, which message and how far (in LF text).
  detail::UniqueFd stream_fd_;
  std::uint32_t stream_index_ = 0;
  std::uint64_t stream_offset_ = 0;
  detail::CrlfToLf lf_;
};

static_assert(MailboxPolicy<MaildirMailbox<>>, "MaildirMailbox must satisfy MailboxPolicy");

}  // namespace pop3
