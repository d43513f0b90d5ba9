// options.hpp: popa3d's options as one table, after OpenSSH's servconf.c (keywords[],
// process_server_config_line, and dump_config for `sshd -T`).
//
// A row is one option: its long name, which is also its config-file keyword, its letter, its
// argument, the mode it belongs to (its scope), its --help text, and the functions that set
// and show its value. The getopt table, --help, the scope checks ("... need -D"), the keywords
// of the config file and --show-config are all made from the rows, so a new option is a new
// row. This file holds no default value: a Config's members are the library's option structs,
// whose member initialisers are the daemon's defaults, and three switches that start off
// (-D, --stderr, --auth pam).
//
//   std::vector<popa3d::Setting> settings;
//   std::string why;
//   if (!popa3d::parse_command_line(argc, argv, settings, why)) usage_error(why);
//   popa3d::Config config;
//   popa3d::apply(settings, config);
//   std::fputs(popa3d::show_config(config).c_str(), stdout);   // "daemon no\n# listen (...)\n..."
#pragma once

#include <getopt.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config_file.hpp"
#include "pop3/auth/pam.hpp"
#include "pop3/features.hpp"
#include "pop3/mailbox/dotlock.hpp"
#include "pop3/mailbox/locator.hpp"
#include "pop3/mailbox/mbox_journal_dir.hpp"
#include "pop3/posix/listener.hpp"
#include "pop3/posix/privsep.hpp"
#include "pop3/transport/fd.hpp"

namespace popa3d {

// The configuration file read when no --config is given; its absence is no error.
inline constexpr const char* default_config_file = "/etc/popa3d.conf";

// What the options set. Without -D: one session on descriptors 0 and 1 (inetd).
struct Config {
  bool daemon = false;
  bool use_stderr = false;  // log to stderr, not syslog
  bool pam = false;         // --auth pam; otherwise crypt(3)
  std::string users_file;   // empty: the system's accounts
  std::chrono::seconds idle_timeout = pop3::FdTransport::default_idle_timeout;  // the transport's
  pop3::posix::ListenerOptions listener;  // addresses, port, max_sessions, max_per_source, foreground,
                                          // proxy_from (both modes)
  pop3::posix::PrivsepOptions privsep;    // user, chroot_dir, failure_delay
  pop3::PamOptions pam_options;           // service, confdir
  pop3::MailboxLocator mailbox_locator;   // spool, mailbox (a template)
  pop3::DotlockOptions dotlock;           // enabled (--dotlock), helper, max_wait
  // TLS: a certificate chain and its key (both or neither), the implicit-TLS port of -D
  // (default 995, "0" = none), implicit TLS in inetd mode, and no login before TLS.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_port = "995";
  bool tls_implicit = false;
  bool require_tls = false;
  pop3::Features features;                // extensions (--capa)
  pop3::MboxJournalSettings journal;      // dir, durability
  // Command line only.
  std::string config_file;  // --config: read this file instead of /etc/popa3d.conf
  bool recover = false;     // --recover: finish interrupted UPDATEs from the journals, then exit
  bool show_config = false;
  bool version = false;
  bool help = false;
};

// Where an option means something. Outside its scope an option is refused, not ignored: it
// was given for a reason, and that reason does not hold.
enum class Scope { any, daemon, pam, crypt, inetd, tls };

struct ScopeRule {
  Scope scope;
  std::string_view command_line;  // what puts a command line in scope: "-D"
  std::string_view keyword;       // what puts a config file in scope: "daemon yes"
  std::string_view help_prefix;   // before the option's --help text
  std::string_view why;           // after the refusal
  bool (*holds)(const Config&);
};

inline constexpr std::array scope_rules{
    ScopeRule{Scope::daemon, "-D", "daemon yes", "with -D: ", "", [](const Config& c) { return c.daemon; }},
    ScopeRule{Scope::pam, "--auth pam", "auth pam", "with --auth pam: ", "", [](const Config& c) { return c.pam; }},
    ScopeRule{Scope::crypt, "--auth crypt", "auth crypt", "",
              ": with --auth pam, PAM and the system's accounts decide", [](const Config& c) { return !c.pam; }},
    ScopeRule{Scope::inetd, "inetd mode, without -D", "daemon no", "without -D: ", "",
              [](const Config& c) { return !c.daemon; }},
    ScopeRule{Scope::tls, "--tls-cert", "tls-cert", "with --tls-cert: ", "",
              [](const Config& c) { return !c.tls_cert.empty(); }},
};

inline const ScopeRule* scope_rule(Scope scope) noexcept {
  for (const ScopeRule& rule : scope_rules) {
    if (rule.scope == scope) return &rule;
  }
  return nullptr;
}

struct Option {
  std::string_view name;      // --name, and the config-file keyword
  char letter;                // -X, or 0
  std::string_view argument;  // its name in --help; empty: a flag, yes or no in a config file
  Scope scope;
  bool repeatable;  // each value counts (--listen); otherwise the last one given does
  bool in_file;     // false: command line only
  // --help text; "{}" stands for the default, which is the library's (show(Config{})).
  std::string_view help;
  // Parses `value` into `config`: "" or why not, as the words that follow the option's name
  // (": not a port number: x", " needs an address").
  std::string (*set)(Config& config, std::string_view value);
  // The effective values in config-file syntax; none: not set, which `unset` describes.
  // Null for the options of the command line only.
  std::vector<std::string> (*show)(const Config& config);
  std::string_view unset;
};

namespace detail {

// A decimal number in [min, max], nothing else (no sign, no blanks, no trailing text).
inline bool parse_number(std::string_view s, unsigned min, unsigned max, unsigned& value) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) return false;
  value = v;
  return true;
}

