// pop3/session/transaction.hpp: the TRANSACTION and UPDATE states (RFC 1939 s.5, s.6) as a
// session of its own, for an account whose password was checked elsewhere.
//
// Runs as the account (popa3d's root parent after the drop): finds the maildrop with the
// MailboxLocator, loads it, answers the PASS, and takes over the bytes the AUTHORIZATION
// session read ahead. With Features::extensions it also answers CAPA. The deletion marks and the running totals live here, not in the mailbox.
//
//   pop3::TransactionSession<MyTransport, MyMailbox> session{transport, mailbox, limits, log, locator};
//   std::error_code why = session.run(account, credentials.pending);   // {} after QUIT
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "pop3/account.hpp"
#include "pop3/concepts.hpp"
#include "pop3/error.hpp"
#include "pop3/features.hpp"
#include "pop3/limits.hpp"
#include "pop3/log.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/protocol/capa.hpp"
#include "pop3/protocol/reply.hpp"
#include "pop3/session/command_table.hpp"
#include "pop3/session/io.hpp"
#include "pop3/session/outcome.hpp"
#include "pop3/types.hpp"

namespace pop3 {

template <TransportPolicy Transport, MailboxPolicy Mailbox>
class TransactionSession {
  using Session = TransactionSession;

  static Outcome on_stat(Session& s, const Arguments&) { return Outcome::ok_numbers(s.live_count_, s.live_bytes_); }
  static Outcome on_list(Session& s, const Arguments& args) { return s.listing(args, false); }
  static Outcome on_uidl(Session& s, const Arguments& args) { return s.listing(args, true); }
  static Outcome on_retr(Session& s, const Arguments& args) {
    s.last_ = std::max(s.last_, args.message->value);
    return s.start_message(*args.message, MessageEncoder::all_lines);
  }
  static Outcome on_top(Session& s, const Arguments& args) { return s.start_message(*args.message, args.count); }
  static Outcome on_dele(Session& s, const Arguments& args) {
    const MsgIndex i{args.message->value - 1};
    s.deletions_.mark(i);
    --s.live_count_;
    s.live_bytes_ -= s.mailbox_.size(i);
    s.last_ = std::max(s.last_, args.message->value);
    return Outcome::ok();
  }
  static Outcome on_rset(Session& s, const Arguments&) {
    s.deletions_.clear();
    s.count_all_messages();
    s.last_ = 0;
    return Outcome::ok();
  }
  static Outcome on_noop(Session&, const Arguments&) { return Outcome::ok(); }
  static Outcome on_last(Session& s, const Arguments&) { return Outcome::ok_numbers(s.last_); }
  static Outcome on_quit(Session& s, const Arguments&) { return s.update(); }
  static Outcome on_capa(Session& s, const Arguments&) {
    s.text_.kind = Text::Kind::capabilities;
    return Outcome::ok_text();
  }

 public:
  // popa3d 1.0.3's TRANSACTION commands (LAST is RFC 1725's, which popa3d keeps), and CAPA.
  static constexpr std::array<Command<TransactionSession>, 11> commands{{
      {"STAT", ArgShape::none, Gate::always, &on_stat},
      {"LIST", ArgShape::optional_message, Gate::always, &on_list},
      {"UIDL", ArgShape::optional_message, Gate::always, &on_uidl},
      {"RETR", ArgShape::message, Gate::always, &on_retr},
      {"TOP", ArgShape::message_and_count, Gate::always, &on_top},
      {"DELE", ArgShape::message, Gate::always, &on_dele},
      {"RSET", ArgShape::none, Gate::always, &on_rset},
      {"NOOP", ArgShape::none, Gate::always, &on_noop},
      {"LAST", ArgShape::none, Gate::always, &on_last},
      {"QUIT", ArgShape::none, Gate::always, &on_quit},
      {"CAPA", ArgShape::none, Gate::extensions, &on_capa},
  }};

  TransactionSession(Transport& transport, Mailbox& mailbox, const Limits& limits, const LogSink& log,
                     const MailboxLocator& locator, Features features = {})
      : transport_(transport),
        mailbox_(mailbox),
        limits_(limits),
        log_(log),
        locator_(locator),
        features_(std::move(features)) {}

