// pop3/mailbox/locator.hpp: where an account's maildrop is.
#define BOOST_TEST_MODULE locator
#include <boost/test/unit_test.hpp>

#include <string>

#include "pop3/mailbox/locator.hpp"

BOOST_AUTO_TEST_CASE(spool_and_user_by_default) {
  const pop3::MailboxLocator locator;
  BOOST_TEST(locator.locate(pop3::Account{"alice", "", 1000, 1000}) == "/var/mail/alice");
  // The name exactly as sent (spec section 2): the Auth policy decides which names exist.
  BOOST_TEST(locator.locate(pop3::Account{"Alice.B", "", 1000, 1000}) == "/var/mail/Alice.B");
}

BOOST_AUTO_TEST_CASE(an_account_that_names_its_mailbox_keeps_it) {
  const pop3::MailboxLocator locator{"/srv/mail"};
  BOOST_TEST(locator.locate(pop3::Account{"bob", "/home/bob/mbox", 1000, 1000}) == "/home/bob/mbox");
}

BOOST_AUTO_TEST_CASE(the_spool_must_be_absolute) {
  std::string error;
  pop3::MailboxLocator trailing{"/var/mail//"};
  BOOST_TEST(trailing.normalize(error));
  BOOST_TEST(trailing.spool == "/var/mail");
  BOOST_TEST(trailing.locate(pop3::Account{"alice", "", 1, 1}) == "/var/mail/alice");
  pop3::MailboxLocator root{"/"};
  BOOST_TEST(root.normalize(error));
  BOOST_TEST(root.spool == "/");
  for (const char* bad : {"var/mail", ""}) {
    pop3::MailboxLocator relative{bad};
    BOOST_TEST(!relative.normalize(error));
    BOOST_TEST(error == "mail spool \"" + std::string(bad) + "\" is not an absolute path");
  }
}
