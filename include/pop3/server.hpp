// pop3/server.hpp: Pop3Server, one POP3 session over four policies.
//
// The greeting, AUTHORIZATION (USER, PASS, QUIT), TRANSACTION and UPDATE, answering
// byte for byte as popa3d 1.0.3 does (spec/popa3d-behaviour.md). The phases can run in
// one process (serve) or in two (authorize in an unprivileged child, transact in the
// parent after it checked the password), as popa3d's privilege separation does.
//
//   pop3::Pop3Server<MyTransport, MyAuth, pop3::MboxMailbox, pop3::Md5> server{t, a, {}};
//   std::error_code why = server.serve();   // {} after QUIT, errc::eof on hang-up
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/credentials.hpp"
#include "pop3/error.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/protocol/command.hpp"
#include "pop3/protocol/line.hpp"
#include "pop3/protocol/reply.hpp"

namespace pop3 {

template <TransportPolicy Transport, AuthPolicy Auth, template <class> class Mailbox,
          DigestPolicy Digest>
  requires MailboxPolicy<Mailbox<Digest>>
class Pop3Server {
 public:
  using mailbox_type = Mailbox<Digest>;

  Pop3Server(Transport transport, Auth auth, mailbox_type mailbox, Limits limits = {},
             LogSink log = {})
      : transport_(std::move(transport)),
        auth_(std::move(auth)),
        mailbox_(std::move(mailbox)),
        limits_(limits),
        log_(std::move(log)),
        reader_(limits.line_buffer) {}

  // The whole session in this process. Returns why it ended: {} after QUIT or a refused
  // login, errc::eof or errc::timeout when the client went away.
  [[nodiscard]] std::error_code serve() {
    std::error_code ec;
    auto credentials = authorize(ec);
    if (!credentials) return ec;
    std::error_code auth_ec;
    auto account = auth_.authenticate(credentials->user, credentials->password, auth_ec);
    credentials->wipe();
    if (!account) {
      log_auth_failure(credentials->user, auth_ec);
      return refuse_login();
    }
    log(LogPriority::info, "Authentication passed for " + credentials->user);
    return transact(*account, credentials->pending);
  }

  // AUTHORIZATION: the greeting, then USER/PASS/QUIT until a PASS is accepted. Returns the
  // credentials (no reply to PASS sent yet) or nullopt when the session ended here, with
  // ec = {} after QUIT and errc::eof / errc::timeout otherwise.
  [[nodiscard]] std::optional<Credentials> authorize(std::error_code& ec) {
    ec.clear();
    out_.clear();
    append_ok(out_);  // the greeting: no text, no APOP timestamp (spec 3)
    std::optional<std::string> user;
    for (;;) {
      auto line = next_line(ec);
      if (!line) break;
      const auto cmd = split_command(*line);
      auto params = cmd.params;
      if (verb_is(cmd.verb, "USER")) {
        const auto name = next_argument(params, limits_.max_arg);
        if (user || !name || params) {
          bad_command(ec);
        } else {
          user.emplace(*name);
          append_ok(out_);
        }
      } else if (verb_is(cmd.verb, "PASS")) {
        // The password is the whole parameter string, spaces included (spec 6.2).
        if (!user || !cmd.params) {
          bad_command(ec);
        } else {
          flush(ec);
          if (ec) break;
          Credentials credentials;
          credentials.user = std::move(*user);
          credentials.password.assign(*cmd.params);
          credentials.pending.assign(reader_.pending());
          reader_.wipe_consumed();
          return credentials;
        }
      } else if (verb_is(cmd.verb, "QUIT") && !cmd.params) {
        append_ok(out_);
        flush(ec);
        ec.clear();
        break;
      } else {
        bad_command(ec);
      }
      if (ec) break;
    }
    log(LogPriority::info, "Didn't attempt authentication");
    return std::nullopt;
  }

  // After the Auth policy refused the login: the one error reply with text, then the end.
  [[nodiscard]] std::error_code refuse_login() {
    out_.clear();
    append(out_, auth_failed_reply);
    std::error_code ec;
    flush(ec);
    return {};
  }

