// Builds against the installed headers and the components pop3::crypt and pop3::pam: checks a
// password with CryptAuth from a users file, and logs in through a PAM stack of pam_permit.
//   consumer_auth DIR      (writes its users file and PAM service file under DIR)
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <pop3/auth/crypt.hpp>
#include <pop3/auth/pam.hpp>

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "consumer_auth: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail("usage: consumer_auth DIR");
  const std::string dir = argv[1];
  std::string error;
  std::error_code ec;

  // "secret", SHA-512 crypt (openssl passwd -6 -salt pop3consumer secret). A users file holds
  // hashes, so CryptAuth wants it readable by its owner only.
  std::ofstream(dir + "/users")
      << "alice:$6$pop3consumer$eM3TkBctxYZAo1J5Kybq/8JH7ug94ntnxGukiuVKVgnm3L4wnUhq4RGhe6ugAZrk/"
         "8a9pCXlf2WDw/1/KWSvD0:1000:1000:\n";
  ::chmod((dir + "/users").c_str(), 0600);
  auto crypt = pop3::CryptAuth::from_users_file(dir + "/users", error);
  if (!crypt) return fail(error);
  const auto alice = crypt->authenticate("alice", "secret", ec);
  if (!alice || alice->uid != 1000) return fail("CryptAuth refused alice/secret: " + ec.message());
  if (crypt->authenticate("alice", "wrong", ec) || ec != pop3::errc::auth_failed)
    return fail("CryptAuth did not refuse a wrong password");

  // Linux-PAM reads the service file from the directory given (pam_start_confdir), which must
  // not be writable by group or others.
  ::mkdir((dir + "/pam.d").c_str(), 0755);
  std::ofstream(dir + "/pam.d/consumer") << "auth required pam_permit.so\naccount required pam_permit.so\n";
  pop3::PamOptions options;
  options.service = "consumer";
  options.confdir = dir + "/pam.d";
  auto pam = pop3::PamAuth::create(options, error);
  if (!pam) return fail(error);
  const auto nobody = pam->authenticate("nobody", "anything", ec);
  if (!nobody) return fail("PamAuth through pam_permit refused nobody: " + ec.message());
  return 0;
}