  // Loads the maildrop, answers the PASS, then runs commands, starting with the client bytes
  // `pending` that the AUTHORIZATION phase read but did not use. Returns why the session
  // ended: {} after QUIT, errc::eof or errc::timeout when the client went away, or the
  // mailbox's error.
  [[nodiscard]] std::error_code run(const Account& account, std::string_view pending) {
    const std::size_t line_buffer =
        features_.extensions ? std::max(limits_.line_buffer, limits_.extended_line_buffer) : limits_.line_buffer;
    io_.emplace(transport_, limits_, log_, pending, line_buffer, features_.extensions);
    location_ = locator_.locate(account);
    std::error_code ec;
    mailbox_.open(location_, ec);
    if (ec) {
      io_->log(LogPriority::notice, "Failed or refused to load " + location_);
      std::error_code write_ec;
      // With the extensions, the client learns whether trying again can help (RFC 3206).
      io_->reply(ec == errc::mailbox_refused ? Outcome::end(Outcome::Status::perm_failure)
                                             : Outcome::end(Outcome::Status::temp_failure),
                 write_ec);
      io_->flush(write_ec);
      return ec;
    }
    deletions_ = DeletionSet{mailbox_.count()};
    count_all_messages();
    io_->log(LogPriority::info, plural(live_count_, "message") + " (" + plural(live_bytes_, "byte") + ") loaded");
    io_->reply(Outcome::ok(), ec);
    const SessionFacts facts = session_facts(features_, false, false, true, true);
    for (;;) {
      auto line = io_->next_line(ec);
      if (!line) break;
      const Outcome outcome =
          dispatch(commands, *this, *line, facts, {limits_.max_arg, mailbox_.count(), &deletions_});
      io_->reply(outcome, ec);
      if (ec) break;
      if (outcome.then == Outcome::Then::text && !write_text(ec)) break;
      if (outcome.then == Outcome::Then::end) {
        io_->flush_quietly();
        ec = ec_;
        break;
      }
    }
    if (ec == errc::eof) io_->log(LogPriority::info, "Premature disconnect");
    if (ec == errc::timeout) io_->log(LogPriority::info, "Connection timed out");
    return ec;
  }

 private:
  // The multi-line text an Outcome::ok_text() promised, written by write_text().
  struct Text {
    enum class Kind : std::uint8_t { sizes, unique_ids, message, capabilities } kind = Kind::sizes;
    MsgIndex message{0};
    std::uint64_t body_lines = 0;
    std::span<const char> first_chunk;  // the message's first chunk, read before its +OK
    std::error_code first_ec;
  };

  // STAT's totals with no message marked deleted.
  void count_all_messages() {
    live_count_ = mailbox_.count();
    live_bytes_ = 0;
    for (std::uint32_t i = 0; i < live_count_; ++i) live_bytes_ += mailbox_.size(MsgIndex{i});
  }

  Outcome listing(const Arguments& args, bool uidl) {
    if (!args.message) {
      text_.kind = uidl ? Text::Kind::unique_ids : Text::Kind::sizes;
      return Outcome::ok_text();
    }
    const MsgIndex i{args.message->value - 1};
    if (!uidl) return Outcome::ok_numbers(args.message->value, mailbox_.size(i));
    unique_id_ = mailbox_.unique_id(i);
    return Outcome::ok_word(args.message->value, unique_id_.view());
  }

  // RETR or TOP: the checks before the "+OK". A conflicting change ends the session with no
  // reply; a message that is gone (errc::message_gone) gets "-ERR".
  Outcome start_message(MsgNumber n, std::uint64_t body_lines) {
    const MsgIndex i{n.value - 1};
    // Checked right after the previous transfer, with nothing read or written since: the
    // two checks popa3d makes there would look at the same instant.
    if (verified_at_ != io_->exchanges()) mailbox_.verify(ec_);
    if (ec_) return mailbox_failure();
    text_ = Text{Text::Kind::message, i, body_lines, {}, {}};
    text_.first_chunk = mailbox_.data(i, 0, text_.first_ec);
    if (text_.first_ec == errc::message_gone) return Outcome::failed();
    return Outcome::ok_text();
  }

  // False when the session must end, with ec saying why.
  bool write_text(std::error_code& ec) {
    if (text_.kind == Text::Kind::message) return send_message(ec);
    if (text_.kind == Text::Kind::capabilities) {
      append_capabilities(io_->out(), session_facts(features_, false, false, true, true), features_.implementation);
      return true;
    }
    list_all(text_.kind == Text::Kind::unique_ids, ec);
    return !ec;
  }

