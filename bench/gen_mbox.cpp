// gen_mbox: writes a benchmark mailbox from bench/mbox_generator.hpp.
//
//   gen_mbox -n 100000 -s 1 -o /tmp/big.mbox    # about 1.1 GB
//   gen_mbox -n 1000 | wc -c

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "mbox_generator.hpp"

namespace {

bool parse_u64(const char* text, std::uint64_t& value) {
  const std::string_view s{text};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return !s.empty() && ec == std::errc{} && end == s.data() + s.size();
}

int usage() {
  std::fputs("Usage: gen_mbox [-n MESSAGES] [-s SEED] [-o FILE]\n"
             "Writes a deterministic mbox of MESSAGES (default 10000) messages to FILE or stdout.\n",
             stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t messages = 10000;
  std::uint64_t seed = 1;
  const char* path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg{argv[i]};
    if (i + 1 >= argc) return usage();
    if (arg == "-n") {
      if (!parse_u64(argv[++i], messages)) return usage();
    } else if (arg == "-s") {
      if (!parse_u64(argv[++i], seed)) return usage();
    } else if (arg == "-o") {
      path = argv[++i];
    } else {
      return usage();
    }
  }

  std::FILE* out = path ? std::fopen(path, "wb") : stdout;
  if (out == nullptr) {
    std::perror(path);
    return 1;
  }
  pop3::bench::MboxGenerator gen{seed};
  std::string buffer;
  std::uint64_t bytes = 0;
  bool ok = true;
  for (std::uint64_t i = 0; i < messages && ok; ++i) {
    gen.append_message(buffer);
    if (buffer.size() >= (std::size_t{4} << 20) || i + 1 == messages) {
      ok = std::fwrite(buffer.data(), 1, buffer.size(), out) == buffer.size();
      bytes += buffer.size();
      buffer.clear();
    }
  }
  if (std::fflush(out) != 0) ok = false;
  if (path != nullptr && std::fclose(out) != 0) ok = false;
  if (!ok) {
    std::perror(path ? path : "stdout");
    return 1;
  }
  std::fprintf(stderr, "%llu messages, %llu bytes\n", static_cast<unsigned long long>(messages),
               static_cast<unsigned long long>(bytes));
  return 0;
}
