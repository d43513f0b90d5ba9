// pop3/account.hpp: what an Auth policy hands on about an authenticated account.
//
// Who to run as, and what a MailboxLocator needs to find the maildrop (locator.hpp): the
// name, a location of the account's own, and the home directory.
//
//   pop3::Account acct{"alice", "", 1000, 8};          // the locator's rule: spool/alice
//   std::string path = pop3::MailboxLocator{}.locate(acct);   // "/var/mail/alice"
#pragma once

#include <cstdint>
#include <string>

namespace pop3 {

struct Account {
  std::string user;     // the name as the client sent it in USER
  std::string mailbox;  // a location template the account database names (a users file's 5th
                        // field, locator.hpp's form); empty: the locator's rule decides
  std::uint32_t uid = 0;  // the process model drops to these before opening the maildrop
  std::uint32_t gid = 0;
  std::string home{};     // the home directory (passwd's pw_dir), for a template's %h; empty: none
};

}  // namespace pop3