  // LIST or UIDL of every message not marked deleted. A long listing goes out in blocks,
  // so that its size in memory stays bounded.
  void list_all(bool uidl, std::error_code& ec) {
    OutputBuffer& out = io_->out();
    const std::uint32_t count = mailbox_.count();
    for (std::uint32_t i = 0; i < count; ++i) {
      if (deletions_.marked(MsgIndex{i})) continue;
      if (uidl) {
        append_listing_line(out, i + 1, mailbox_.unique_id(MsgIndex{i}).view());
      } else {
        append_listing_line(out, i + 1, mailbox_.size(MsgIndex{i}));
      }
      io_->flush_if_full(ec);
      if (ec) return;
    }
    out.append(end_of_multiline);
  }

  // The text of RETR (all lines) or TOP (body_lines) after its "+OK". A file that shrank
  // during the transfer ends it early: the client keeps what was sent, without the "."
  // (spec 12).
  bool send_message(std::error_code& ec) {
    OutputBuffer& out = io_->out();
    MessageEncoder encoder{text_.body_lines};
    std::span<const char> chunk = text_.first_chunk;
    ec = text_.first_ec;
    std::uint64_t offset = 0;
    for (;;) {
      if (ec) return mailbox_failure(ec);
      if (chunk.empty()) break;
      offset += chunk.size();
      if (!encoder.encode({chunk.data(), chunk.size()}, out)) break;
      io_->flush_if_full(ec);
      if (ec) return false;
      chunk = mailbox_.data(text_.message, offset, ec);
    }
    encoder.finish(out);
    // A conflicting change found after the text: the client gets the text without the ".".
    mailbox_.verify(ec);
    if (ec) {
      io_->flush_quietly();
      return mailbox_failure(ec);
    }
    verified_at_ = io_->exchanges();
    out.append(end_of_multiline);
    return true;
  }

  // UPDATE (spec 8): commits the deletions; no reply at all if the mailbox was changed in a
  // conflicting way, "-ERR" if the update failed for another reason.
  Outcome update() {
    std::uint64_t deleted_bytes = 0;
    for (std::uint32_t i = 0; i < mailbox_.count(); ++i)
      if (deletions_.marked(MsgIndex{i})) deleted_bytes += mailbox_.size(MsgIndex{i});
    // Deletions apply only once every reply before QUIT has reached the client: one that went
    // away before it read a RETR keeps the message, as with popa3d, which writes each reply
    // before it reads the next command and ends the session on a write error. Without
    // deletions UPDATE leaves the file alone, and the replies go out with QUIT's in one write.
    if (deletions_.count() != 0) {
      io_->flush(ec_);
      if (ec_) return Outcome::end(Outcome::Status::none);
    }
    mailbox_.commit(deletions_, ec_);
    if (ec_ == errc::mailbox_changed) {
      io_->log(LogPriority::info, "Another MUA active, giving up");
      return Outcome::end(Outcome::Status::none);
    }
    if (ec_) {
      io_->log(LogPriority::crit, "Failed to update " + location_);
      return Outcome::end(Outcome::Status::temp_failure);
    }
    io_->log(LogPriority::info, std::to_string(deletions_.count()) + " (" + std::to_string(deleted_bytes) +
                                    ") deleted, " + std::to_string(live_count_) + " (" +
                                    std::to_string(live_bytes_) + ") left");
    return Outcome::end(Outcome::Status::ok);
  }

  // Ends the session after the mailbox failed us: replies already queued still go out.
  Outcome mailbox_failure() {
    (void)mailbox_failure(ec_);
    return Outcome::end(Outcome::Status::none);
  }
  bool mailbox_failure(const std::error_code& ec) {
    if (ec == errc::mailbox_changed) {
      io_->log(LogPriority::info, "Another MUA active, giving up");
    } else {
      io_->log(LogPriority::crit, "Server failure accessing " + location_);
    }
    io_->flush_quietly();
    return false;
  }

  // "1 message", "0 messages": popa3d's wording in its load log line.
  static std::string plural(std::uint64_t n, std::string_view noun) {
    return std::to_string(n) + " " + std::string{noun} + (n == 1 ? "" : "s");
  }

  Transport& transport_;
  Mailbox& mailbox_;
  Limits limits_;
  const LogSink& log_;
  const MailboxLocator& locator_;
  Features features_;
  std::optional<SessionIo<Transport>> io_;  // during run()
  std::string location_;
  DeletionSet deletions_;
  std::uint32_t live_count_ = 0;  // messages not marked deleted
  std::uint64_t live_bytes_ = 0;  // their total size
  std::uint32_t last_ = 0;        // the LAST value
  std::optional<std::uint64_t> verified_at_;  // io exchanges when verify() last passed
  Text text_;
  UniqueId unique_id_;  // UIDL n's value, until its reply is appended
  std::error_code ec_;  // why a handler ended the session
};

}  // namespace pop3
