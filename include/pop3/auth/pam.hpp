// pop3/auth/pam.hpp: an AuthPolicy that asks PAM, as Debian's popa3d does (Linux-PAM 1.4 or
// later; link -lpam).
//
//   pop3::PamOptions options;   // service "popa3d"
//   std::string error;
//   auto auth = pop3::PamAuth::create(options, error);
//   if (!auth) die(error);      // "PAM service name \"Popa3d\" is not a lower-case file name"
//
// One login is one PAM transaction for the service (/etc/pam.d/popa3d by default): pam_start,
// pam_authenticate and pam_acct_mgmt, both with PAM_DISALLOW_NULL_AUTHTOK, then pam_end. Only a
// PAM_SUCCESS from both logs in, so an expired account, a password the system wants changed
// (PAM_NEW_AUTHTOK_REQD), a pam_access or faillock refusal are refusals. The passwd entry then
// gives the UID and GID; the MailboxLocator finds the maildrop (the spool and the name as
// sent). UID 0 is refused.
//
// Each call is self-contained: PAM modules keep state in the process (NSS and LDAP
// connections, static buffers), which is why the daemon runs authenticate() as root in a
// short-lived child, as popa3d does, and no module state outlives one login.
//
// @par Concepts
//   AuthPolicy
#pragma once

#include <pwd.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pop3/account.hpp"
#include "pop3/auth/user_lookup.hpp"
#include "pop3/concepts.hpp"
#include "pop3/detail/secure_zero.hpp"
#include "pop3/error.hpp"
#include "pop3/log.hpp"

namespace pop3 {

struct PamOptions {
  std::string service = "popa3d";   // Debian's popa3d service name: /etc/pam.d/popa3d
  // Empty: the system's configuration (/etc/pam.d). Otherwise a directory of service files read
  // instead (Linux-PAM's pam_start_confdir), for trying a stack, or a test, without /etc/pam.d.
  std::string confdir;
};

namespace detail {

// What the conversation and the delay hook of one transaction see (PAM's appdata_ptr).
struct PamExchange {
  std::string_view user;
  std::string_view password;
  unsigned delay_usec = 0;  // the largest failure delay a module asked for (pam_fail_delay)
};

// A malloc'd NUL-terminated copy: PAM frees the responses it is given.
inline char* pam_copy(std::string_view text) noexcept {
  auto* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

// The conversation: the password for a hidden prompt, the user name for an echoed one (what
// pam_get_user asks when a module wants the name again), nothing for messages, which nobody
// reads. Any other style (a binary prompt) fails the whole exchange. The copies handed over are
// PAM's: Linux-PAM overwrites responses before freeing them (pam_vprompt, pam_get_authtok) and
// PAM_AUTHTOK at pam_end; the ones made before a failure are wiped and freed here.
inline int pam_conversation(int count, const pam_message** messages, pam_response** responses,
                            void* data) noexcept {
  if (count <= 0 || count > PAM_MAX_NUM_MSG || messages == nullptr || responses == nullptr ||
      data == nullptr) {
    return PAM_CONV_ERR;
  }
  const auto& exchange = *static_cast<const PamExchange*>(data);
  auto* replies = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  int status = PAM_SUCCESS;
  for (int i = 0; i < count && status == PAM_SUCCESS; ++i) {
    // Linux-PAM passes an array of pointers to messages.
    const pam_message* message = messages[i];
    const int style = message == nullptr ? -1 : message->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      replies[i].resp = pam_copy(style == PAM_PROMPT_ECHO_OFF ? exchange.password : exchange.user);
      if (replies[i].resp == nullptr) status = PAM_BUF_ERR;
    } else if (style != PAM_ERROR_MSG && style != PAM_TEXT_INFO) {
      status = PAM_CONV_ERR;
    }
  }
  if (status != PAM_SUCCESS) {
    for (int i = 0; i < count; ++i) {
      if (replies[i].resp == nullptr) continue;
      secure_zero(replies[i].resp, std::strlen(replies[i].resp));
      std::free(replies[i].resp);
    }
    std::free(replies);
    return status;
  }
  *responses = replies;
  return PAM_SUCCESS;
}

// PAM_FAIL_DELAY: libpam calls this at the end of pam_authenticate with the delay the modules
// asked for (pam_unix: 2 s, which libpam varies by up to 50% either way) instead of sleeping
// itself. PamAuth sleeps instead, until that long after the login started.
inline void pam_delay_hook(int, unsigned usec, void* data) noexcept {
  if (data == nullptr) return;
  auto& exchange = *static_cast<PamExchange*>(data);
  if (usec > exchange.delay_usec) exchange.delay_usec = usec;
}

// Statuses that say PAM could not do its work (configuration, modules, memory), not that it
// refused the user. PAM_MODULE_UNKNOWN: a module of the stack could not be loaded.
inline bool pam_backend_failure(int status) noexcept {
  switch (status) {
    case PAM_OPEN_ERR: case PAM_SYMBOL_ERR: case PAM_SERVICE_ERR: case PAM_SYSTEM_ERR:
    case PAM_BUF_ERR: case PAM_CONV_ERR: case PAM_AUTHINFO_UNAVAIL: case PAM_ABORT:
    case PAM_BAD_ITEM: case PAM_MODULE_UNKNOWN:
      return true;
    default:
      return false;
  }
}

// Sleeps until `deadline` (CLOCK_MONOTONIC); a signal only resumes the same absolute wait.
inline void sleep_until(const timespec& deadline) noexcept {
  for (int tries = 0; tries < 1000; ++tries) {
    if (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) != EINTR) return;
  }
}

}  // namespace detail