// A flag's value: "yes" on the command line, yes or no in a config file.
inline std::string set_flag(bool& flag, std::string_view value) {
  if (value != "yes" && value != "no") return ": not yes or no: " + std::string(value);
  flag = value == "yes";
  return {};
}

inline std::vector<std::string> show_flag(bool flag) { return {flag ? "yes" : "no"}; }

inline std::string set_file(std::string& file, std::string_view value) {
  if (value.empty()) return " needs a file name";
  file = value;
  return {};
}

inline std::vector<std::string> show_string(const std::string& value) {
  if (value.empty()) return {};
  return {value};
}

inline std::string set_bounded(unsigned& out, std::string_view value, unsigned min, unsigned max,
                               std::string_view what) {
  if (!parse_number(value, min, max, out)) return ": " + std::string(what) + ": " + std::string(value);
  return {};
}

}  // namespace detail

// Table order is --help's order and the order of the names in a scope refusal.
inline constexpr std::array options{
    Option{"daemon", 'D', "", Scope::any, false, true,
           "standalone daemon: listen and fork one process per connection",
           [](Config& c, std::string_view v) { return detail::set_flag(c.daemon, v); },
           [](const Config& c) { return detail::show_flag(c.daemon); }, ""},
    Option{"listen", 0, "ADDR", Scope::daemon, true, true, "address to listen on, repeatable (default: {})",
           [](Config& c, std::string_view v) {
             if (v.empty()) return std::string(" needs an address");
             c.listener.addresses.emplace_back(v);
             return std::string();
           },
           [](const Config& c) { return c.listener.addresses; }, "all IPv4 and IPv6"},
    Option{"port", 0, "N", Scope::daemon, false, true, "TCP port (default {})",
           [](Config& c, std::string_view v) {
             unsigned port = 0;
             if (!detail::parse_number(v, 0, 65535, port)) return ": not a port number: " + std::string(v);
             c.listener.port = std::to_string(port);
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.listener.port}; }, ""},
    Option{"max-sessions", 0, "N", Scope::daemon, false, true, "sessions at once (default {})",
           [](Config& c, std::string_view v) {
             return detail::set_bounded(c.listener.max_sessions, v, 1, 65535, "not a number from 1 to 65535");
           },
           [](const Config& c) { return std::vector<std::string>{std::to_string(c.listener.max_sessions)}; }, ""},
    Option{"max-per-source", 0, "N", Scope::daemon, false, true, "sessions at once from one address (default {})",
           [](Config& c, std::string_view v) {
             return detail::set_bounded(c.listener.max_per_source, v, 1, 65535, "not a number from 1 to 65535");
           },
           [](const Config& c) { return std::vector<std::string>{std::to_string(c.listener.max_per_source)}; }, ""},
    Option{"foreground", 0, "", Scope::daemon, false, true, "do not detach (for a service manager)",
           [](Config& c, std::string_view v) { return detail::set_flag(c.listener.foreground, v); },
           [](const Config& c) { return detail::show_flag(c.listener.foreground); }, ""},
    Option{"spool", 0, "DIR", Scope::any, false, true, "mail spool directory; mailbox = DIR/USER (default {})",
           [](Config& c, std::string_view v) {
             c.mailbox_locator.spool = v;
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.mailbox_locator.spool}; }, ""},
    Option{"mailbox", 0, "TEMPLATE", Scope::any, false, true,
           "mbox:PATH or maildir:PATH; %u user, %h home (default mbox:SPOOL/%u)",
           [](Config& c, std::string_view v) {
             if (const char* why = pop3::check_location_template(v)) return ": " + std::string(why) + ": " + std::string(v);
             c.mailbox_locator.mailbox = v;
             return std::string();
           },
           [](const Config& c) { return detail::show_string(c.mailbox_locator.mailbox); }, "mbox:SPOOL/%u"},
    Option{"dotlock", 0, "", Scope::any, false, true, "also take MAILBOX.lock to update an mbox (after fcntl)",
           [](Config& c, std::string_view v) { return detail::set_flag(c.dotlock.enabled, v); },
           [](const Config& c) { return detail::show_flag(c.dotlock.enabled); }, ""},
    Option{"users-file", 0, "FILE", Scope::crypt, false, true,
           "accounts from FILE (name:crypt-hash:uid:gid:mailbox), not the system",
           [](Config& c, std::string_view v) {
             c.users_file = v;
             return std::string();
           },
           [](const Config& c) { return detail::show_string(c.users_file); }, "the system's accounts"},
    Option{"auth", 0, "crypt|pam", Scope::any, false, true, "check passwords with crypt(3) or ask PAM (default {})",
           [](Config& c, std::string_view v) {
             if (v != "crypt" && v != "pam") return ": not crypt or pam: " + std::string(v);
             c.pam = v == "pam";
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.pam ? "pam" : "crypt"}; }, ""},
    Option{"pam-service", 0, "NAME", Scope::pam, false, true, "the PAM service (default {}, /etc/pam.d/{})",
           [](Config& c, std::string_view v) {
             c.pam_options.service = v;
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.pam_options.service}; }, ""},
    Option{"pam-confdir", 0, "DIR", Scope::pam, false, true, "read the service from DIR, not from /etc/pam.d",
           [](Config& c, std::string_view v) {
             c.pam_options.confdir = v;
             return std::string();
           },
           [](const Config& c) { return detail::show_string(c.pam_options.confdir); }, "/etc/pam.d"},
    Option{"timeout", 0, "SECONDS", Scope::any, false, true, "idle time before a session is closed (default {})",
           [](Config& c, std::string_view v) {
             // Up to what poll() can wait in milliseconds.
             unsigned seconds = 0;
             if (!detail::parse_number(v, 1, 2147483, seconds)) {
               return ": not a number of seconds from 1 to 2147483: " + std::string(v);
             }
             c.idle_timeout = std::chrono::seconds{seconds};
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{std::to_string(c.idle_timeout.count())}; },
           ""},
    Option{"user", 0, "NAME", Scope::any, false, true, "unprivileged user for the login phase (default {})",
           [](Config& c, std::string_view v) {
             if (v.empty()) return std::string(" needs a name");
             c.privsep.user = v;
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.privsep.user}; }, ""},
    Option{"chroot", 0, "DIR", Scope::any, false, true, "empty directory for the login phase (default {})",
           [](Config& c, std::string_view v) {
             c.privsep.chroot_dir = v;
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.privsep.chroot_dir}; }, ""},
    Option{"failure-delay", 0, "SECONDS", Scope::any, false, true,
           "wait before refusing a login (default {}, 0 = no wait)",
           [](Config& c, std::string_view v) {
             unsigned seconds = 0;
             if (!detail::parse_number(v, 0, 60, seconds)) {
               return ": not a number of seconds from 0 to 60: " + std::string(v);
             }
             c.privsep.failure_delay = std::chrono::seconds{seconds};
             return std::string();
           },
           [](const Config& c) {
             const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(c.privsep.failure_delay);
             return std::vector<std::string>{std::to_string(seconds.count())};
           },
           ""},
    Option{"tls-cert", 0, "FILE", Scope::any, false, true,
           "TLS certificate chain (PEM, leaf first): STLS, implies --capa",
           [](Config& c, std::string_view v) { return detail::set_file(c.tls_cert, v); },
           [](const Config& c) { return detail::show_string(c.tls_cert); }, "no TLS"},
    Option{"tls-key", 0, "FILE", Scope::tls, false, true,
           "its private key (PEM, owned by root, mode 600)",
           [](Config& c, std::string_view v) { return detail::set_file(c.tls_key, v); },
           [](const Config& c) { return detail::show_string(c.tls_key); }, "no TLS"},
    Option{"tls-port", 0, "N", Scope::daemon, false, true,
           "TCP port for implicit TLS (default {}, 0 = none)",
           [](Config& c, std::string_view v) {
             unsigned port = 0;
             if (!detail::parse_number(v, 0, 65535, port)) return ": not a port number: " + std::string(v);
             c.tls_port = std::to_string(port);
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.tls_port}; }, ""},
    Option{"tls-implicit", 0, "", Scope::inetd, false, true,
           "start with the TLS handshake (inetd's port 995 line)",
           [](Config& c, std::string_view v) { return detail::set_flag(c.tls_implicit, v); },
           [](const Config& c) { return detail::show_flag(c.tls_implicit); }, ""},
    Option{"require-tls", 0, "", Scope::tls, false, true, "refuse USER, PASS and AUTH before TLS",
           [](Config& c, std::string_view v) { return detail::set_flag(c.require_tls, v); },
           [](const Config& c) { return detail::show_flag(c.require_tls); }, ""},
    Option{"capa", 0, "", Scope::any, false, true,
           "POP3 extensions: CAPA, AUTH PLAIN, response codes, 255-byte command lines",
           [](Config& c, std::string_view v) { return detail::set_flag(c.features.extensions, v); },
           [](const Config& c) { return detail::show_flag(c.features.extensions); }, ""},
    Option{"stderr", 0, "", Scope::any, false, true, "log to standard error instead of syslog",
           [](Config& c, std::string_view v) { return detail::set_flag(c.use_stderr, v); },
           [](const Config& c) { return detail::show_flag(c.use_stderr); }, ""},
    Option{"journal-dir", 0, "DIR", Scope::any, false, true,
           "UPDATE journals, one per mailbox (default {})",
           [](Config& c, std::string_view v) {
             c.journal.dir = v;
             return std::string();
           },
           [](const Config& c) { return std::vector<std::string>{c.journal.dir}; }, ""},
    Option{"durability", 0, "full|process", Scope::any, false, true,
           "UPDATE survives a power cut (full) or kill -9 (default {})",
           [](Config& c, std::string_view v) {
             if (v != "full" && v != "process") return ": not full or process: " + std::string(v);
             c.journal.durability = v == "full" ? pop3::MboxDurability::full : pop3::MboxDurability::process;
             return std::string();
           },
           [](const Config& c) {
             return std::vector<std::string>{c.journal.durability == pop3::MboxDurability::full ? "full" : "process"};
           },
           ""},
    Option{"proxy-from", 0, "CIDR[,CIDR...]", Scope::any, false, true,
           "connections from these networks begin with a PROXY header (v1 or v2)",
           [](Config& c, std::string_view v) {
             std::string why;
             std::optional<pop3::posix::CidrList> list = pop3::posix::CidrList::parse(v, why);
             if (!list) return ": " + why;
             c.listener.proxy_from = std::move(*list);
             return std::string();
           },
           [](const Config& c) { return detail::show_string(c.listener.proxy_from.text()); }, "no proxy"},
    // `unset`: what is read without it.
    Option{"config", 0, "FILE", Scope::any, false, false, "read FILE instead of {}",
           [](Config& c, std::string_view v) {
             c.config_file = v;
             return std::string();
           },
           nullptr, default_config_file},
    Option{"recover", 0, "", Scope::any, false, false,
           "as root: finish the UPDATEs the journals say were interrupted, and exit",
           [](Config& c, std::string_view v) { return detail::set_flag(c.recover, v); }, nullptr, ""},
    Option{"show-config", 0, "", Scope::any, false, false,
           "print the effective configuration as a config file and exit",
           [](Config& c, std::string_view v) { return detail::set_flag(c.show_config, v); }, nullptr, ""},
    Option{"version", 'V', "", Scope::any, false, false, "print the version and exit",
           [](Config& c, std::string_view v) { return detail::set_flag(c.version, v); }, nullptr, ""},
    Option{"help", 'h', "", Scope::any, false, false, "print this help and exit",
           [](Config& c, std::string_view v) { return detail::set_flag(c.help, v); }, nullptr, ""},
};

