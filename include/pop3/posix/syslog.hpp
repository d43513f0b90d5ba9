// pop3/posix/syslog.hpp: LogSinks for the daemon: syslog as popa3d logs, or standard error.
//
// syslog_sink() opens the log at once (LOG_NDELAY), so that processes that later chroot into an
// empty directory keep their connection to /dev/log.
//
//   pop3::LogSink log = use_stderr ? pop3::posix::stderr_sink() : pop3::posix::syslog_sink();
//   log(pop3::LogPriority::info, "Session from 192.0.2.1");
//   // syslog: "popa3d[4711]: Session from 192.0.2.1", facility daemon, priority info
#pragma once

#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "pop3/log.hpp"

namespace pop3::posix {

namespace detail {
inline int syslog_priority(LogPriority priority) noexcept {
  switch (priority) {
    case LogPriority::info: return LOG_INFO;
    case LogPriority::notice: return LOG_NOTICE;
    case LogPriority::crit: return LOG_CRIT;
  }
  return LOG_CRIT;
}
}  // namespace detail

// Identity "popa3d" with the process id, facility daemon (spec section 15).
inline LogSink syslog_sink() {
  // Time zone data is read once now: after a chroot /etc/localtime is out of reach, and syslog()
  // would stamp the lines in UTC.
  ::tzset();
  ::openlog("popa3d", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  return [](LogPriority priority, std::string_view message) {
    ::syslog(detail::syslog_priority(priority), "%.*s", static_cast<int>(message.size()), message.data());
  };
}

// "popa3d[<pid>]: <message>\n" on descriptor 2, for a service manager or a terminal. The pid is
// taken at each line (sessions are forked children), and the line goes out in one write() so
// that lines of concurrent sessions do not interleave.
inline LogSink stderr_sink() {
  return [](LogPriority, std::string_view message) {
    std::string line = "popa3d[" + std::to_string(::getpid()) + "]: ";
    line.append(message);
    line.push_back('\n');
    const int saved_errno = errno;
    std::string_view rest = line;
    while (!rest.empty()) {
      const ssize_t n = ::write(2, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    errno = saved_errno;
  };
}

}  // namespace pop3::posix
