// pop3/mailbox/locator.hpp: an account -> the location of its maildrop.
//
// popa3d's rule: the spool directory and the user name as sent (spec section 2), unless the
// account database names a mailbox of its own (Account::mailbox). Resolved by the TRANSACTION
// session, after the process dropped to the account, so no Auth policy builds paths.
//
//   pop3::MailboxLocator locator{"/var/mail/"};
//   if (!locator.normalize(error)) die(error);               // trailing '/' dropped
//   locator.locate(pop3::Account{"alice", "", 1000, 8});    // "/var/mail/alice"
#pragma once

#include <string>

#include "pop3/account.hpp"

namespace pop3 {

struct MailboxLocator {
  std::string spool = "/var/mail";  // popa3d's MAIL_SPOOL_PATH

  // Drops trailing slashes of `spool`; false with a one-line `error` if it is not an
  // absolute path (a relative one would name a different file after the chroot or a chdir).
  bool normalize(std::string& error) {
    while (spool.size() > 1 && spool.back() == '/') spool.pop_back();
    if (spool.empty() || spool.front() != '/') {
      error = "mail spool \"" + spool + "\" is not an absolute path";
      return false;
    }
    return true;
  }

  [[nodiscard]] std::string locate(const Account& account) const {
    return account.mailbox.empty() ? spool + "/" + account.user : account.mailbox;
  }
};

}  // namespace pop3