inline std::optional<std::size_t> find_option(std::string_view name) noexcept {
  for (std::size_t i = 0; i < options.size(); ++i) {
    if (options[i].name == name) return i;
  }
  return std::nullopt;
}

// One option given once: on the command line (line 0) or on a line of the config file.
struct Setting {
  std::size_t option = 0;  // index in `options`
  std::string value;       // "yes" for a flag on the command line
  std::size_t line = 0;
};

// A flag given as "no" sets nothing: it is not in or out of any scope.
inline bool sets_something(const Setting& s) { return !(options[s.option].argument.empty() && s.value == "no"); }

// The command line, each value checked in order as getopt meets it. false with `why`, one line
// without the program's name: "--port: not a port number: x", "unknown option --bogus".
inline bool parse_command_line(int argc, char** argv, std::vector<Setting>& settings, std::string& why) {
  enum : int { first_long_only = 256 };
  std::vector<::option> long_options;
  std::string letters = ":";  // ':' first: a missing value is reported as ':', not '?'
  for (std::size_t i = 0; i < options.size(); ++i) {
    const Option& o = options[i];
    const int has_arg = o.argument.empty() ? no_argument : required_argument;
    const int val = o.letter != 0 ? o.letter : first_long_only + static_cast<int>(i);
    long_options.push_back({o.name.data(), has_arg, nullptr, val});  // names are literals: NUL-terminated
    if (o.letter != 0) letters += std::string(1, o.letter) + (o.argument.empty() ? "" : ":");
  }
  long_options.push_back({nullptr, 0, nullptr, 0});

  Config scratch;  // values are checked here; the caller applies them in the order that counts
  opterr = 0;      // our own one-line messages
  optind = 0;      // glibc: start over, so that a test can parse more than one command line
  for (;;) {
    const int previous = optind == 0 ? 1 : optind;
    const int c = ::getopt_long(argc, argv, letters.c_str(), long_options.data(), nullptr);
    if (c == -1) break;
    const std::string name = previous < argc ? argv[previous] : "";
    if (c == ':') {
      why = "option " + name + " needs a value";
      return false;
    }
    auto option_of = [&](int val) -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < options.size(); ++i) {
        if (val == (options[i].letter != 0 ? options[i].letter : first_long_only + static_cast<int>(i))) return i;
      }
      return std::nullopt;
    };
    const std::optional<std::size_t> index = option_of(c);
    if (!index) {
      // glibc reports "--stderr=yes" as '?' with optopt set to the option's own value.
      if (optopt != 0 && option_of(optopt) && name.find('=') != std::string::npos) {
        why = "option " + name.substr(0, name.find('=')) + " takes no value";
      } else {
        why = "unknown option " + (optopt != 0 ? "-" + std::string(1, static_cast<char>(optopt)) : name);
      }
      return false;
    }
    Setting s{*index, options[*index].argument.empty() ? std::string("yes") : std::string(optarg), 0};
    if (const std::string bad = options[s.option].set(scratch, s.value); !bad.empty()) {
      why = "--" + std::string(options[s.option].name) + bad;
      return false;
    }
    settings.push_back(std::move(s));
  }
  if (optind < argc) {
    why = "unexpected argument: " + std::string(argv[optind]);
    return false;
  }
  return true;
}

