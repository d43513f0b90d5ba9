// pop3/detail/unique_fd.hpp: an owned file descriptor, closed when its owner goes away.
//
//   pop3::detail::UniqueFd fd{::open(path, O_RDONLY | O_CLOEXEC)};
//   if (!fd) return fail();            // -1: nothing is owned
//   ::read(fd.get(), buf, sizeof buf);  // closed at the end of the scope, on every path
#pragma once

#include <unistd.h>

#include <utility>

namespace pop3::detail {

// Move-only, so a class that owns one gets correct defaulted moves. The result of close() is
// ignored: the descriptor is released whatever it says (Linux close(2)), and nothing here
// writes through one whose errors would be reported only at close.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held, if any, and owns `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace pop3::detail