class PamAuth {
 public:
  // Checks the options; std::nullopt with a one-line `error` if one is unusable.
  static std::optional<PamAuth> create(PamOptions options, std::string& error) {
    // Linux-PAM strips a path from the name and lowercases it: refuse what it would change.
    const std::string& service = options.service;
    bool service_ok = detail::valid_user_name(service);
    for (const char c : service) service_ok = service_ok && !(c >= 'A' && c <= 'Z');
    if (!service_ok) {
      error = "PAM service name \"" + service + "\" is not a lower-case file name";
      return std::nullopt;
    }
    if (!options.confdir.empty() && !check_confdir(options.confdir, error)) return std::nullopt;
    PamAuth auth;
    auth.options_ = std::move(options);
    return auth;
  }

  // Where the reasons PAM gives go: a refusal by the account stack after a right password
  // (notice) and a PAM that could not work (crit). Empty: nowhere.
  void set_log(LogSink log) { log_ = std::move(log); }

  // The client's address, handed to the modules as PAM_RHOST (pam_access host rules, faillock
  // and the modules' own logs name it). Empty: not set.
  void set_remote_host(std::string host) { remote_host_ = std::move(host); }

  // An account on success. Otherwise std::nullopt and ec = errc::unknown_user (no passwd entry,
  // or PAM_USER_UNKNOWN), errc::auth_backend (PAM or the passwd database could not do its
  // work) or errc::auth_failed (any other refusal, UID 0 included).
  //
  // Timing: pam_unix hashes nothing for an unknown user (support.c, _unix_verify_password);
  // what hides the difference is the failure delay it asks for, 2 s varied by up to 50% at
  // random. That delay is taken over (PAM_FAIL_DELAY) and every refusal ends that long after
  // the call began, so a refusal lasts the same whatever the modules computed in less time
  // than that, and a refusal by pam_acct_mgmt after a right password waits as long as a wrong
  // password. A stack that asks for no delay (pam_unix nodelay) gets none, and then hash costs
  // show.
  std::optional<Account> authenticate(std::string_view user, std::string_view password, std::error_code& ec) {
    ec.clear();
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    // Names that cannot be a spool file and passwords PAM cannot carry whole (an empty one, a
    // NUL would cut it, PAM_MAX_RESP_SIZE) never reach the modules: they say nothing of any account.
    const bool user_ok = detail::valid_user_name(user);
    const bool password_ok = !password.empty() && password.size() < PAM_MAX_RESP_SIZE &&
                             password.find('\0') == std::string_view::npos;
    const std::string name(user);
    detail::PamExchange exchange{user, password};
    const int status = user_ok && password_ok ? transaction(name, exchange) : PAM_AUTH_ERR;

    std::optional<Account> account;
    std::vector<char> buffer;
    passwd pw{};
    passwd* found = nullptr;
    const int rc = user_ok ? detail::lookup_entry(name.c_str(), pw, &found, buffer, ::getpwnam_r) : 0;
    // An identity that setresuid/setresgid would read as "unchanged" is never usable.
    const bool id_ok = found != nullptr && pw.pw_uid != 0 && pw.pw_uid != static_cast<uid_t>(-1) &&
                       pw.pw_gid != static_cast<gid_t>(-1);
    if (!user_ok || (rc == 0 && found == nullptr) || status == PAM_USER_UNKNOWN) {
      ec = errc::unknown_user;
    } else if (rc != 0 || detail::pam_backend_failure(status)) {
      ec = errc::auth_backend;
    } else if (status != PAM_SUCCESS || !id_ok) {
      ec = errc::auth_failed;
    } else {
      account = Account{name, {}, pw.pw_uid, pw.pw_gid, pw.pw_dir != nullptr ? pw.pw_dir : ""};
    }

    if (!account && exchange.delay_usec > 0) {
      timespec deadline = start;
      deadline.tv_sec += static_cast<time_t>(exchange.delay_usec / 1000000);
      deadline.tv_nsec += static_cast<long>(exchange.delay_usec % 1000000) * 1000;
      if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000;
      }
      detail::sleep_until(deadline);
    }
    return account;
  }

 private:
  PamAuth() = default;

  // The service files name the modules that root loads: the directory must be as safe as
  // /etc/pam.d is. Made absolute, since the daemon may change directory to "/".
  static bool check_confdir(std::string& dir, std::string& error) {
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(dir, ec);
    if (ec) {
      error = dir + ": " + ec.message();
      return false;
    }
    struct stat st {};
    if (::stat(absolute.c_str(), &st) != 0) {
      error = dir + ": " + std::strerror(errno);
      return false;
    }
    if (!S_ISDIR(st.st_mode)) {
      error = dir + ": not a directory";
      return false;
    }
    if ((st.st_uid != 0 && st.st_uid != ::geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      error = dir + ": must be owned by root (or by the user running popa3d) and not writable by group or others";
      return false;
    }
    dir = absolute.string();
    return true;
  }

  // One PAM transaction; the status of the first step that did not succeed.
  int transaction(const std::string& user, detail::PamExchange& exchange) const {
    const pam_conv conversation{&detail::pam_conversation, &exchange};
    pam_handle_t* handle = nullptr;
    int status = ::pam_start_confdir(options_.service.c_str(), user.c_str(), &conversation,
                                     options_.confdir.empty() ? nullptr : options_.confdir.c_str(), &handle);
    if (status != PAM_SUCCESS) {
      // Linux-PAM's pam_strerror does not use the handle, which pam_start left null.
      log_line(log_, LogPriority::crit, "PAM service " + options_.service + ": " + ::pam_strerror(handle, status));
      return status;
    }
    void (*hook)(int, unsigned, void*) = &detail::pam_delay_hook;
    status = ::pam_set_item(handle, PAM_FAIL_DELAY, reinterpret_cast<const void*>(hook));
    if (status == PAM_SUCCESS && !remote_host_.empty()) status = ::pam_set_item(handle, PAM_RHOST, remote_host_.c_str());
    if (status == PAM_SUCCESS) status = ::pam_authenticate(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (status == PAM_SUCCESS) {
      status = ::pam_acct_mgmt(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
      if (status != PAM_SUCCESS && !detail::pam_backend_failure(status)) {
        log_line(log_, LogPriority::notice,
                 "PAM account check refused " + user + ": " + ::pam_strerror(handle, status));
      }
    }
    if (status == PAM_SUCCESS) {
      // A module may change PAM_USER (a name mapping); the account served is the one that
      // PAM checked, or none.
      const void* item = nullptr;
      status = ::pam_get_item(handle, PAM_USER, &item);
      if (status == PAM_SUCCESS && (item == nullptr || user != static_cast<const char*>(item))) {
        log_line(log_, LogPriority::notice, "PAM changed the user name " + user + ": refused");
        status = PAM_PERM_DENIED;
      }
    }
    if (detail::pam_backend_failure(status)) {
      log_line(log_, LogPriority::crit, "PAM service " + options_.service + ": " + ::pam_strerror(handle, status));
    }
    ::pam_end(handle, status);
    return status;
  }

  PamOptions options_;
  LogSink log_;
  std::string remote_host_;
};

static_assert(AuthPolicy<PamAuth>, "PamAuth must model pop3::AuthPolicy");

}  // namespace pop3