// The entries of config file `file` as settings, each checked. false with `why`, "FILE:LINE: ...".
// A keyword that is not an option, an option of the command line only, and an option given twice
// (unless repeatable) are errors, as is a bad value.
inline bool settings_from_file(std::string_view file, const std::vector<ConfigEntry>& entries,
                               std::vector<Setting>& settings, std::string& why) {
  Config scratch;
  std::vector<std::size_t> line_of(options.size(), 0);
  std::vector<Setting> found;
  for (const ConfigEntry& e : entries) {
    const std::string where = std::string(file) + ":" + std::to_string(e.line) + ": ";
    const std::optional<std::size_t> index = find_option(e.keyword);
    if (!index) {
      why = where + "unknown keyword " + e.keyword;
      return false;
    }
    const Option& o = options[*index];
    if (!o.in_file) {
      why = where + e.keyword + " is an option of the command line only";
      return false;
    }
    if (!o.repeatable && line_of[*index] != 0) {
      why = where + e.keyword + " given again (first on line " + std::to_string(line_of[*index]) + ")";
      return false;
    }
    if (const std::string bad = o.set(scratch, e.value); !bad.empty()) {
      why = where + e.keyword + bad;
      return false;
    }
    line_of[*index] = e.line;
    found.push_back({*index, e.value, e.line});
  }
  settings.insert(settings.end(), found.begin(), found.end());
  return true;
}