  // TRANSACTION and UPDATE for an authenticated account: loads the maildrop, answers the
  // PASS, then runs commands, starting with the client bytes `pending` that the
  // AUTHORIZATION phase had read but not used.
  [[nodiscard]] std::error_code transact(const Account& account, std::string_view pending) {
    out_.clear();
    reader_.clear();
    reader_.append(pending);
    maildrop_ = account.maildrop;
    std::error_code ec;
    mailbox_.open(account, ec);
    if (ec) {
      log(LogPriority::notice, "Failed or refused to load " + maildrop_);
      append_err(out_);
      std::error_code write_ec;
      flush(write_ec);
      return ec;
    }
    count_all_messages();
    log(LogPriority::info, plural(live_count_, "message") + " (" + plural(live_bytes_, "byte") +
                               ") loaded");
    last_ = 0;
    append_ok(out_);
    for (;;) {
      auto line = next_line(ec);
      if (!line) break;
      if (run_transaction_command(*line, ec)) break;
      if (ec) break;
    }
    if (ec == errc::eof) log(LogPriority::info, "Premature disconnect");
    if (ec == errc::timeout) log(LogPriority::info, "Connection timed out");
    return ec;
  }

  Transport& transport() noexcept { return transport_; }
  Auth& auth() noexcept { return auth_; }
  mailbox_type& mailbox() noexcept { return mailbox_; }

 private:
  // Runs one TRANSACTION command line; true when the session is over (QUIT handled or the
  // mailbox forced the end, with ec saying why).
  bool run_transaction_command(std::string_view line, std::error_code& ec) {
    const auto cmd = split_command(line);
    auto params = cmd.params;
    const auto verb = cmd.verb;
    if (verb_is(verb, "STAT") && !params) {
      append_ok_pair(out_, live_count_, live_bytes_);
    } else if (verb_is(verb, "LIST") || verb_is(verb, "UIDL")) {
      const bool uidl = verb_is(verb, "UIDL");
      if (!params) {
        list_all(uidl, ec);
      } else if (const auto n = message_argument(params); n && !params) {
        out_.append("+OK ");
        append_listing_value(*n, uidl);
      } else {
        bad_command(ec);
      }
    } else if (verb_is(verb, "RETR")) {
      const auto n = message_argument(params);
      if (!n || params) {
        bad_command(ec);
      } else {
        last_ = std::max(last_, n->value);
        return !send_message(*n, MessageEncoder::all_lines, ec);
      }
    } else if (verb_is(verb, "TOP")) {
      const auto n = message_argument(params);
      const auto lines_arg = next_argument(params, limits_.max_arg);
      const auto lines = lines_arg ? parse_number(*lines_arg) : std::nullopt;
      if (!n || !lines || params) {
        bad_command(ec);
      } else {
        return !send_message(*n, *lines, ec);
      }
    } else if (verb_is(verb, "DELE")) {
      const auto n = message_argument(params);
      if (!n || params) {
        bad_command(ec);
      } else {
        const MsgIndex i{n->value - 1};
        mailbox_.mark_deleted(i);
        --live_count_;
        live_bytes_ -= mailbox_.size(i);
        last_ = std::max(last_, n->value);
        append_ok(out_);
      }
    } else if (verb_is(verb, "RSET") && !params) {
      mailbox_.reset_deleted();
      count_all_messages();
      last_ = 0;
      append_ok(out_);
    } else if (verb_is(verb, "NOOP") && !params) {
      append_ok(out_);
    } else if (verb_is(verb, "LAST") && !params) {
      append_ok_number(out_, last_);
    } else if (verb_is(verb, "QUIT") && !params) {
      update(ec);
      return true;
    } else {
      bad_command(ec);
    }
    return false;
  }

  // STAT's totals with no message marked deleted.
  void count_all_messages() {
    live_count_ = mailbox_.count();
    live_bytes_ = 0;
    for (std::uint32_t i = 0; i < live_count_; ++i) live_bytes_ += mailbox_.size(MsgIndex{i});
  }

