// pop3/log.hpp: the engine's log lines, as popa3d writes them to syslog.
//
// The engine reports events through a LogSink; the process model sends them
// to syslog or stderr. An empty sink drops them.
//
//   pop3::LogSink log = [](pop3::LogPriority p, std::string_view m) { std::fprintf(stderr, "%.*s\n", int(m.size()), m.data()); };
#pragma once

#include <functional>
#include <string_view>

namespace pop3 {

// The three syslog priorities popa3d uses.
enum class LogPriority { info, notice, crit };

using LogSink = std::function<void(LogPriority, std::string_view)>;

// Sends one line to `log`, if there is one: what every caller that may hold an empty sink
// would otherwise test for itself.
inline void log_line(const LogSink& log, LogPriority priority, std::string_view message) {
  if (log) log(priority, message);
}

}  // namespace pop3
