// pop3/auth/user_lookup.hpp: what CryptAuth and PamAuth both need of a user name: the rule
// for one that can be served, and a passwd (or shadow) lookup. No library beyond libc.
//
//   std::vector<char> buffer; passwd pw{}; passwd* found = nullptr;
//   if (!pop3::detail::valid_user_name(user)) return refuse();
//   int rc = pop3::detail::lookup_entry(user.c_str(), pw, &found, buffer, ::getpwnam_r);
#pragma once

#include <cerrno>
#include <string_view>
#include <vector>

#include "pop3/detail/secure_zero.hpp"

namespace pop3::detail {

// A name that can be a USER argument and a file name in the spool: one word, no '/' and no
// ':' (which would end the name in passwd and in a users file).
inline bool valid_user_name(std::string_view name) noexcept {
  if (name.empty() || name == "." || name == "..") return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == ':') return false;
  }
  return true;
}

// getpwnam_r / getspnam_r with a buffer that grows up to 1 MiB, wiped before each growth (a
// shadow entry may be in it). Returns 0 (found or not: see `*out`) or an errno value.
template <class Entry, class Lookup>
int lookup_entry(const char* name, Entry& entry, Entry** out, std::vector<char>& buffer, Lookup lookup) {
  buffer.assign(4096, '\0');
  for (;;) {
    const int rc = lookup(name, &entry, buffer.data(), buffer.size(), out);
    if (rc != ERANGE || buffer.size() >= (1u << 20)) {
      // ENOENT, ESRCH, EBADF and EPERM are documented ways of saying "no such name".
      if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
        *out = nullptr;
        return 0;
      }
      return rc;
    }
    secure_zero(buffer.data(), buffer.size());
    buffer.assign(buffer.size() * 2, '\0');
  }
}

}  // namespace pop3::detail
