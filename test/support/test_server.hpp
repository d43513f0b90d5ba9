// test/support/test_server.hpp: the engine composed with the in-memory test policies.
#pragma once

#include "pop3/server.hpp"
#include "support/fakes.hpp"
#include "support/test_digest.hpp"

namespace pop3::test {

template <class D = FnvDigest>
using TestMailbox = MemoryMailbox<D>;
static_assert(MailboxPolicy<TestMailbox<>>);
using TestServer = Pop3Server<ScriptTransport, FixedAuth, TestMailbox<>>;

}  // namespace pop3::test
