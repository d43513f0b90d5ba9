// pop3/posix/handoff.hpp: the two frames a child sends to root during a privsep login: the
// pre-auth child's {user, password, read-ahead, relay} and the password check's {status, UID,
// GID, user, mailbox, home}. Both are one layout: 32-bit words, then the byte fields the words
// size.
//
//   pop3::Credentials got;
//   bool relay = false;
//   pop3::posix::detail::write_handoff(fds[1], "alice", "secret", "STAT\r\n");   // in the child
//   if (pop3::posix::detail::read_handoff(fds[0], bounds, got, relay) == pop3::posix::detail::Handoff::ok) ...
//
// root trusts neither: every length is checked against its bound before a byte of the body is
// read (so a child cannot make root allocate more), and nothing may follow the frame. Both
// ends are this program, so the words are in native byte order.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/account.hpp"
#include "pop3/credentials.hpp"
#include "pop3/detail/secure_zero.hpp"
#include "pop3/error.hpp"

namespace pop3::posix {

// What root accepts from its children (PrivsepConfig carries them).
struct HandoffBounds {
  // popa3d's AUTH_BUFFER_SIZE: "user\0password\0" from the pre-auth child fits in this many bytes.
  std::size_t auth_buffer = 0;
  // The most client bytes the pre-auth child may hand on unread after PASS.
  std::size_t max_pending = 0;
};

namespace detail {

inline bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Reads up to `size` bytes; fewer only at end of file. -1 on a read error.
inline ssize_t read_full(int fd, char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

template <std::size_t Words>
using FrameWords = std::array<std::uint32_t, Words>;

// Writes the words and then the fields as one message; the staging copy, which may hold a
// password, is wiped.
template <std::size_t Words>
bool write_frame(int fd, const FrameWords<Words>& words, std::initializer_list<std::string_view> fields) {
  std::size_t size = sizeof words;
  for (const std::string_view field : fields) size += field.size();
  std::string message;
  message.reserve(size);
  message.append(reinterpret_cast<const char*>(words.data()), sizeof words);
  for (const std::string_view field : fields) message.append(field);
  const bool ok = write_all(fd, message.data(), message.size());
  pop3::detail::secure_zero(message);
  return ok;
}

enum class FrameRead { none, ok, malformed };

// The one reader of both frames. `body_size(words)` says how many body bytes the header
// announces, or std::nullopt if a word is out of bounds; only then is the body read, and
// exactly that many bytes must follow before the end of the pipe. none: the pipe was empty.
// The caller wipes `body` once it has taken its fields out.
template <std::size_t Words, class BodySize>
FrameRead read_frame(int fd, FrameWords<Words>& words, std::string& body, BodySize body_size) {
  std::array<char, sizeof(FrameWords<Words>)> header{};
  const ssize_t got = read_full(fd, header.data(), header.size());
  if (got == 0) return FrameRead::none;
  if (got != static_cast<ssize_t>(header.size())) return FrameRead::malformed;
  std::memcpy(words.data(), header.data(), header.size());
  const std::optional<std::size_t> size = body_size(std::as_const(words));
  if (!size) return FrameRead::malformed;
  body.assign(*size + 1, '\0');  // one byte more than announced: it must not arrive
  if (read_full(fd, body.data(), body.size()) != static_cast<ssize_t>(*size)) return FrameRead::malformed;
  body.resize(*size);
  return FrameRead::ok;
}

// The pre-auth child's frame: four words (user, password and pending lengths, and the relay
// flag: 1 when the child holds the client's TLS session and stays to relay it, else 0), then
// the bytes.
using Handoff = FrameRead;

inline bool write_handoff(int fd, std::string_view user, std::string_view password, std::string_view pending,
                          bool relay = false) {
  const FrameWords<4> words{static_cast<std::uint32_t>(user.size()), static_cast<std::uint32_t>(password.size()),
                            static_cast<std::uint32_t>(pending.size()), relay ? 1U : 0U};
  return write_frame(fd, words, {user, password, pending});
}

inline Handoff read_handoff(int fd, const HandoffBounds& bounds, Credentials& out, bool& relay) {
  FrameWords<4> length{};
  std::string body;
  const Handoff result = read_frame(fd, length, body, [&](const FrameWords<4>& w) -> std::optional<std::size_t> {
    const std::uint64_t auth_bytes = std::uint64_t{w[0]} + 1 + w[1] + 1;  // as "user\0pass\0"
    if (auth_bytes > bounds.auth_buffer || w[2] > bounds.max_pending || w[3] > 1) return std::nullopt;
    return std::size_t{w[0]} + w[1] + w[2];
  });
  relay = false;
  if (result == Handoff::ok) {
    out.user.assign(body.data(), length[0]);
    out.password.assign(body.data() + length[0], length[1]);
    out.pending.assign(body.data() + length[0] + length[1], length[2]);
    relay = length[3] == 1;
  }
  pop3::detail::secure_zero(body);
  return result;
}

// The same, for a caller with no relay (a transport without TLS): a relay flag is malformed.
inline Handoff read_handoff(int fd, const HandoffBounds& bounds, Credentials& out) {
  bool relay = false;
  const Handoff result = read_handoff(fd, bounds, out, relay);
  return result == Handoff::ok && relay ? Handoff::malformed : result;
}

// The password check's frame: six words (status, UID, GID, user length, mailbox length, home
// length), then the user, the mailbox (Account::mailbox, empty when the locator's rule applies)
// and the home directory. A refusal is its status alone, the other words 0.
enum class AuthStatus : std::uint32_t { account = 0, auth_failed = 1, unknown_user = 2, auth_backend = 3 };
// PATH_MAX: no longer mailbox (or home) could be opened.
inline constexpr std::size_t max_maildrop = 4096;

inline bool write_auth_result(int fd, const std::optional<Account>& account, std::error_code ec) {
  if (!account) {
    const AuthStatus status = ec == errc::auth_failed    ? AuthStatus::auth_failed
                              : ec == errc::unknown_user ? AuthStatus::unknown_user
                                                         : AuthStatus::auth_backend;
    return write_frame(fd, FrameWords<6>{static_cast<std::uint32_t>(status)}, {});
  }
  const FrameWords<6> words{static_cast<std::uint32_t>(AuthStatus::account), account->uid, account->gid,
                            static_cast<std::uint32_t>(account->user.size()),
                            static_cast<std::uint32_t>(account->mailbox.size()),
                            static_cast<std::uint32_t>(account->home.size())};
  return write_frame(fd, words, {account->user, account->mailbox, account->home});
}

// A known status; for an account, a user within the handoff's bound, a mailbox and a home
// within PATH_MAX and an identity that setresuid would not read as "unchanged". false: malformed.
inline bool read_auth_result(int fd, const HandoffBounds& bounds, std::optional<Account>& account,
                             std::error_code& ec) {
  account.reset();
  FrameWords<6> words{};
  std::string body;
  const FrameRead result = read_frame(fd, words, body, [&](const FrameWords<6>& w) -> std::optional<std::size_t> {
    const auto [status, uid, gid, user_size, maildrop_size, home_size] = w;
    if (status > static_cast<std::uint32_t>(AuthStatus::auth_backend)) return std::nullopt;
    if (status != static_cast<std::uint32_t>(AuthStatus::account)) {
      if (uid != 0 || gid != 0 || user_size != 0 || maildrop_size != 0 || home_size != 0) return std::nullopt;
      return 0;
    }
    if (user_size == 0 || user_size >= bounds.auth_buffer || maildrop_size > max_maildrop ||
        home_size > max_maildrop || uid == UINT32_MAX || gid == UINT32_MAX) {
      return std::nullopt;
    }
    return std::size_t{user_size} + maildrop_size + home_size;
  });
  if (result != FrameRead::ok) return false;
  const auto [status, uid, gid, user_size, maildrop_size, home_size] = words;
  switch (static_cast<AuthStatus>(status)) {
    case AuthStatus::account:
      account = Account{body.substr(0, user_size), body.substr(user_size, maildrop_size), uid, gid,
                        body.substr(std::size_t{user_size} + maildrop_size, home_size)};
      ec.clear();
      break;
    case AuthStatus::auth_failed: ec = errc::auth_failed; break;
    case AuthStatus::unknown_user: ec = errc::unknown_user; break;
    case AuthStatus::auth_backend: ec = errc::auth_backend; break;
  }
  return true;
}

}  // namespace detail
}  // namespace pop3::posix
