// pop3/concepts.hpp: the four policies that Pop3Server composes.
//
// Each concept is a requirement table: the expressions a model must support,
// and (in the comment beside it) what they must mean. Every shipped model is
// checked with a static_assert right after its definition.
//
//   static_assert(pop3::TransportPolicy<pop3::FdTransport>);
//   static_assert(pop3::MailboxPolicy<pop3::MboxMailbox<pop3::Md5>>);
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "pop3/account.hpp"

namespace pop3 {

// A message index: 0 .. count-1. The wire uses 1-based MsgNumber (command.hpp).
struct MsgIndex {
  std::uint32_t value;
  friend bool operator==(MsgIndex, MsgIndex) = default;
};

// A unique-id listing value: RFC 1939 s.7 allows 1 to 70 printable characters.
struct UniqueId {
  std::array<char, 70> chars{};
  std::uint8_t length = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), length}; }
};

/// TransportPolicy: a blocking duplex byte channel to one client.
///   t.read_some(buf, ec) -> size_t : 1..buf.size() bytes, or 0 with ec set
///                                    (errc::eof when the peer closed or a read failed,
///                                     errc::timeout after the idle limit)
///   t.write(bytes, ec)   -> void   : writes all of `bytes` before returning, or sets ec
/// The engine hands write() whole replies (or large blocks of a message), so a
/// transport needs no buffering of its own to avoid small writes.
template <class T>
concept TransportPolicy = std::movable<T> &&
  requires(T& t, std::span<char> in, std::span<const char> out, std::error_code& ec) {
    { t.read_some(in, ec) } -> std::same_as<std::size_t>;
    { t.write(out, ec) } -> std::same_as<void>;
  };

/// AuthPolicy: user name + password -> an account, or a refusal.
///   a.authenticate(user, password, ec) -> std::optional<Account>
///     An account on success. On refusal: std::nullopt with ec set to
///     errc::auth_failed (known user: wrong password, UID 0, locked, empty),
///     errc::unknown_user, or errc::auth_backend. The client sees the same
///     reply for all three; the code only feeds the log. A model must spend
///     about as long on an unknown user as on a known one.
/// Knows nothing of POP3. May be called in a process that keeps root.
template <class A>
concept AuthPolicy = std::movable<A> &&
  requires(A& a, std::string_view user, std::string_view password, std::error_code& ec) {
    { a.authenticate(user, password, ec) } -> std::same_as<std::optional<Account>>;
  };

/// DigestPolicy: an incremental hash, used for unique ids.
///   D d;               : a fresh state (init)
///   d.update(bytes)    : hashes more bytes
///   d.final()          -> D::value_type : the digest; the state is then reset
///   D::value_type      : std::array<std::uint8_t, N>
template <class D>
concept DigestPolicy = std::default_initializable<D> && std::copyable<D> &&
  requires(D& d, std::string_view bytes) {
    typename D::value_type;
    { d.update(bytes) } -> std::same_as<void>;
    { d.final() } -> std::same_as<typename D::value_type>;
  };

/// MailboxPolicy: one account's maildrop, as a fixed table of messages.
///   m.open(account, ec)           : loads the table (count, sizes, ids). On failure ec is
///                                   errc::mailbox_refused or errc::mailbox_io; the session
///                                   then ends with "-ERR". A missing maildrop is empty.
///   m.count()       -> uint32_t   : messages loaded at open; never changes afterwards
///   m.size(i)       -> uint64_t   : octets of message i as sent (CRLF line ends, no stuffing)
///   m.unique_id(i)  -> UniqueId
///   m.verify(ec)                  : checks the maildrop was not changed by another program
///                                   in a way that conflicts with the table (popa3d's mtime
///                                   test); errc::mailbox_changed or errc::mailbox_io if so
///   m.data(i, offset, ec) -> span : the raw (LF) bytes of message i from `offset` on, in one
///                                   or more chunks, valid until the next call; an empty span
///                                   at the end of the message. ec (errc::mailbox_changed, or
///                                   errc::mailbox_io) if the bytes can no longer be read, for
///                                   example because the file shrank: the session then ends
///   m.mark_deleted(i), m.deleted(i) -> bool, m.reset_deleted()
///   m.commit(ec)                  : UPDATE: removes the messages marked deleted, keeping mail
///                                   that arrived during the session. errc::mailbox_changed:
///                                   nothing was touched, no reply; errc::mailbox_io: "-ERR".
/// The engine checks `i` against count() before every call that takes an index.
template <class M>
concept MailboxPolicy = std::movable<M> &&
  requires(M& m, const M& cm, const Account& account, MsgIndex i, std::uint64_t offset,
           std::error_code& ec) {
    { m.open(account, ec) } -> std::same_as<void>;
    { cm.count() } -> std::same_as<std::uint32_t>;
    { cm.size(i) } -> std::same_as<std::uint64_t>;
    { cm.unique_id(i) } -> std::same_as<UniqueId>;
    { m.verify(ec) } -> std::same_as<void>;
    { m.data(i, offset, ec) } -> std::same_as<std::span<const char>>;
    { m.mark_deleted(i) } -> std::same_as<void>;
    { cm.deleted(i) } -> std::same_as<bool>;
    { m.reset_deleted() } -> std::same_as<void>;
    { m.commit(ec) } -> std::same_as<void>;
  };

}  // namespace pop3
