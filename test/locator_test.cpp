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

BOOST_AUTO_TEST_CASE(templates_expand_user_and_home) {
  const pop3::Account alice{"alice", "", 1000, 1000, "/home/alice"};
  auto located = [&](const std::string& mailbox_template, const pop3::Account& account) {
    pop3::MailboxLocator locator{"/var/mail", mailbox_template};
    std::string error;
    BOOST_REQUIRE_MESSAGE(locator.normalize(error), error);
    return locator.locate(account);
  };
  BOOST_TEST(located("mbox:/var/mail/%u", alice) == "/var/mail/alice");
  BOOST_TEST(located("mbox:%h/Mailbox", alice) == "/home/alice/Mailbox");
  BOOST_TEST(located("maildir:%h/Maildir", alice) == "maildir:/home/alice/Maildir");
  BOOST_TEST(located("maildir:/srv/%u/%%/%h", alice) == "maildir:/srv/alice/%//home/alice");
  // A home of "/" or with a trailing slash gives no doubled slash.
  BOOST_TEST(located("maildir:%h/Maildir", pop3::Account{"r", "", 1, 1, "/"}) == "maildir:/Maildir");
  BOOST_TEST(located("mbox:%h/Mailbox", pop3::Account{"r", "", 1, 1, "/home/r/"}) == "/home/r/Mailbox");
  // No home (a users-file account) or a relative one: an empty path, served as empty.
  BOOST_TEST(located("maildir:%h/Maildir", pop3::Account{"r", "", 1, 1, ""}) == "maildir:");
  BOOST_TEST(located("mbox:%h/Mailbox", pop3::Account{"r", "", 1, 1, "home/r"}) == "");
  // --spool is the template mbox:SPOOL/%u.
  const pop3::MailboxLocator spool{"/srv/spool"};
  BOOST_TEST(spool.default_template() == "mbox:/srv/spool/%u");
}

BOOST_AUTO_TEST_CASE(an_account_template_wins_and_a_bare_path_is_taken_as_it_is) {
  const pop3::MailboxLocator locator{"/var/mail", "maildir:%h/Maildir"};
  BOOST_TEST(locator.locate(pop3::Account{"bob", "mbox:/srv/%u", 1, 1, "/home/bob"}) == "/srv/bob");
  BOOST_TEST(locator.locate(pop3::Account{"bob", "maildir:/srv/md/%u", 1, 1, ""}) == "maildir:/srv/md/bob");
  BOOST_TEST(locator.locate(pop3::Account{"bob", "/srv/100%u", 1, 1, ""}) == "/srv/100%u");
}

BOOST_AUTO_TEST_CASE(bad_templates_are_refused) {
  for (const char* bad : {"/var/mail/%u", "maildir:Maildir", "mbox:", "maildir:%x/y", "mbox:/a/%", "mh:/a",
                          "maildir:~/Maildir", "maildir:%hMaildir"}) {
    pop3::MailboxLocator locator{"/var/mail", bad};
    std::string error;
    BOOST_TEST(!locator.normalize(error), bad);
    BOOST_TEST(error.starts_with("mailbox template \"" + std::string(bad) + "\" "), error);
  }
  const auto location = pop3::parse_location("maildir:/x");
  BOOST_TEST((location.scheme == pop3::MailboxScheme::maildir && location.path == "/x"));
  BOOST_TEST((pop3::parse_location("/x").scheme == pop3::MailboxScheme::mbox));
}