// The command line overrides the file option by option: an option given on the command line
// drops every line of the file that gives it (all of them, for a repeatable option).
inline std::vector<Setting> merge(const std::vector<Setting>& file, const std::vector<Setting>& command_line) {
  std::vector<bool> on_command_line(options.size(), false);
  for (const Setting& s : command_line) on_command_line[s.option] = true;
  std::vector<Setting> merged;
  for (const Setting& s : file) {
    if (!on_command_line[s.option]) merged.push_back(s);
  }
  merged.insert(merged.end(), command_line.begin(), command_line.end());
  return merged;
}

// Settings that were each checked by parse_command_line or settings_from_file.
inline void apply(const std::vector<Setting>& settings, Config& config) {
  for (const Setting& s : settings) {
    [[maybe_unused]] const std::string bad = options[s.option].set(config, s.value);
    assert(bad.empty());
  }
}

enum class ScopeCheck { ok, command_line, file };

// Every option that sets something must be in its scope in `config` (all of `settings`
// applied). A refused command-line option is reported first, as it always was: `why` names
// every option of the scope ("--listen, --port, ... need -D"); a refused line of `file`
// gives FILE:LINE.
inline ScopeCheck check_scopes(const std::vector<Setting>& settings, const Config& config, std::string_view file,
                               std::string& why) {
  for (const ScopeRule& rule : scope_rules) {
    if (rule.holds(config)) continue;
    const bool refused = std::any_of(settings.begin(), settings.end(), [&](const Setting& s) {
      return s.line == 0 && options[s.option].scope == rule.scope && sets_something(s);
    });
    if (!refused) continue;
    std::vector<std::string_view> names;
    for (const Option& o : options) {
      if (o.scope == rule.scope) names.push_back(o.name);
    }
    why.clear();
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) why += i + 1 == names.size() ? " and " : ", ";
      why += "--" + std::string(names[i]);
    }
    why += std::string(names.size() == 1 ? " needs " : " need ") + std::string(rule.command_line) + std::string(rule.why);
    return ScopeCheck::command_line;
  }
  for (const Setting& s : settings) {
    const ScopeRule* rule = scope_rule(options[s.option].scope);
    if (s.line == 0 || rule == nullptr || rule->holds(config) || !sets_something(s)) continue;
    why = std::string(file) + ":" + std::to_string(s.line) + ": " + std::string(options[s.option].name) + " needs " +
          std::string(rule->keyword) + " (or " + std::string(rule->command_line) + ")" + std::string(rule->why);
    return ScopeCheck::file;
  }
  return ScopeCheck::ok;
}

