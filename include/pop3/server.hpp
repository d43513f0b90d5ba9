// pop3/server.hpp: Pop3Server, one POP3 session over three policies.
//
// The greeting, AUTHORIZATION (USER, PASS, QUIT), TRANSACTION and UPDATE, answering byte for
// byte as popa3d 1.0.3 does (spec/popa3d-behaviour.md) unless Features turn extensions on. Each phase is a session type of its
// own (session/authorization.hpp, session/transaction.hpp); serve() runs both in this process,
// and authorize(), refuse_login() and transact() let a process model run them in two, as
// popa3d's privilege separation does (posix/privsep.hpp).
//
//   pop3::Pop3Server<MyTransport, MyAuth, pop3::MboxMailbox<>> server{t, a, {}};
//   std::error_code why = server.serve();   // {} after QUIT, errc::eof on hang-up
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/features.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/session/authorization.hpp"
#include "pop3/session/login.hpp"
#include "pop3/session/transaction.hpp"

namespace pop3 {

template <TransportPolicy Transport, AuthPolicy Auth, MailboxPolicy Mailbox>
class Pop3Server {
 public:
  Pop3Server(Transport transport, Auth auth, Mailbox mailbox, Limits limits = {}, LogSink log = {},
             MailboxLocator locator = {}, Features features = {})
      : transport_(std::move(transport)),
        auth_(std::move(auth)),
        mailbox_(std::move(mailbox)),
        limits_(limits),
        log_(std::move(log)),
        locator_(std::move(locator)),
        features_(std::move(features)) {}

  // The whole session in this process (serve_phases): AUTHORIZATION from `read_ahead` on
  // (bytes a layer below read past its own data), the password check, then TRANSACTION, or a
  // refusal `failure_delay` after the password arrived. Returns why it ended: {} after QUIT
  // or a refused login, errc::eof or errc::timeout when the client went away.
  [[nodiscard]] std::error_code serve(std::string_view read_ahead = {},
                                      std::chrono::milliseconds failure_delay = {}) {
    return serve_phases(*this, log_, read_ahead, failure_delay);
  }

  // AUTHORIZATION (AuthorizationSession::run): the credentials, no reply to PASS sent yet, or
  // nullopt when the session ended here, with ec = {} after QUIT and errc::eof or
  // errc::timeout otherwise.
  [[nodiscard]] std::optional<Credentials> authorize(std::error_code& ec, std::string_view read_ahead = {}) {
    return AuthorizationSession<Transport>{transport_, limits_, log_, features_}.run(read_ahead, ec);
  }

  // After the password was refused (`why`: the Auth policy's code, which picks the response
  // code with the extensions on): the one error reply with text, then the end.
  [[nodiscard]] std::error_code refuse_login(const std::error_code& why = {}) {
    AuthorizationSession<Transport>{transport_, limits_, log_, features_}.refuse_login(why);
    return {};
  }

  // TRANSACTION and UPDATE for an authenticated account (TransactionSession::run), from the
  // client bytes `pending` that the AUTHORIZATION phase read but did not use.
  [[nodiscard]] std::error_code transact(const Account& account, std::string_view pending) {
    return TransactionSession<Transport, Mailbox>{transport_, mailbox_, limits_, log_, locator_, features_}.run(
        account, pending);
  }

  Transport& transport() noexcept { return transport_; }
  Auth& auth() noexcept { return auth_; }
  Mailbox& mailbox() noexcept { return mailbox_; }

 private:
  Transport transport_;
  Auth auth_;
  Mailbox mailbox_;
  Limits limits_;
  LogSink log_;
  MailboxLocator locator_;
  Features features_;
};

}  // namespace pop3