  // A message number argument naming a message that exists and is not deleted.
  std::optional<MsgNumber> message_argument(std::optional<std::string_view>& params) {
    const auto arg = next_argument(params, limits_.max_arg);
    if (!arg) return std::nullopt;
    const auto n = parse_msg_number(*arg, mailbox_.count());
    if (!n || mailbox_.deleted(MsgIndex{n->value - 1})) return std::nullopt;
    return n;
  }

  void append_listing_value(MsgNumber n, bool uidl) {
    const MsgIndex i{n.value - 1};
    if (uidl) {
      append_listing_line(out_, n.value, mailbox_.unique_id(i).view());
    } else {
      append_listing_line(out_, n.value, mailbox_.size(i));
    }
  }

  // LIST or UIDL of every message not marked deleted. A long listing goes out in blocks,
  // so that its size in memory stays bounded (2 MiB of UIDL lines for 100,000 messages).
  void list_all(bool uidl, std::error_code& ec) {
    append_ok(out_);
    const std::uint32_t count = mailbox_.count();
    for (std::uint32_t i = 0; i < count; ++i) {
      if (mailbox_.deleted(MsgIndex{i})) continue;
      append_listing_value(MsgNumber{i + 1}, uidl);
      if (out_.size() >= flush_threshold) {
        flush(ec);
        if (ec) return;
      }
    }
    out_.append(end_of_multiline);
  }

  // RETR (all lines) or TOP (body_lines). False when the session must end: the mailbox was
  // changed behind our back, or the client went away (ec says which). A file that shrank
  // during the transfer ends it early: the client keeps what was sent, without the "."
  // (spec 12).
  bool send_message(MsgNumber n, std::uint64_t body_lines, std::error_code& ec) {
    const MsgIndex i{n.value - 1};
    // Checked right after the previous transfer, with nothing read or written since: the
    // two checks popa3d makes there would look at the same instant.
    if (!mailbox_checked_) mailbox_.verify(ec);
    if (ec) return mailbox_failure(ec);
    append_ok(out_);
    MessageEncoder encoder{body_lines};
    std::uint64_t offset = 0;
    for (;;) {
      const auto chunk = mailbox_.data(i, offset, ec);
      if (ec) return mailbox_failure(ec);
      if (chunk.empty()) break;
      offset += chunk.size();
      if (!encoder.encode({chunk.data(), chunk.size()}, out_)) break;
      if (out_.size() >= flush_threshold) {
        flush(ec);
        if (ec) return false;
      }
    }
    encoder.finish(out_);
    // A conflicting change found after the text: the client gets the text without the ".".
    mailbox_.verify(ec);
    mailbox_checked_ = !ec;
    if (ec) {
      std::error_code write_ec;
      flush(write_ec);
      return mailbox_failure(ec);
    }
    out_.append(end_of_multiline);
    return true;
  }

  // UPDATE (spec 8): commits the deletions; no reply at all if the mailbox was changed in a
  // conflicting way, "-ERR" if the update failed for another reason.
  void update(std::error_code& ec) {
    const std::uint32_t count = mailbox_.count();
    std::uint64_t deleted_bytes = 0;
    std::uint32_t deleted = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (!mailbox_.deleted(MsgIndex{i})) continue;
      ++deleted;
      deleted_bytes += mailbox_.size(MsgIndex{i});
    }
    // Deletions apply only once every reply before QUIT has reached the client: one that went
    // away before it read a RETR keeps the message, as with popa3d, which writes each reply
    // before it reads the next command and ends the session on a write error. Without
    // deletions UPDATE leaves the file alone, and the replies go out with QUIT's in one write.
    if (deleted != 0) {
      flush(ec);
      if (ec) return;
    }
    mailbox_.commit(ec);
    if (ec == errc::mailbox_changed) {
      log(LogPriority::info, "Another MUA active, giving up");
      flush_quietly();
      return;
    }
    if (ec) {
      log(LogPriority::crit, "Failed to update " + maildrop_);
      append_err(out_);
      flush_quietly();
      return;
    }
    log(LogPriority::info, std::to_string(deleted) + " (" + std::to_string(deleted_bytes) +
                               ") deleted, " + std::to_string(live_count_) + " (" +
                               std::to_string(live_bytes_) + ") left");
    append_ok(out_);
    flush(ec);
    ec.clear();
  }