namespace detail {

// An option's --help text with "{}" replaced by its default.
inline std::string help_text(const Option& o) {
  std::string text(o.help);
  std::string value(o.unset);
  if (o.show != nullptr) {
    if (const std::vector<std::string> values = o.show(Config{}); !values.empty()) value = values.front();
  }
  for (std::size_t at = text.find("{}"); at != std::string::npos; at = text.find("{}", at + value.size())) {
    text.replace(at, 2, value);
  }
  return text;
}

// "[--port N]", "[--listen ADDR]...", "-D" for the synopsis.
inline std::string synopsis_word(const Option& o) {
  std::string word = o.letter != 0 ? std::string("-") + o.letter : "--" + std::string(o.name);
  if (!o.argument.empty()) word += " " + std::string(o.argument);
  return "[" + word + "]" + (o.repeatable ? "..." : "");
}

}  // namespace detail

// --help: the synopsis, wrapped at 80 columns, and one line per option.
inline std::string usage_text() {
  std::vector<std::string> words;
  // -D opens a bracket that holds the options of its scope.
  for (const Option& o : options) {
    if (o.name != "daemon") continue;
    std::string word = detail::synopsis_word(o);
    word.pop_back();
    words.push_back(word);
  }
  for (const Option& o : options) {
    if (o.scope == Scope::daemon) words.push_back(detail::synopsis_word(o));
  }
  words.back() += "]";
  for (const Option& o : options) {
    if (o.scope != Scope::daemon && o.name != "daemon" && o.letter == 0) words.push_back(detail::synopsis_word(o));
  }
  const std::string indent(14, ' ');
  std::string text = "Usage: popa3d";
  std::size_t column = text.size();
  for (const std::string& word : words) {
    if (column + 1 + word.size() > 80) {
      text += "\n" + indent;
      column = indent.size();
    } else {
      text += " ";
      ++column;
    }
    text += word;
    column += word.size();
  }
  text += "\n       popa3d";
  std::string_view separator = " ";
  for (const Option& o : options) {
    if (o.letter == 0 || o.in_file) continue;
    text += std::string(separator) + "-" + o.letter;
    separator = " | ";
  }
  text +=
      "\nWithout -D, serves one POP3 session on standard input and output (inetd).\n"
      "Options are read first from " + std::string(default_config_file) +
      ", when it exists; the command line overrides it.\n\n";
  for (const Option& o : options) {
    std::string left = std::string("  ") + (o.letter != 0 ? std::string("-") + o.letter + ", " : "    ") + "--" +
                       std::string(o.name);
    if (!o.argument.empty()) left += " " + std::string(o.argument);
    left += left.size() < 25 ? std::string(25 - left.size(), ' ') : "\n" + std::string(25, ' ');
    const ScopeRule* rule = scope_rule(o.scope);
    text += left + std::string(rule != nullptr ? rule->help_prefix : "") + detail::help_text(o) + "\n";
  }
  return text + "See popa3d(8).\n";
}

// --show-config: every option of the config file with its value in `config`, in table order, as
// a config file that gives the same configuration. An option without a value, or one outside its
// scope (which the file could not set), is a comment that names it.
inline std::string show_config(const Config& config) {
  std::string text;
  for (const Option& o : options) {
    if (o.show == nullptr) continue;
    const std::vector<std::string> values = o.show(config);
    const ScopeRule* rule = scope_rule(o.scope);
    const std::string name(o.name);
    if (values.empty()) {
      text += "# " + name + " (not set: " + std::string(o.unset) + ")\n";
    } else if (!o.argument.empty() && rule != nullptr && !rule->holds(config)) {
      for (const std::string& v : values) text += "# " + name + " " + v + " (only with " + std::string(rule->keyword) + ")\n";
    } else {
      for (const std::string& v : values) text += name + " " + v + "\n";
    }
  }
  return text;
}

}  // namespace popa3d
