// pop3/session/login.hpp: what happens between the two phases, wherever they run: the
// password check (UID 0 refused whatever the Auth policy says), its log lines, the failure
// delay, and serve_phases(), the one composition of both phases in a single process.
//
//   std::optional<pop3::Account> a = pop3::check_login(auth, credentials, ec);   // wipes the password
//   if (!a) pop3::log_login_refused(log, credentials.user, ec, "192.0.2.1");
//   std::error_code why = pop3::serve_phases(server, log, {}, std::chrono::seconds{2}, "192.0.2.1");
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/error.hpp"
#include "pop3/log.hpp"

namespace pop3 {

// The Auth policy's answer, with UID 0 refused (popa3d never serves root). The password is
// wiped as soon as the policy has seen it.
template <AuthPolicy Auth>
std::optional<Account> check_login(Auth& auth, Credentials& credentials, std::error_code& ec) {
  ec.clear();
  std::optional<Account> account = auth.authenticate(credentials.user, credentials.password, ec);
  credentials.wipe();
  if (account && account->uid == 0) {
    account.reset();
    ec = errc::auth_failed;
  }
  return account;
}

namespace detail {
// popa3d's login lines end in " from <client>" when the client's address is known (`client`
// not empty), so that fail2ban can count failures per address. The address comes last: a
// filter anchored at the end of the line reads it, whatever the user name holds.
inline std::string from_client(std::string_view client) {
  return client.empty() ? std::string() : " from " + std::string(client);
}
}  // namespace detail

inline void log_login_passed(const LogSink& log, const std::string& user, std::string_view client = {}) {
  log_line(log, LogPriority::info, "Authentication passed for " + user + detail::from_client(client));
}

// Spec section 15: the user name when it exists (also for root and UID 0), "UNKNOWN USER"
// otherwise; a database that could not be read is also logged at crit.
inline void log_login_refused(const LogSink& log, const std::string& user, const std::error_code& why,
                              std::string_view client = {}) {
  if (!log) return;
  if (why == errc::auth_backend) log(LogPriority::crit, "Account database not readable while authenticating " + user);
  log(LogPriority::notice, (why == errc::auth_failed ? "Authentication failed for " + user
                                                     : std::string("Authentication failed for UNKNOWN USER")) +
                               detail::from_client(client));
}

// Waits until `delay` after `received` (when the password arrived, before it was checked), so
// that every refusal takes the same time whatever the check cost (a hash, a PAM stack's own
// delay), as Debian's PAM build and Dovecot's auth_failure_delay do. 0: no wait.
inline void wait_failure_delay(std::chrono::steady_clock::time_point received, std::chrono::milliseconds delay) {
  if (delay.count() > 0) std::this_thread::sleep_until(received + delay);
}

/// The phases of one session, as serve_phases() drives them (Pop3Server, or a stand-in):
///   s.authorize(ec, read_ahead) -> std::optional<Credentials> : AUTHORIZATION
///   s.auth()                    -> an AuthPolicy&              : checks the password
///   s.refuse_login(why)                                         : the refusal's reply
///   s.transact(account, pending) -> std::error_code             : TRANSACTION and UPDATE
/// Both phases in this process, with no change of identity: AUTHORIZATION from `read_ahead`
/// on, the check, then TRANSACTION, or the refusal `failure_delay` after the password came.
/// `client`: the client's address for the login lines, if known. Returns why the session
/// ended ({} after QUIT or a refused login).
template <class Phases>
std::error_code serve_phases(Phases& s, const LogSink& log, std::string_view read_ahead,
                             std::chrono::milliseconds failure_delay, std::string_view client = {}) {
  std::error_code ec;
  auto credentials = s.authorize(ec, read_ahead);
  if (!credentials) return ec;
  const auto received = std::chrono::steady_clock::now();
  const std::optional<Account> account = check_login(s.auth(), *credentials, ec);
  if (account) {
    log_login_passed(log, credentials->user, client);
    return s.transact(*account, credentials->pending);
  }
  // popa3d's order: the reply, then the log line.
  wait_failure_delay(received, failure_delay);
  (void)s.refuse_login(ec);
  log_login_refused(log, credentials->user, ec, client);
  return {};
}

}  // namespace pop3
