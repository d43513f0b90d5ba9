// pop3/mailbox/locator.hpp: an account -> the location of its maildrop, from a template.
//
// A template is a scheme and a path: `mbox:/var/mail/%u` (popa3d's rule, the default, which
// --spool DIR writes as mbox:DIR/%u), `mbox:%h/Mailbox` (popa3d's compile-time qmail-style
// choice), `maildir:%h/Maildir`. A path starts with '/' or "%h/". %u is the user name as sent (spec section 2), %h the home
// directory, %% a '%'. An account database may name a template of its own (Account::mailbox;
// a bare absolute path there is an mbox file taken as it is, as before templates). Resolved by the
// TRANSACTION session, after the process dropped to the account, so no Auth policy builds paths.
//
//   pop3::MailboxLocator locator{"/var/mail", "maildir:%h/Maildir"};
//   if (!locator.normalize(error)) die(error);               // a bad template refused
//   locator.locate(pop3::Account{"alice", "", 1000, 8, "/home/alice"});   // "maildir:/home/alice/Maildir"
#pragma once

#include <string>
#include <string_view>

#include "pop3/account.hpp"

namespace pop3 {

enum class MailboxScheme { mbox, maildir };

// A location as locate() gives it: "maildir:PATH" for a maildir, the bare PATH for an mbox
// file (what MboxMailbox::open takes, and what a location was before templates).
struct MailboxLocation {
  MailboxScheme scheme = MailboxScheme::mbox;
  std::string_view path;
};

inline constexpr std::string_view mbox_scheme = "mbox:";
inline constexpr std::string_view maildir_scheme = "maildir:";

// Splits a location or a template into its scheme and path; no scheme: an mbox path.
inline MailboxLocation parse_location(std::string_view location) noexcept {
  if (location.starts_with(maildir_scheme)) return {MailboxScheme::maildir, location.substr(maildir_scheme.size())};
  if (location.starts_with(mbox_scheme)) return {MailboxScheme::mbox, location.substr(mbox_scheme.size())};
  return {MailboxScheme::mbox, location};
}

// nullptr if `location_template` is a template locate() can expand, else why not: a scheme,
// then a path that starts with '/' or "%h/", no escape but %u, %h and %%, and no NUL.
inline const char* check_location_template(std::string_view location_template) noexcept {
  if (!location_template.starts_with(mbox_scheme) && !location_template.starts_with(maildir_scheme))
    return "has no mbox: or maildir: scheme";
  const std::string_view path = parse_location(location_template).path;
  if (!path.starts_with('/') && !path.starts_with("%h/")) return "is not an absolute path or one under %h/";
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\0') return "contains a NUL";
    if (path[i] != '%') continue;
    if (i + 1 == path.size() || (path[i + 1] != 'u' && path[i + 1] != 'h' && path[i + 1] != '%'))
      return "has a '%' that is not %u, %h or %%";
    ++i;
  }
  return nullptr;
}

struct MailboxLocator {
  std::string spool = "/var/mail";  // popa3d's MAIL_SPOOL_PATH: the template mbox:SPOOL/%u
  std::string mailbox{};            // --mailbox: a template that replaces the spool's; empty: none

  // Drops trailing slashes of `spool` and checks both; false with a one-line `error` if the
  // spool is not an absolute path (a relative one would name a different file after the
  // chroot or a chdir) or the template is not one (check_location_template()).
  bool normalize(std::string& error) {
    while (spool.size() > 1 && spool.back() == '/') spool.pop_back();
    if (spool.empty() || spool.front() != '/') {
      error = "mail spool \"" + spool + "\" is not an absolute path";
      return false;
    }
    if (mailbox.empty()) return true;
    if (const char* why = check_location_template(mailbox)) {
      error = "mailbox template \"" + mailbox + "\" " + why;
      return false;
    }
    return true;
  }

  // The template in force for accounts that name none.
  [[nodiscard]] std::string default_template() const {
    return mailbox.empty() ? std::string(mbox_scheme) + spool + (spool == "/" ? "" : "/") + "%u" : mailbox;
  }

  // The account's own template if it names one, else default_template(), expanded. A %h of an
  // account with no absolute home gives an empty path: a missing mailbox, served as empty.
  [[nodiscard]] std::string locate(const Account& account) const {
    if (!account.mailbox.empty() && account.mailbox.front() == '/') return account.mailbox;  // no template
    const std::string own = account.mailbox.empty() ? default_template() : account.mailbox;
    const MailboxLocation location = parse_location(own);
    std::string path;
    for (std::size_t i = 0; i < location.path.size(); ++i) {
      const char c = location.path[i];
      const char next = i + 1 < location.path.size() ? location.path[i + 1] : '\0';
      if (c != '%' || (next != 'u' && next != 'h' && next != '%')) {
        path += c;
        continue;
      }
      ++i;
      if (next == 'u') {
        path += account.user;
      } else if (next == '%') {
        path += '%';
      } else if (account.home.starts_with('/')) {
        // "/" as a home: "%h/Maildir" is "/Maildir", not "//Maildir".
        path.append(account.home, 0, account.home.find_last_not_of('/') + 1);
      } else {
        path.clear();
        break;
      }
    }
    return location.scheme == MailboxScheme::maildir ? std::string(maildir_scheme) + path : path;
  }
};

}  // namespace pop3
