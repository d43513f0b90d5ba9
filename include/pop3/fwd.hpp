// pop3/fwd.hpp: forward declarations of the engine and the shipped policies.
//
// For headers that only name these types; include pop3/pop3.hpp to use them.
//
//   #include <pop3/fwd.hpp>
//   template <class D, class S> void inspect(const pop3::MboxMailbox<D, S>& mailbox);
#pragma once

#include "pop3/concepts.hpp"

namespace pop3 {

template <TransportPolicy Transport, AuthPolicy Auth, MailboxPolicy Mailbox>
class Pop3Server;
template <TransportPolicy Transport>
class AuthorizationSession;
template <TransportPolicy Transport, MailboxPolicy Mailbox>
class TransactionSession;

class FdTransport;
class CryptAuth;
class Md5;
class PreadSource;
class MmapSource;
template <DigestPolicy Digest, class Source>
class MboxMailbox;
struct MailboxLocator;

struct Limits;
struct Features;
struct Credentials;
class LineReader;
class OutputBuffer;
class MessageEncoder;

}  // namespace pop3
