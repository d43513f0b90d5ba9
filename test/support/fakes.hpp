// test/support/fakes.hpp: in-memory policies for driving Pop3Server without sockets or files.
//
//   auto state = std::make_shared<pop3::test::MemoryMailboxState>();
//   state->messages = {"Subject: x\n\nbody\n"};
//   pop3::test::TestServer server{pop3::test::ScriptTransport{"QUIT\r\n"}, {}, pop3::test::TestMailbox<>{state}};
//   pop3::test::FakeTlsTransport tls{"STLS\r\n", "QUIT\r\n"};   // a TlsTransport with a faked upgrade
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pop3/concepts.hpp"
#include "pop3/error.hpp"
#include "pop3/types.hpp"

namespace pop3::test {

// Delivers a fixed client script in chunks of `chunk` bytes, then end of input (or a
// timeout); records everything written. Fails the Nth write and every later one if asked
// (fail_write_at).
class ScriptTransport {
 public:
  explicit ScriptTransport(std::string input, std::size_t chunk = 1 << 20,
                           errc end = errc::eof)
      : input_(std::move(input)), chunk_(chunk), end_(end) {}

  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    if (pos_ == input_.size()) {
      ec = end_;
      return 0;
    }
    const std::size_t n = std::min({buf.size(), chunk_, input_.size() - pos_});
    std::copy_n(input_.data() + pos_, n, buf.data());
    pos_ += n;
    ++reads_;
    return n;
  }
  void write(std::span<const char> bytes, std::error_code& ec) {
    ++writes_;
    if (fail_write_at_ != 0 && writes_ >= fail_write_at_) {
      ec = errc::eof;
      return;
    }
    output_->append(bytes.data(), bytes.size());
  }

  void fail_write_at(unsigned n) { fail_write_at_ = n; }
  // Shared so that a test keeps access after the transport was moved into the server.
  std::shared_ptr<std::string> output() const { return output_; }
  std::size_t consumed() const { return pos_; }
  unsigned writes() const { return writes_; }  // write() calls, failed ones included

 private:
  std::string input_;
  std::size_t chunk_;
  errc end_;
  std::size_t pos_ = 0;
  unsigned reads_ = 0;
  unsigned writes_ = 0;
  unsigned fail_write_at_ = 0;
  std::shared_ptr<std::string> output_ = std::make_shared<std::string>();
};
static_assert(TransportPolicy<ScriptTransport>);

// What a FakeTlsTransport did, shared so that a test keeps it after the server took the policy.
struct FakeTlsState {
  std::string plain_written;  // before the handshake
  std::string tls_written;    // after it
  std::vector<std::string> read_aheads;  // what each start_tls() call was handed
  std::size_t plain_unread = 0;          // plain script bytes never read when TLS started
};

// Models a TlsTransport with no TLS at all: start_tls() "succeeds" (or fails, if told to) and
// switches from the plain script to the `after_tls` one, as a real handshake would switch the
// same connection to decrypted bytes. Whatever of the plain script was not read by then is
// what a client would have sent in the clear after STLS: the fake drops it, as TLS would
// read it as (broken) handshake bytes, and records how much.
class FakeTlsTransport {
 public:
  FakeTlsTransport(std::string plain, std::string after_tls, std::size_t chunk = 1 << 20, bool handshake_fails = false)
      : plain_(std::move(plain)), after_tls_(std::move(after_tls)), chunk_(chunk), fails_(handshake_fails) {}

  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    const std::string& input = active_ ? after_tls_ : plain_;
    if (pos_ == input.size()) {
      ec = errc::eof;
      return 0;
    }
    const std::size_t n = std::min({buf.size(), chunk_, input.size() - pos_});
    std::copy_n(input.data() + pos_, n, buf.data());
    pos_ += n;
    return n;
  }
  void write(std::span<const char> bytes, std::error_code&) {
    (active_ ? state_->tls_written : state_->plain_written).append(bytes.data(), bytes.size());
  }
  void start_tls(std::string_view read_ahead, std::error_code& ec) {
    state_->read_aheads.emplace_back(read_ahead);
    if (fails_ || active_) {
      ec = errc::tls_failed;
      return;
    }
    state_->plain_unread = plain_.size() - pos_;
    active_ = true;
    pos_ = 0;
  }
  bool tls_active() const { return active_; }

  std::shared_ptr<FakeTlsState> state() const { return state_; }

 private:
  std::string plain_;
  std::string after_tls_;
  std::size_t chunk_;
  bool fails_;
  bool active_ = false;
  std::size_t pos_ = 0;
  std::shared_ptr<FakeTlsState> state_ = std::make_shared<FakeTlsState>();
};
static_assert(TlsTransport<FakeTlsTransport>);
static_assert(!TlsTransport<ScriptTransport>);

