// pop3/account.hpp: what an Auth policy hands to the Mailbox policy.
//
//   pop3::Account acct{"alice", "/var/mail/alice", 1000, 8};
//   mailbox.open(acct);
#pragma once

#include <cstdint>
#include <string>

namespace pop3 {

// A successfully authenticated account: who to run as and which maildrop to open.
struct Account {
  std::string user;      // the name as the client sent it in USER
  std::string maildrop;  // path of the mailbox file
  std::uint32_t uid = 0;  // the process model drops to these before opening the maildrop
  std::uint32_t gid = 0;
};

}  // namespace pop3
