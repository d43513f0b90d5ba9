// test/support/fakes.hpp: in-memory policies for driving Pop3Server without sockets or files.
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

// One account: alice / secret, maildrop "mem:alice".
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
  std::size_t chunk = 7;             // data() hands out this many bytes at a time
  unsigned verify_calls = 0;
  std::vector<std::size_t> committed_deletions;
  bool committed = false;
};

// Messages in memory; unique ids from the Digest over the whole message.
template <DigestPolicy Digest>
class MemoryMailbox {
 public:
  explicit MemoryMailbox(std::shared_ptr<MemoryMailboxState> state) : state_(std::move(state)) {}

  void open(const Account&, std::error_code& ec) {
    if (state_->open_error) {
      ec = *state_->open_error;
      return;
    }
    deleted_.assign(state_->messages.size(), false);
  }
  std::uint32_t count() const { return static_cast<std::uint32_t>(deleted_.size()); }
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
    if (state_->fail_data_at && offset >= *state_->fail_data_at) {
      ec = errc::mailbox_changed;
      return {};
    }
    if (offset >= m.size()) return {};
    return {m.data() + offset, std::min<std::size_t>(state_->chunk, m.size() - offset)};
  }
  void mark_deleted(MsgIndex i) { deleted_.at(i.value) = true; }
  bool deleted(MsgIndex i) const { return deleted_.at(i.value); }
  void reset_deleted() { std::fill(deleted_.begin(), deleted_.end(), false); }
  void commit(std::error_code& ec) {
    if (state_->commit_error) {
      ec = *state_->commit_error;
      return;
    }
    state_->committed = true;
    for (std::size_t i = 0; i < deleted_.size(); ++i)
      if (deleted_[i]) state_->committed_deletions.push_back(i);
  }

 private:
  std::shared_ptr<MemoryMailboxState> state_;
  std::vector<bool> deleted_;
};

}  // namespace pop3::test
