// pop3/pop3.hpp: the whole library: the engine, its protocol pieces and the shipped policies.
//
// Compose the engine with your own policies, or use the daemon's composition:
//
//   pop3::Popa3d server{pop3::FdTransport{0, 1, std::chrono::minutes{10}}, auth, pop3::MboxMailbox<>{}};
//   std::error_code why = server.serve();
#pragma once

#include "pop3/account.hpp"
#include "pop3/auth/crypt.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/error.hpp"
#include "pop3/fwd.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/mailbox/mbox.hpp"
#include "pop3/mailbox/mbox_scan.hpp"
#include "pop3/mailbox/mbox_update.hpp"
#include "pop3/posix/listener.hpp"
#include "pop3/posix/privsep.hpp"
#include "pop3/posix/syslog.hpp"
#include "pop3/protocol/command.hpp"
#include "pop3/protocol/line.hpp"
#include "pop3/protocol/reply.hpp"
#include "pop3/server.hpp"
#include "pop3/session/authorization.hpp"
#include "pop3/session/command_table.hpp"
#include "pop3/session/io.hpp"
#include "pop3/session/login.hpp"
#include "pop3/session/outcome.hpp"
#include "pop3/session/transaction.hpp"
#include "pop3/transport/fd.hpp"
#include "pop3/types.hpp"

namespace pop3 {

// popa3d's choices: fd transport, crypt(3), mbox with MD5 UIDLs. (The daemon composes the same
// with the Auth that --auth picks.)
using Popa3d = Pop3Server<FdTransport, CryptAuth, MboxMailbox<Md5>>;

}  // namespace pop3
