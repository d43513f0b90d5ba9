// Bytes from the pre-auth child (read_handoff) and from the password-check child
// (read_auth_result), through a pipe as root reads them, against a decoding of the frame
// written out plainly: root accepts exactly the well-formed frames within its bounds, and
// what it accepts is what the frame says. Round trips through write_handoff and
// write_auth_result with fuzzer-chosen values must come back unchanged.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "pop3/posix/privsep.hpp"

namespace {

namespace d = pop3::posix::detail;

// A pipe holding `bytes`, its write end closed: what root sees from a child that exited.
int pipe_with(std::string_view bytes) {
  int fds[2];
  POP3_FUZZ_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
  POP3_FUZZ_CHECK(bytes.size() <= 65536);  // a pipe's capacity: the write cannot block
  POP3_FUZZ_CHECK(d::write_all(fds[1], bytes.data(), bytes.size()));
  ::close(fds[1]);
  return fds[0];
}

std::uint32_t word(std::string_view bytes, std::size_t i) {
  std::uint32_t w;
  std::memcpy(&w, bytes.data() + 4 * i, 4);
  return w;
}

void check_handoff(std::string_view bytes, const pop3::posix::PrivsepConfig& config) {
  pop3::Credentials got;
  bool got_relay = false;
  const int fd = pipe_with(bytes);
  const d::Handoff result = d::read_handoff(fd, config, got, got_relay);
  ::close(fd);
  if (bytes.empty()) {
    POP3_FUZZ_CHECK(result == d::Handoff::none);
    return;
  }
  bool ok = bytes.size() >= 16;
  std::uint64_t user = 0, password = 0, pending = 0, relay = 0;
  if (ok) {
    user = word(bytes, 0), password = word(bytes, 1), pending = word(bytes, 2), relay = word(bytes, 3);
    ok = user + 1 + password + 1 <= config.auth_buffer && pending <= config.max_pending && relay <= 1 &&
         bytes.size() == 16 + user + password + pending;
  }
  POP3_FUZZ_CHECK(result == (ok ? d::Handoff::ok : d::Handoff::malformed));
  POP3_FUZZ_CHECK(got_relay == (ok && relay == 1));
  if (ok) {
    POP3_FUZZ_CHECK(got.user == bytes.substr(16, user));
    POP3_FUZZ_CHECK(got.password == bytes.substr(16 + user, password));
    POP3_FUZZ_CHECK(got.pending == bytes.substr(16 + user + password, pending));
  }
}

void check_auth_result(std::string_view bytes, const pop3::posix::PrivsepConfig& config) {
  std::optional<pop3::Account> account;
  std::error_code ec;
  const int fd = pipe_with(bytes);
  const bool accepted = d::read_auth_result(fd, config, account, ec);
  ::close(fd);
  bool ok = bytes.size() >= 24;
  std::uint32_t status = 0, uid = 0, gid = 0, user = 0, maildrop = 0, home = 0;
  if (ok) {
    status = word(bytes, 0), uid = word(bytes, 1), gid = word(bytes, 2), user = word(bytes, 3),
    maildrop = word(bytes, 4), home = word(bytes, 5);
    if (status == 0) {
      ok = user >= 1 && user < config.auth_buffer && maildrop <= d::max_maildrop && home <= d::max_maildrop &&
           uid != UINT32_MAX && gid != UINT32_MAX &&
           bytes.size() == 24 + std::uint64_t{user} + maildrop + home;
    } else {
      ok = status <= 3 && uid == 0 && gid == 0 && user == 0 && maildrop == 0 && home == 0 && bytes.size() == 24;
    }
  }
  POP3_FUZZ_CHECK(accepted == ok);
  if (!ok) return;
  POP3_FUZZ_CHECK(account.has_value() == (status == 0));
  if (account) {
    POP3_FUZZ_CHECK(account->user == bytes.substr(24, user));
    POP3_FUZZ_CHECK(account->mailbox == bytes.substr(24 + user, maildrop));
    POP3_FUZZ_CHECK(account->home == bytes.substr(24 + std::size_t{user} + maildrop, home));
    POP3_FUZZ_CHECK(account->uid == uid && account->gid == gid && !ec);
  } else {
    POP3_FUZZ_CHECK(ec == (status == 1 ? pop3::errc::auth_failed
                           : status == 2 ? pop3::errc::unknown_user
                                         : pop3::errc::auth_backend));
  }
}

void check_round_trips(pop3::fuzz::FuzzInput& input, const pop3::posix::PrivsepConfig& config) {
  const std::string_view rest = input.rest();
  const std::size_t a = std::min<std::size_t>(input.size_in(64), rest.size());
  const std::size_t b = std::min<std::size_t>(input.size_in(64), rest.size() - a);
  const std::string_view user = rest.substr(0, a), password = rest.substr(a, b);
  const std::string_view pending = rest.substr(a + b, config.max_pending);
  int fds[2];
  POP3_FUZZ_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
  const bool relay = !pending.empty() && pending.front() % 2 == 1;
  POP3_FUZZ_CHECK(d::write_handoff(fds[1], user, password, pending, relay));
  ::close(fds[1]);
  pop3::Credentials got;
  bool got_relay = !relay;
  POP3_FUZZ_CHECK(d::read_handoff(fds[0], config, got, got_relay) == d::Handoff::ok);
  ::close(fds[0]);
  POP3_FUZZ_CHECK(got.user == user && got.password == password && got.pending == pending && got_relay == relay);

  if (user.empty() || pending.empty()) return;
  const std::optional<pop3::Account> sent =
      pop3::Account{std::string(user), std::string(pending), 1000, 100, std::string(password)};
  POP3_FUZZ_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
  POP3_FUZZ_CHECK(d::write_auth_result(fds[1], sent, {}));
  ::close(fds[1]);
  std::optional<pop3::Account> back;
  std::error_code ec;
  POP3_FUZZ_CHECK(d::read_auth_result(fds[0], config, back, ec));
  ::close(fds[0]);
  POP3_FUZZ_CHECK(back && back->user == sent->user && back->mailbox == sent->mailbox && back->home == sent->home &&
                  back->uid == 1000 && back->gid == 100);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  pop3::posix::PrivsepConfig config;
  config.auth_buffer = pop3::Limits{}.auth_buffer;
  config.max_pending = pop3::input_buffer_size;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_handoff(bytes, config);
  check_auth_result(bytes, config);
  pop3::fuzz::FuzzInput input{data, size};
  check_round_trips(input, config);
  return 0;
}
