// test/support/pieces_transport.hpp: client bytes in pieces, with another program acting
// between them (while the server waits for the client).
//
//   pop3::test::PiecesTransport t({"USER a\r\nPASS b\r\nRETR 1\r\n", "QUIT\r\n"}, [&] { unlink(file); });
//   auto output = t.output();   // everything the server wrote, after it took the transport
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "pop3/error.hpp"

namespace pop3::test {

// Client bytes in pieces; before it hands out a piece other than the first it runs
// `between`, another program acting while the server waits for the client.
class PiecesTransport {
 public:
  PiecesTransport(std::vector<std::string> pieces, std::function<void()> between)
      : pieces_(std::move(pieces)), between_(std::move(between)) {}
  std::size_t read_some(std::span<char> buf, std::error_code& ec) {
    if (next_ == pieces_.size()) {
      ec = pop3::errc::eof;
      return 0;
    }
    if (offset_ == 0 && next_ > 0) between_();
    const std::string& piece = pieces_[next_];
    const std::size_t n = std::min(buf.size(), piece.size() - offset_);
    std::copy_n(piece.data() + offset_, n, buf.data());
    offset_ += n;
    if (offset_ == piece.size()) {
      ++next_;
      offset_ = 0;
    }
    return n;
  }
  void write(std::span<const char> bytes, std::error_code&) { output_->append(bytes.data(), bytes.size()); }
  [[nodiscard]] std::shared_ptr<std::string> output() const { return output_; }

 private:
  std::vector<std::string> pieces_;
  std::function<void()> between_;
  std::size_t next_ = 0;
  std::size_t offset_ = 0;
  std::shared_ptr<std::string> output_ = std::make_shared<std::string>();
};

}  // namespace pop3::test
