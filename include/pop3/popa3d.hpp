// pop3/popa3d.hpp: the engine composed as popa3d is: file-descriptor transport, crypt(3)
// accounts, mbox with MD5 UIDLs. Needs the pop3::crypt component (libxcrypt).
//
//   auto auth = pop3::CryptAuth::system_accounts(error);
//   pop3::Popa3d server{pop3::FdTransport{0, 1, pop3::FdTransport::default_idle_timeout}, *auth, pop3::MboxMailbox<>{}};
//   std::error_code why = server.serve();
#pragma once

#include "pop3/auth/crypt.hpp"
#include "pop3/pop3.hpp"

namespace pop3 {

// popa3d's choices. (The daemon composes the same with the Auth that --auth picks.)
using Popa3d = Pop3Server<FdTransport, CryptAuth, MboxMailbox<Md5>>;

}  // namespace pop3
