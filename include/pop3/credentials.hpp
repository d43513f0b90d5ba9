// pop3/credentials.hpp: what the AUTHORIZATION phase hands to the password check.
//
// The password is wiped when the value is destroyed or wipe() is called, so it
// does not linger in memory after use (popa3d does the same).
//
//   pop3::Credentials c = *server.authorize(ec);
//   auto account = auth.authenticate(c.user, c.password, ec);
//   c.wipe();
#pragma once

#include <string>
#include <utility>

#include "pop3/detail/secure_zero.hpp"

namespace pop3 {

struct Credentials {
  std::string user;
  std::string password;
  std::string pending;  // client bytes already read but not yet consumed (may end mid-line)

  Credentials() = default;
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;
  // A move copies the password and zeroes the source: a moved-from std::string may keep
  // its characters in its small-string buffer.
  Credentials(Credentials&& other) noexcept
      : user(std::move(other.user)), password(other.password), pending(std::move(other.pending)) {
    other.wipe();
  }
  Credentials& operator=(Credentials&& other) noexcept {
    if (this != &other) {
      wipe();
      user = std::move(other.user);
      password = other.password;
      pending = std::move(other.pending);
      other.wipe();
    }
    return *this;
  }
  ~Credentials() { wipe(); }

  void wipe() noexcept { detail::secure_zero(password); }
};

}  // namespace pop3