  // Ends the session after the mailbox failed us: replies already queued still go out.
  bool mailbox_failure(const std::error_code& ec) {
    if (ec == errc::mailbox_changed) {
      log(LogPriority::info, "Another MUA active, giving up");
    } else {
      log(LogPriority::crit, "Server failure accessing " + maildrop_);
    }
    flush_quietly();
    return false;
  }

  // The next command line, reading (and first flushing queued replies) as needed. nullopt
  // at the end of input, timeout or write failure, with ec set.
  std::optional<std::string_view> next_line(std::error_code& ec) {
    for (;;) {
      if (auto line = reader_.next_line()) return line;
      if (at_eof_) {
        // The replies to the last lines go out before the phase ends (popa3d writes each
        // reply before it reads on).
        flush_quietly();
        ec = eof_reason_;
        return std::nullopt;
      }
      // About to wait for the client: everything it asked for so far goes out in one write.
      flush(ec);
      if (ec) return std::nullopt;
      mailbox_checked_ = false;  // the mailbox may change while we wait for the client
      const auto space = reader_.read_space();
      const std::size_t n = transport_.read_some(space, ec);
      if (n == 0) {
        at_eof_ = true;
        eof_reason_ = ec ? ec : make_error_code(errc::eof);
        ec.clear();
        // At the end of input an unterminated last line still runs as a command (spec 4); not
        // after a timeout, where popa3d's alarm leaves the session from inside the read.
        if (eof_reason_ != errc::timeout) {
          if (auto line = reader_.last_line()) return line;
        }
        continue;
      }
      reader_.commit(n);
    }
  }

  void bad_command(std::error_code& ec) {
    append_err(out_);
    if (limits_.max_bad_commands != 0 && ++bad_commands_ >= limits_.max_bad_commands) {
      flush(ec);
      ec = errc::too_many_bad_commands;
    }
  }

  void flush(std::error_code& ec) {
    if (out_.empty()) return;
    mailbox_checked_ = false;
    transport_.write({out_.view().data(), out_.size()}, ec);
    out_.clear();
  }
  void flush_quietly() {
    std::error_code ignored;
    flush(ignored);
  }

  void log(LogPriority priority, const std::string& message) const {
    if (log_) log_(priority, message);
  }
  void log_auth_failure(const std::string& user, const std::error_code& why) const {
    log(LogPriority::notice, "Authentication failed for " +
                                 (why == errc::auth_failed ? user : std::string{"UNKNOWN USER"}));
  }
  // "1 message", "0 messages": popa3d's wording in its load log line.
  static std::string plural(std::uint64_t n, std::string_view noun) {
    return std::to_string(n) + " " + std::string{noun} + (n == 1 ? "" : "s");
  }

  // Message text and long listings are sent in blocks of about this size. FdTransport gives
  // each block the idle timeout as a whole, so this also sets the slowest rate a client may
  // read at (fd.hpp).
  static constexpr std::size_t flush_threshold = 256 * 1024;

  Transport transport_;
  Auth auth_;
  mailbox_type mailbox_;
  Limits limits_;
  LogSink log_;
  LineReader reader_;
  OutputBuffer out_;
  std::string maildrop_;
  std::uint32_t live_count_ = 0;   // messages not marked deleted
  std::uint64_t live_bytes_ = 0;   // their total size
  std::uint32_t last_ = 0;         // the LAST value
  unsigned bad_commands_ = 0;
  bool mailbox_checked_ = false;   // verify() passed with no I/O since (see send_message)
  bool at_eof_ = false;
  std::error_code eof_reason_;
};

}  // namespace pop3