// One account: alice / secret, with its own mailbox location "mem:alice".
struct FixedAuth {
  std::optional<Account> authenticate(std::string_view user, std::string_view password,
                                      std::error_code& ec) {
    ++calls;
    if (user != "alice") {
      ec = errc::unknown_user;
      return std::nullopt;
    }
    if (password != "secret") {
      ec = errc::auth_failed;
      return std::nullopt;
    }
    return Account{"alice", "mem:alice", 1000, 1000};
  }
  int calls = 0;
};
static_assert(AuthPolicy<FixedAuth>);

// Shared state of a MemoryMailbox, so tests can look at it after the server took the policy.
struct MemoryMailboxState {
  std::vector<std::string> messages;  // raw LF data of each message
  std::optional<std::error_code> open_error;
  std::optional<std::error_code> verify_error;  // returned by verify() from the Nth call on
  unsigned verify_error_from = 1;
  std::optional<std::error_code> commit_error;
  std::optional<std::size_t> fail_data_at;  // data() fails at this offset (the file shrank)
  std::vector<std::size_t> gone;            // data() reports errc::message_gone for these
  std::size_t chunk = 7;             // data() hands out this many bytes at a time
  unsigned verify_calls = 0;
  std::string opened;  // the location open() was given
  std::vector<std::size_t> committed_deletions;
  bool committed = false;
};

// Messages in memory; unique ids from the Digest over the whole message.
template <DigestPolicy Digest>
class MemoryMailbox {
 public:
  explicit MemoryMailbox(std::shared_ptr<MemoryMailboxState> state) : state_(std::move(state)) {}

  void open(std::string_view location, std::error_code& ec) {
    state_->opened = location;
    if (state_->open_error) {
      ec = *state_->open_error;
      return;
    }
    count_ = static_cast<std::uint32_t>(state_->messages.size());
  }
  std::uint32_t count() const { return count_; }
  std::uint64_t size(MsgIndex i) const {
    const auto& m = state_->messages.at(i.value);
    const auto lines = std::count(m.begin(), m.end(), '\n') + (!m.empty() && m.back() != '\n');
    return m.size() + static_cast<std::uint64_t>(lines);
  }
  UniqueId unique_id(MsgIndex i) const {
    Digest d;
    d.update(state_->messages.at(i.value));
    const auto value = d.final();
    UniqueId id;
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t k = 0; k < value.size() && id.length + 2u <= id.chars.size(); ++k) {
      id.chars[id.length++] = hex[value[k] >> 4];
      id.chars[id.length++] = hex[value[k] & 15];
    }
    return id;
  }
  void verify(std::error_code& ec) {
    if (++state_->verify_calls >= state_->verify_error_from && state_->verify_error)
      ec = *state_->verify_error;
  }
  std::span<const char> data(MsgIndex i, std::uint64_t offset, std::error_code& ec) {
    const auto& m = state_->messages.at(i.value);
    if (std::find(state_->gone.begin(), state_->gone.end(), i.value) != state_->gone.end()) {
      ec = errc::message_gone;
      return {};
    }
    if (state_->fail_data_at && offset >= *state_->fail_data_at) {
      ec = errc::mailbox_changed;
      return {};
    }
    if (offset >= m.size()) return {};
    return {m.data() + offset, std::min<std::size_t>(state_->chunk, m.size() - offset)};
  }
  void commit(const DeletionSet& deletions, std::error_code& ec) {
    if (state_->commit_error) {
      ec = *state_->commit_error;
      return;
    }
    state_->committed = true;
    for (std::uint32_t i = 0; i < deletions.messages(); ++i)
      if (deletions.marked(MsgIndex{i})) state_->committed_deletions.push_back(i);
  }

 private:
  std::shared_ptr<MemoryMailboxState> state_;
  std::uint32_t count_ = 0;
};

}  // namespace pop3::test
