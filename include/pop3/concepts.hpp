// pop3/concepts.hpp: the three policies that Pop3Server composes, the Digest that the mbox
// mailbox takes for its unique ids, and TlsTransport, a transport that can start TLS.
//
// Each concept is a requirement table: the expressions a model must support,
// and (in the comment beside it) what they must mean. Every shipped model is
// checked with a static_assert right after its definition.
//
//   static_assert(pop3::TransportPolicy<pop3::FdTransport>);
//   static_assert(pop3::MailboxPolicy<pop3::MboxMailbox<>>);
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "pop3/account.hpp"
#include "pop3/types.hpp"

namespace pop3 {

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

/// TlsTransport: a TransportPolicy that can turn its connection into a TLS one (STLS, implicit
/// TLS).
///   t.start_tls(read_ahead, ec) -> void : the server side of a TLS handshake on the connection,
///                                         fed first with `read_ahead` (client bytes a layer
///                                         below already read, as after a PROXY header; empty
///                                         after STLS, whose buffered bytes the engine drops).
///                                         From then on read_some() and write() carry plaintext
///                                         through TLS. On failure ec is errc::tls_failed and
///                                         the session ends with no plaintext reply. The
///                                         transport logs why (with the peer's address) and,
///                                         on success, the TLS version and cipher.
///   ct.tls_active()             -> bool : true after a successful start_tls()
template <class T>
concept TlsTransport = TransportPolicy<T> &&
  requires(T& t, const T& ct, std::string_view read_ahead, std::error_code& ec) {
    { t.start_tls(read_ahead, ec) } -> std::same_as<void>;
    { ct.tls_active() } -> std::same_as<bool>;
  };

/// AuthPolicy: user name + password -> an account, or a refusal.
///   a.authenticate(user, password, ec) -> std::optional<Account>
///     An account on success. On refusal: std::nullopt with ec set to
///     errc::auth_failed (known user: wrong password, UID 0, locked, empty),
///     errc::unknown_user, or errc::auth_backend. The client sees the same
///     reply for all three; the code only feeds the log. A model must spend
///     about as long on an unknown user as on a known one. The account's
///     `mailbox` is empty unless the database names one (a users file's field):
///     the engine's MailboxLocator finds the maildrop, not the policy. The engine
///     refuses UID 0 whatever the policy says.
/// Knows nothing of POP3. May be called in a process that keeps root.
template <class A>
concept AuthPolicy = std::movable<A> &&
  requires(A& a, std::string_view user, std::string_view password, std::error_code& ec) {
    { a.authenticate(user, password, ec) } -> std::same_as<std::optional<Account>>;
  };

/// DigestPolicy: an incremental hash, used by MboxMailbox for unique ids.
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
///   m.open(location, ec)          : loads the table (count, sizes, ids) of the maildrop at
///                                   `location` (what MailboxLocator::locate() gave for the
///                                   account). On failure ec is errc::mailbox_refused or
///                                   errc::mailbox_io; the session then ends with "-ERR". A
///                                   missing maildrop is empty.
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
///                                   example because the file shrank: the session then ends.
///                                   errc::message_gone at offset 0: this one message was
///                                   removed by another program (a store whose messages are
///                                   files); the client gets "-ERR" and the session goes on
///   m.commit(deletions, ec)       : UPDATE: removes the messages `deletions` marks (a
///                                   DeletionSet of count() messages), keeping mail that
///                                   arrived during the session. errc::mailbox_changed:
///                                   nothing was touched, no reply; errc::mailbox_io: "-ERR".
/// The engine checks `i` against count() before every call that takes an index, and keeps
/// the deletion marks and the running totals itself.
template <class M>
concept MailboxPolicy = std::movable<M> &&
  requires(M& m, const M& cm, std::string_view location, MsgIndex i, std::uint64_t offset,
           const DeletionSet& deletions, std::error_code& ec) {
    { m.open(location, ec) } -> std::same_as<void>;
    { cm.count() } -> std::same_as<std::uint32_t>;
    { cm.size(i) } -> std::same_as<std::uint64_t>;
    { cm.unique_id(i) } -> std::same_as<UniqueId>;
    { m.verify(ec) } -> std::same_as<void>;
    { m.data(i, offset, ec) } -> std::same_as<std::span<const char>>;
    { m.commit(deletions, ec) } -> std::same_as<void>;
  };

}  // namespace pop3
