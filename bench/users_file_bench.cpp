// users_file_bench: indexing a users file of many accounts and looking one up (issue 9),
// against the parser every login ran before: a full parse with an O(n^2) duplicate check.
//   POP3_BENCH_USERS  accounts in the file (default 100000)
//   POP3_BENCH_DIR    where the file is written and removed again (default $TMPDIR or /tmp)
//
//   ./users_file_bench
//   ./users_file_bench --benchmark_min_time=0     # one iteration each (the ctest smoke run)
#include <benchmark/benchmark.h>
#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pop3/auth/users_file.hpp"

namespace before_issue_9 {

using pop3::detail::has_control;
using pop3::detail::parse_id;
using pop3::detail::secure_zero;
using pop3::detail::usable_hash;
using pop3::detail::valid_user_name;

// The users-file parser of pop3/auth/crypt.hpp before issue 9, unchanged, kept here only as
// the baseline: every login ran it on the whole file.
// One account of a users file. The hash is wiped when the entry goes away: the file is read in
// the root process that forks the pre-auth children, which must not inherit it.
struct UsersFileEntry {
  std::string name;
  std::string hash;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string mailbox;  // absolute path, or empty for spool/name
  std::size_t line = 0;

  UsersFileEntry() = default;
  UsersFileEntry(const UsersFileEntry&) = delete;
  UsersFileEntry& operator=(const UsersFileEntry&) = delete;
  UsersFileEntry(UsersFileEntry&& other) noexcept
      : name(std::move(other.name)), hash(other.hash), uid(other.uid), gid(other.gid),
        mailbox(std::move(other.mailbox)), line(other.line) {
    secure_zero(other.hash);
  }
  UsersFileEntry& operator=(UsersFileEntry&&) = delete;
  ~UsersFileEntry() { secure_zero(hash); }
};

// The users file, one account per line: name:crypt-hash:uid:gid:mailbox. Blank lines and lines
// whose first non-blank character is '#' are ignored. On a malformed line: false and
// error = "line N: why". Locked hashes ('*', '!', empty) are accepted here and refused at login.
inline bool parse_users_file(std::string_view text, std::vector<UsersFileEntry>& entries,
                             std::string& error) {
  entries.clear();
  std::size_t number = 0;
  auto fail = [&](std::string_view why) {
    error = "line " + std::to_string(number) + ": " + std::string(why);
    entries.clear();
    return false;
  };
  while (!text.empty()) {
    ++number;
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);

    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (has_control(line)) return fail("control character in line (DOS line ends?)");

    std::array<std::string_view, 5> fields;
    std::string_view rest = line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::size_t colon = rest.find(':');
      if (i + 1 < fields.size()) {
        if (colon == std::string_view::npos) return fail("expected 5 fields name:hash:uid:gid:mailbox");
        fields[i] = rest.substr(0, colon);
        rest = rest.substr(colon + 1);
      } else {
        if (colon != std::string_view::npos) return fail("more than 5 fields (':' in the mailbox path?)");
        fields[i] = rest;
      }
    }
    UsersFileEntry entry;
    entry.line = number;
    entry.name = fields[0];
    if (!valid_user_name(fields[0])) return fail("user name is empty or contains a blank or '/'");
    entry.hash = fields[1];
    if (usable_hash(entry.hash)) {
      // Legacy (DES, MD5) and cheap hashes still work; a typo or a disabled method never could.
      const int check = ::crypt_checksalt(entry.hash.c_str());
      if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY && check != CRYPT_SALT_TOO_CHEAP) {
        return fail("password hash is not one crypt(3) supports");
      }
    }
    if (!parse_id(fields[2], entry.uid)) return fail("uid is not a number from 0 to 4294967294");
    if (!parse_id(fields[3], entry.gid)) return fail("gid is not a number from 0 to 4294967294");
    if (!fields[4].empty() && fields[4].front() != '/') return fail("mailbox is not an absolute path");
    entry.mailbox = fields[4];
    for (const UsersFileEntry& other : entries) {
      if (other.name == entry.name) {
        return fail("user name already defined on line " + std::to_string(other.line));
      }
    }
    entries.push_back(std::move(entry));
  }
  return true;
}
}  // namespace before_issue_9

namespace {

bool g_failed = false;
void fail(benchmark::State& state, const char* why) {
  g_failed = true;
  state.SkipWithError(why);
}

std::size_t users() {
  const char* text = std::getenv("POP3_BENCH_USERS");
  if (text == nullptr || *text == '\0') return 100000;
  const unsigned long v = std::strtoul(text, nullptr, 10);
  return v == 0 ? 100000 : v;
}

// N accounts in shuffled name order (the index sorts them), each with its own SHA-512 hash
// text of the same method and cost (only the final part differs, as crypt_checksalt sees it).
const std::string& users_text() {
  static const std::string text = [] {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    crypt_data data{};
    const std::string hash =
        ::crypt_rn("pw", ::crypt_gensalt_rn("$6$", 0, nullptr, 0, salt, sizeof salt), &data, sizeof data);
    const std::size_t n = users();
    std::string out;
    out.reserve(n * (hash.size() + 32));
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t id = (i * 7919) % n;  // 7919 is prime: a permutation when n is not a multiple
      out += "user" + std::to_string(id) + ":" + hash + ":" + std::to_string(10000 + i) + ":100:\n";
    }
    return out;
  }();
  return text;
}

void BM_users_file_index(benchmark::State& state) {
  const std::string& text = users_text();
  for (auto _ : state) {
    pop3::detail::UsersIndex index;
    pop3::detail::index_users_file(text, index);
    if (!index.error.empty() || index.slots.size() != users()) fail(state, "index: wrong result");
    benchmark::DoNotOptimize(index.slots.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * users()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_users_file_index)->Unit(benchmark::kMillisecond);

void BM_users_file_parse_before_issue_9(benchmark::State& state) {
  const std::string& text = users_text();
  for (auto _ : state) {
    std::vector<before_issue_9::UsersFileEntry> entries;
    std::string error;
    if (!before_issue_9::parse_users_file(text, entries, error) || entries.size() != users()) {
      fail(state, "old parser: wrong result");
    }
    benchmark::DoNotOptimize(entries.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * users()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_users_file_parse_before_issue_9)->Unit(benchmark::kMillisecond);

// One login's lookup on the indexed file: open, fstat, pread of the one line, parse.
void BM_users_file_find(benchmark::State& state) {
  const char* dir = std::getenv("POP3_BENCH_DIR");
  if (dir == nullptr || *dir == '\0') dir = std::getenv("TMPDIR");
  const std::filesystem::path path =
      std::filesystem::path(dir != nullptr && *dir != '\0' ? dir : "/tmp") /
      ("users_file_bench." + std::to_string(::getpid()));
  const std::string& text = users_text();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    if (fd >= 0) ::close(fd);
    fail(state, "cannot write the users file");
    return;
  }
  ::close(fd);
  std::string error;
  auto file = pop3::UsersFile::open(path.string(), error);
  if (!file) {
    fail(state, "cannot index the users file");
  } else {
    const std::string name = "user" + std::to_string(users() / 2);
    for (auto _ : state) {
      pop3::UsersFileAccount account;
      if (file->find(name, account) || !account.found) fail(state, "find: wrong result");
      benchmark::DoNotOptimize(account.uid);
    }
  }
  std::filesystem::remove(path);
}
BENCHMARK(BM_users_file_find)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
