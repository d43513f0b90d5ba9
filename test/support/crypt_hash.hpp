// test/support/crypt_hash.hpp: a crypt(3) hash of a password with a fresh salt, for the tests
// that build users files and accounts (link -lcrypt).
//
//   const std::string yescrypt = pop3::test::make_hash("secret");
//   const std::string sha512 = pop3::test::make_hash("hunter2", "$6$");
//   const std::string costly = pop3::test::make_hash("pw", "$2b$", 12);
#pragma once

#include <crypt.h>

#include <boost/test/unit_test.hpp>
#include <string>

namespace pop3::test {

inline std::string make_hash(const char* password, const char* prefix = "$y$", unsigned long count = 0) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  BOOST_REQUIRE_MESSAGE(::crypt_gensalt_rn(prefix, count, nullptr, 0, salt, sizeof salt) != nullptr,
                        "crypt_gensalt " << prefix << " " << count);
  crypt_data data{};
  const char* hash = ::crypt_rn(password, salt, &data, sizeof data);
  BOOST_REQUIRE(hash != nullptr);
  return hash;
}

}  // namespace pop3::test
