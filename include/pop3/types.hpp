// pop3/types.hpp: the values the engine and the Mailbox policy exchange about messages.
//
// MsgIndex (0-based) names a message to the policy; the wire's 1-based MsgNumber is
// protocol/command.hpp's. DeletionSet is the engine's record of DELE, handed to commit().
//
//   pop3::DeletionSet deletions{3};
//   deletions.mark(pop3::MsgIndex{1});
//   mailbox.commit(deletions, ec);   // removes message 2 of 3
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pop3 {

// A message index: 0 .. count-1.
struct MsgIndex {
  std::uint32_t value;
  friend bool operator==(MsgIndex, MsgIndex) = default;
};

// A unique-id listing value: RFC 1939 s.7 allows 1 to 70 printable characters.
struct UniqueId {
  std::array<char, 70> chars{};
  std::uint8_t length = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), length}; }
};

// The messages marked deleted in one session (RFC 1939 s.5 DELE, undone by RSET). The engine
// owns it, so that a Mailbox policy needs no state for DELE and RSET; commit() receives it.
class DeletionSet {
 public:
  DeletionSet() = default;
  explicit DeletionSet(std::uint32_t messages) : marked_(messages, false) {}

  // Marking a message twice counts it once.
  void mark(MsgIndex i) {
    if (marked_[i.value]) return;
    marked_[i.value] = true;
    ++count_;
  }
  void clear() noexcept {
    marked_.assign(marked_.size(), false);
    count_ = 0;
  }
  [[nodiscard]] bool marked(MsgIndex i) const noexcept { return marked_[i.value]; }
  [[nodiscard]] std::uint32_t count() const noexcept { return count_; }   // messages marked
  [[nodiscard]] std::uint32_t messages() const noexcept { return static_cast<std::uint32_t>(marked_.size()); }

 private:
  std::vector<bool> marked_;
  std::uint32_t count_ = 0;
};

}  // namespace pop3
