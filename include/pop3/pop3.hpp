// pop3/pop3.hpp: the core library (target pop3::pop3): the engine, its protocol pieces and the
// shipped policies that need no library beyond libc.
//
// Compose the engine with your own Auth policy, or include an Auth that needs a library of its
// own: pop3/auth/crypt.hpp (pop3::crypt, libxcrypt; pop3/popa3d.hpp composes it as popa3d
// does) or pop3/auth/pam.hpp (pop3::pam, Linux-PAM).
//
//   pop3::Pop3Server<pop3::FdTransport, MyAuth, pop3::MboxMailbox<>> server{transport, auth, {}};
//   std::error_code why = server.serve();
#pragma once

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/error.hpp"
#include "pop3/features.hpp"
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
