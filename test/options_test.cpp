// Tests of src/config_file.hpp and src/options.hpp: the config-file syntax and its error lines,
// the option table (getopt, the file's keywords, scopes, --help, --show-config), and the
// command line overriding the file.
#define BOOST_TEST_MODULE options
#include <boost/test/unit_test.hpp>

#include "config_file.hpp"
#include "options.hpp"

#include <string>
#include <vector>

namespace {

std::string parse_error(std::string_view text) {
  std::vector<popa3d::ConfigEntry> entries;
  std::string error;
  BOOST_TEST(!popa3d::parse_config("f.conf", text, entries, error));
  BOOST_TEST(entries.empty());
  return error;
}

// The file's settings; with `error`, the file must be refused and `error` says why.
std::vector<popa3d::Setting> file_settings(std::string_view text, std::string* error = nullptr) {
  std::vector<popa3d::ConfigEntry> entries;
  std::vector<popa3d::Setting> settings;
  std::string why;
  const bool ok = popa3d::parse_config("f.conf", text, entries, why) &&
                  popa3d::settings_from_file("f.conf", entries, settings, why);
  if (error != nullptr) {
    BOOST_TEST(!ok);
    *error = why;
  } else {
    BOOST_TEST(ok, why);
  }
  return settings;
}

std::string file_error(std::string_view text) {
  std::string why;
  file_settings(text, &why);
  return why;
}

// getopt_long permutes argv, so the strings live here.
struct Argv {
  explicit Argv(std::vector<std::string> words) : words_(std::move(words)) {
    words_.insert(words_.begin(), "popa3d");
    for (std::string& w : words_) pointers_.push_back(w.data());
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(words_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> words_;
  std::vector<char*> pointers_;
};

std::vector<popa3d::Setting> command_line(std::vector<std::string> words, std::string* error = nullptr) {
  Argv a(std::move(words));
  std::vector<popa3d::Setting> settings;
  std::string why;
  const bool ok = popa3d::parse_command_line(a.argc(), a.argv(), settings, why);
  if (error != nullptr) {
    BOOST_TEST(!ok);
    *error = why;
  } else {
    BOOST_TEST(ok, why);
  }
  return settings;
}

std::string command_line_error(std::vector<std::string> words) {
  std::string why;
  command_line(std::move(words), &why);
  return why;
}

popa3d::Config applied(const std::vector<popa3d::Setting>& settings) {
  popa3d::Config config;
  popa3d::apply(settings, config);
  return config;
}

}  // namespace

BOOST_AUTO_TEST_CASE(config_syntax) {
  std::vector<popa3d::ConfigEntry> entries;
  std::string error;
  const std::string_view text =
      "# a comment\n"
      "\n"
      "   \t\n"
      "  # indented comment\n"
      "port 1110\n"
      "\tlisten\t 127.0.0.1  \n"
      "spool /var/spool/mail\r\n"
      "daemon yes";  // no LF at the end
  BOOST_TEST_REQUIRE(popa3d::parse_config("f.conf", text, entries, error), error);
  BOOST_TEST_REQUIRE(entries.size() == 4U);
  BOOST_TEST(entries[0].keyword == "port");
  BOOST_TEST(entries[0].value == "1110");
  BOOST_TEST(entries[0].line == 5U);
  BOOST_TEST(entries[1].keyword == "listen");
  BOOST_TEST(entries[1].value == "127.0.0.1");
  BOOST_TEST(entries[2].value == "/var/spool/mail");
  BOOST_TEST(entries[3].keyword == "daemon");
  BOOST_TEST(entries[3].line == 8U);
  BOOST_TEST(popa3d::parse_config("f.conf", "", entries, error));
  BOOST_TEST(entries.size() == 4U);
}

BOOST_AUTO_TEST_CASE(config_syntax_errors_name_file_and_line) {
  BOOST_TEST(parse_error("port 1\nport\n") == "f.conf:2: port needs a value");
  BOOST_TEST(parse_error("port   \t\n") == "f.conf:1: port needs a value");
  BOOST_TEST(parse_error("\n\nspool /var/my mail\n") ==
             "f.conf:3: spool takes one value, without blanks (no quoting, no comment after it)");
  BOOST_TEST(parse_error("port 110 # the default\n") ==
             "f.conf:1: port takes one value, without blanks (no quoting, no comment after it)");
  BOOST_TEST(parse_error("port 1\rx\n") == "f.conf:1: control character 0x0d");
  BOOST_TEST(parse_error(std::string_view("spool /a\0b\n", 11)) == "f.conf:1: control character 0x00");
  BOOST_TEST(parse_error("# \x1b[2J\n") == "f.conf:1: control character 0x1b");
  BOOST_TEST(parse_error("a b\n\x7f") == "f.conf:2: control character 0x7f");
}

BOOST_AUTO_TEST_CASE(file_keywords_are_the_long_options) {
  const popa3d::Config c = applied(file_settings(
      "daemon yes\nlisten 127.0.0.1\nlisten ::1\nport 0995\nmax-sessions 7\nmax-per-source 3\nforeground yes\n"
      "spool /srv/mail\nusers-file /etc/popa3d/users\nauth crypt\ntimeout 60\nuser pop\nchroot /run/empty\n"
      "failure-delay 0\ncapa yes\nstderr yes\n"));
  BOOST_TEST(c.daemon);
  BOOST_TEST(c.features.extensions);
  BOOST_TEST((c.listener.addresses == std::vector<std::string>{"127.0.0.1", "::1"}));  // accumulated
  BOOST_TEST(c.listener.port == "995");
  BOOST_TEST(c.listener.max_sessions == 7U);
  BOOST_TEST(c.listener.max_per_source == 3U);
  BOOST_TEST(c.listener.foreground);
  BOOST_TEST(c.mailbox_locator.spool == "/srv/mail");
  BOOST_TEST(c.users_file == "/etc/popa3d/users");
  BOOST_TEST(!c.pam);
  BOOST_TEST(c.idle_timeout.count() == 60);
  BOOST_TEST(c.privsep.user == "pop");
  BOOST_TEST(c.privsep.chroot_dir == "/run/empty");
  BOOST_TEST(c.privsep.failure_delay.count() == 0);
  BOOST_TEST(c.use_stderr);

  const popa3d::Config p = applied(file_settings("auth pam\npam-service mail\npam-confdir /etc/pam.test\n"));
  BOOST_TEST(p.pam);
  BOOST_TEST(p.pam_options.service == "mail");
  BOOST_TEST(p.pam_options.confdir == "/etc/pam.test");
  BOOST_TEST(!applied(file_settings("daemon no\nstderr no\n")).daemon);
}

BOOST_AUTO_TEST_CASE(file_errors_name_file_and_line) {
  BOOST_TEST(file_error("port 1\nprot 2\n") == "f.conf:2: unknown keyword prot");
  BOOST_TEST(file_error("Port 2\n") == "f.conf:1: unknown keyword Port");
  BOOST_TEST(file_error("--port 2\n") == "f.conf:1: unknown keyword --port");
  for (const char* keyword : {"config", "show-config", "help", "version"}) {
    BOOST_TEST(file_error(std::string(keyword) + " yes\n") ==
               "f.conf:1: " + std::string(keyword) + " is an option of the command line only");
  }
  BOOST_TEST(file_error("port 1\n\nport 2\n") == "f.conf:3: port given again (first on line 1)");
  BOOST_TEST(file_error("daemon 1\n") == "f.conf:1: daemon: not yes or no: 1");
  BOOST_TEST(file_error("stderr Yes\n") == "f.conf:1: stderr: not yes or no: Yes");
  BOOST_TEST(file_error("port 65536\n") == "f.conf:1: port: not a port number: 65536");
  BOOST_TEST(file_error("port +1\n") == "f.conf:1: port: not a port number: +1");
  BOOST_TEST(file_error("max-sessions 0\n") == "f.conf:1: max-sessions: not a number from 1 to 65535: 0");
  BOOST_TEST(file_error("timeout 2147484\n") == "f.conf:1: timeout: not a number of seconds from 1 to 2147483: 2147484");
  BOOST_TEST(file_error("failure-delay 61\n") == "f.conf:1: failure-delay: not a number of seconds from 0 to 60: 61");
  BOOST_TEST(file_error("auth ldap\n") == "f.conf:1: auth: not crypt or pam: ldap");
  BOOST_TEST(file_error("proxy-from 10.0.0.1/8\n") == "f.conf:1: proxy-from: host bits set in network \"10.0.0.1/8\"");
}

BOOST_AUTO_TEST_CASE(command_line_errors_are_one_line_as_before) {
  BOOST_TEST(command_line_error({"--port"}) == "option --port needs a value");
  BOOST_TEST(command_line_error({"--port", "x"}) == "--port: not a port number: x");
  BOOST_TEST(command_line_error({"--listen", ""}) == "--listen needs an address");
  BOOST_TEST(command_line_error({"--user", ""}) == "--user needs a name");
  BOOST_TEST(command_line_error({"--bogus"}) == "unknown option --bogus");
  BOOST_TEST(command_line_error({"-x"}) == "unknown option -x");
  BOOST_TEST(command_line_error({"--stderr=yes"}) == "option --stderr takes no value");
  BOOST_TEST(command_line_error({"--daemon=1"}) == "option --daemon takes no value");
  BOOST_TEST(command_line_error({"-D", "extra"}) == "unexpected argument: extra");
  BOOST_TEST(command_line_error({"--proxy-from", "haproxy"}) ==
             "--proxy-from: not an IPv4 or IPv6 address: \"haproxy\"");
  // The first bad option in order is the one reported.
  BOOST_TEST(command_line_error({"--timeout", "0", "--port", "x"}) ==
             "--timeout: not a number of seconds from 1 to 2147483: 0");
  const popa3d::Config c = applied(command_line({"-D", "--port=1110", "--listen", "a", "--listen", "b", "--stderr"}));
  BOOST_TEST(c.daemon);
  BOOST_TEST(c.use_stderr);
  BOOST_TEST(c.listener.port == "1110");
  BOOST_TEST(c.listener.addresses.size() == 2U);
}

BOOST_AUTO_TEST_CASE(command_line_overrides_the_file) {
  const auto file = file_settings("daemon yes\nport 1110\nlisten 192.0.2.1\nlisten 192.0.2.2\ntimeout 60\n");
  const auto merged = popa3d::merge(file, command_line({"--port", "2110", "--listen", "127.0.0.1"}));
  const popa3d::Config c = applied(merged);
  BOOST_TEST(c.daemon);
  BOOST_TEST(c.listener.port == "2110");
  // A repeatable option given on the command line replaces the file's list, not extends it.
  BOOST_TEST((c.listener.addresses == std::vector<std::string>{"127.0.0.1"}));
  BOOST_TEST(c.idle_timeout.count() == 60);
}

BOOST_AUTO_TEST_CASE(scopes_of_the_command_line_as_before) {
  auto refusal = [](std::vector<std::string> words) {
    const auto settings = command_line(std::move(words));
    std::string why;
    BOOST_TEST((popa3d::check_scopes(settings, applied(settings), "", why) == popa3d::ScopeCheck::command_line));
    return why;
  };
  BOOST_TEST(refusal({"--port", "1"}) == "--listen, --port, --max-sessions, --max-per-source, --foreground and --tls-port need -D");
  BOOST_TEST(refusal({"--foreground"}) == "--listen, --port, --max-sessions, --max-per-source, --foreground and --tls-port need -D");
  BOOST_TEST(refusal({"--pam-confdir", "/x"}) == "--pam-service and --pam-confdir need --auth pam");
  BOOST_TEST(refusal({"--auth", "pam", "--users-file", "/u"}) ==
             "--users-file needs --auth crypt: with --auth pam, PAM and the system's accounts decide");
  for (const auto& ok : std::vector<std::vector<std::string>>{
           {}, {"-D", "--port", "1"}, {"--auth", "pam", "--pam-service", "x"}, {"--users-file", "/u"}}) {
    const auto settings = command_line(ok);
    std::string why;
    BOOST_TEST((popa3d::check_scopes(settings, applied(settings), "", why) == popa3d::ScopeCheck::ok), why);
  }
}

BOOST_AUTO_TEST_CASE(scopes_across_file_and_command_line) {
  auto check = [](std::string_view file, std::vector<std::string> words, std::string& why) {
    const auto settings = popa3d::merge(file_settings(file), command_line(std::move(words)));
    return popa3d::check_scopes(settings, applied(settings), "f.conf", why);
  };
  std::string why;
  // -D in the file puts a command-line --port in scope, and the other way round.
  BOOST_TEST((check("daemon yes\n", {"--port", "1"}, why) == popa3d::ScopeCheck::ok));
  BOOST_TEST((check("port 1\n", {"-D"}, why) == popa3d::ScopeCheck::ok));
  // A flag at "no" sets nothing, so it is in every scope.
  BOOST_TEST((check("foreground no\n", {}, why) == popa3d::ScopeCheck::ok));
  BOOST_TEST((check("\nport 1\n", {}, why) == popa3d::ScopeCheck::file));
  BOOST_TEST(why == "f.conf:2: port needs daemon yes (or -D)");
  BOOST_TEST((check("pam-service mail\n", {}, why) == popa3d::ScopeCheck::file));
  BOOST_TEST(why == "f.conf:1: pam-service needs auth pam (or --auth pam)");
  BOOST_TEST((check("users-file /u\n", {"--auth", "pam"}, why) == popa3d::ScopeCheck::file));
  BOOST_TEST(why ==
             "f.conf:1: users-file needs auth crypt (or --auth crypt): with --auth pam, PAM and the system's "
             "accounts decide");
  // The command line's own refusal comes first, in its old words.
  BOOST_TEST((check("port 1\n", {"--foreground"}, why) == popa3d::ScopeCheck::command_line));
  BOOST_TEST(why == "--listen, --port, --max-sessions, --max-per-source, --foreground and --tls-port need -D");
}

BOOST_AUTO_TEST_CASE(defaults_are_the_librarys) {
  const std::string shown = popa3d::show_config(popa3d::Config{});
  BOOST_TEST(shown.find("\nspool " + pop3::MailboxLocator{}.spool + "\n") != std::string::npos);
  BOOST_TEST(shown.find("\nuser " + pop3::posix::PrivsepOptions{}.user + "\n") != std::string::npos);
  BOOST_TEST(shown.find("\ntimeout " + std::to_string(pop3::FdTransport::default_idle_timeout.count()) + "\n") !=
             std::string::npos);
  BOOST_TEST(shown.find("\n# port " + pop3::posix::ListenerOptions{}.port + " (only with daemon yes)\n") !=
             std::string::npos);
  BOOST_TEST(popa3d::usage_text().find("(default " + std::to_string(pop3::posix::ListenerOptions{}.max_sessions) +
                                       ")") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(show_config_reads_back_as_the_same_configuration) {
  for (const auto& words : std::vector<std::vector<std::string>>{
           {},
           {"-D", "--listen", "127.0.0.1", "--listen", "::1", "--port", "0", "--foreground", "--users-file", "/u"},
           {"--auth", "pam", "--pam-service", "mail", "--pam-confdir", "/p", "--timeout", "5", "--stderr"},
           {"--capa"},
           {"--proxy-from", "10.0.0.0/8,2001:db8::/32,192.0.2.1"}}) {
    const popa3d::Config first = applied(command_line(words));
    const std::string shown = popa3d::show_config(first);
    const std::string again = popa3d::show_config(applied(file_settings(shown)));
    BOOST_TEST(again == shown);
    // Every option of the file is named, as a setting or as a comment.
    for (const popa3d::Option& o : popa3d::options) {
      if (!o.in_file) continue;
      const std::string name(o.name);
      const bool named = shown.rfind(name + " ", 0) == 0 || shown.rfind("# " + name + " ", 0) == 0 ||
                         shown.find("\n" + name + " ") != std::string::npos ||
                         shown.find("\n# " + name + " ") != std::string::npos;
      BOOST_TEST(named, name);
    }
  }
}

BOOST_AUTO_TEST_CASE(help_names_every_option) {
  const std::string help = popa3d::usage_text();
  for (const popa3d::Option& o : popa3d::options) {
    const bool listed = help.find("      --" + std::string(o.name)) != std::string::npos ||
                        help.find(", --" + std::string(o.name)) != std::string::npos;
    BOOST_TEST(listed, o.name);
  }
  BOOST_TEST(help.find("{}") == std::string::npos);
  for (std::size_t at = 0, end = 0; at < help.size(); at = end + 1) {
    end = help.find('\n', at);
    BOOST_TEST(end - at <= 100U, help.substr(at, end - at));
  }
}
