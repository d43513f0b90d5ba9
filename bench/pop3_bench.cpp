// pop3_bench: Google Benchmark suites for the hot paths of issue 3.
//
// All benchmarks run over one generated mailbox (bench/mbox_generator.hpp), so their
// throughputs compare directly: BM_lf_count_floor is the floor BM_scan is measured against
// (issue 3: at least 75%), BM_file_{mmap,pread}_floor the floors of a session that must get
// the bytes from the file, BM_retr_memcpy_floor the floor of BM_retr_encode, and
// BM_tls_write_floor (SSL_write of the same encoded bytes) the floor of BM_tls_retr_write.
// BM_pread_copy reads the file into a page-aligned and into a misaligned buffer (issue 12:
// a 4x gap on an AMD EPYC); the mailbox benchmarks run once per byte source (mbox_source.hpp).
//   POP3_BENCH_MESSAGES  messages in the mailbox (default 10000; 100000 is about 1.1 GB)
//   POP3_BENCH_SEED      generator seed (default 1)
//   POP3_BENCH_DIR       where mailbox files are written and removed again (default $TMPDIR or /tmp)
//   POP3_BENCH_MAILDIR_MESSAGES  files in the maildir of BM_maildir_* (default 100000)
//
//   POP3_BENCH_MESSAGES=100000 ./pop3_bench --benchmark_filter='scan|floor'
//   ./pop3_bench --benchmark_min_time=0     # one iteration each (the ctest smoke run)
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "mbox_generator.hpp"
#include "pop3/detail/aligned_buffer.hpp"
#include "pop3/digest/md5.hpp"
#include "pop3/mailbox/maildir.hpp"
#include "pop3/mailbox/mbox.hpp"
#include "pop3/mailbox/mbox_scan.hpp"
#include "pop3/mailbox/mbox_separator.hpp"
#include "pop3/protocol/reply.hpp"
#include "pop3/server.hpp"
#include "pop3/transport/fd.hpp"
#include "pop3/transport/tls.hpp"
#include "pop3/transport/tls_context.hpp"
#include "support/tls_fixture.hpp"

namespace {

using Table = std::vector<pop3::MboxMessage<pop3::Md5>>;

// A benchmark that found a wrong result fails the whole run (exit status 1), so the ctest
// smoke run catches it; SkipWithError alone leaves the exit status 0.
bool g_failed = false;
void fail(benchmark::State& state, const char* why) {
  g_failed = true;
  state.SkipWithError(why);
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (*end != '\0' || v == 0) {
    std::fprintf(stderr, "pop3_bench: ignoring %s=%s (not a positive number)\n", name, text);
    return fallback;
  }
  return v;
}

std::uint64_t messages() {
  static const std::uint64_t n = env_number("POP3_BENCH_MESSAGES", 10000);
  return n;
}

// The generated mailbox in memory, made once.
const std::string& mailbox_bytes() {
  static const std::string bytes = pop3::bench::generate_mbox(messages(), env_number("POP3_BENCH_SEED", 1));
  return bytes;
}

// Its message table, made once and checked: one entry per generated message.
const Table& mailbox_table() {
  static const Table table = [] {
    Table t;
    const auto status = pop3::scan_mbox<pop3::Md5>(mailbox_bytes(), t, pop3::Limits{}.max_messages);
    if (status != pop3::ScanStatus::ok || t.size() != messages()) {
      std::fprintf(stderr, "pop3_bench: the scan found %zu messages, the generator wrote %llu\n", t.size(),
                   static_cast<unsigned long long>(messages()));
      std::exit(1);
    }
    return t;
  }();
  return table;
}

// A directory of its own for the mailbox files, removed when the program ends.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("POP3_BENCH_DIR");
    if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
    if (base == nullptr || *base == '\0') base = "/tmp";
    std::string pattern = std::string(base) + "/pop3-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror(pattern.c_str());
      std::exit(1);
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

const ScratchDir& scratch() {
  static const ScratchDir dir;
  return dir;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Flushes the file to disk and dates it an hour back: popa3d (and MboxMailbox) hold the
// lock one more second when the mtime is the current second, and a later fsync() would
// otherwise also pay for writing the copy.
bool settle_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  struct timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 3600;
  times[1] = times[0];
  const bool ok = fsync(fd) == 0 && futimens(fd, times) == 0;
  return ::close(fd) == 0 && ok;
}

// The generated mailbox as a file, written once, one message per write() as a delivery agent
// appends mail. How a file was written matters for mmap: the kernel caches a file written in
// large writes in large folios, which map with far fewer page faults than the small folios
// that appended mail gets, and would flatter the session benchmarks.
const std::string& mailbox_file() {
  static const std::string path = [] {
    std::string p = scratch().file("master.mbox");
    const std::string& bytes = mailbox_bytes();
    const Table& table = mailbox_table();
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    for (std::size_t i = 0; ok && i < table.size(); ++i) {
      const std::uint64_t from = table[i].from_offset;
      const std::uint64_t to = i + 1 < table.size() ? table[i + 1].from_offset : bytes.size();
      ok = write_all(fd, {bytes.data() + from, static_cast<std::size_t>(to - from)});
    }
    if (fd < 0 || ::close(fd) != 0 || !ok || !settle_file(p)) {
      std::perror(p.c_str());
      std::exit(1);
    }
    return p;
  }();
  return path;
}

// --- the floor: counting the LFs of the same bytes ------------------------------------

std::size_t count_lf(const char* p, const char* const end) {
  std::size_t n = 0;
  while (const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
    ++n;
    p = static_cast<const char*>(lf) + 1;
  }
  return n;
}


void BM_lf_count_floor_std_count(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  for (auto _ : state) {
    auto n = std::count(bytes.begin(), bytes.end(), '\n');
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages()));
}
BENCHMARK(BM_lf_count_floor_std_count)->Name("BM_lf_count_floor/std_count")->Unit(benchmark::kMillisecond);

void BM_lf_count_floor_memchr(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  for (auto _ : state) {
    auto n = count_lf(bytes.data(), bytes.data() + bytes.size());
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages()));
}
BENCHMARK(BM_lf_count_floor_memchr)->Name("BM_lf_count_floor/memchr")->Unit(benchmark::kMillisecond);

// The hot loop of the scan alone, in each version this CPU runs (mailbox/mbox_separator.hpp),
// across the whole file: every "\n\nFrom " found and every LF counted, against the floors above.
void BM_find_separator(benchmark::State& state, pop3::detail::SeparatorFinder find) {
  const std::string& bytes = mailbox_bytes();
  const char* const end = bytes.data() + bytes.size();
  const auto all_lfs = static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  for (auto _ : state) {
    std::uint64_t lfs = 0;
    std::uint64_t separators = 0;
    for (const char* p = bytes.data();;) {
      const char* const k = find(p, end, lfs);
      if (k == end) break;
      ++separators;
      p = k + 2;   // the LF at k + 1 is the blank line's, skipped with it
    }
    if (lfs + separators != all_lfs || separators + 1 != messages()) {
      fail(state, "find_separator missed LFs or separators");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}

// The same LF count over the mailbox file, as a session must get at it: through a fresh
// mapping of the whole file, or with pread() into one reused page-aligned 256 KiB buffer (as
// PreadSource reads; popa3d reads 64 KiB blocks). The gap between the two is what mapping
// pages costs against copying them (DESIGN.md, "pread or mmap").
void BM_file_mmap_floor(benchmark::State& state) {
  const std::string& path = mailbox_file();
  const std::size_t size = mailbox_bytes().size();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  for (auto _ : state) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      fail(state, "mmap failed");
      break;
    }
    const char* p = static_cast<const char*>(map);
    auto n = count_lf(p, p + size);
    benchmark::DoNotOptimize(n);
    munmap(map, size);
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_file_mmap_floor)->Unit(benchmark::kMillisecond);

void BM_file_pread_floor(benchmark::State& state) {
  const std::string& path = mailbox_file();
  const std::size_t size = mailbox_bytes().size();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const pop3::detail::AlignedBuffer buffer(pop3::detail::mbox_block);
  for (auto _ : state) {
    std::size_t n = 0;
    for (std::uint64_t off = 0; off < size;) {
      const ssize_t got = pread(fd, buffer.body(), buffer.size(), static_cast<off_t>(off));
      if (got <= 0) {
        fail(state, "pread failed");
        break;
      }
      n += count_lf(buffer.body(), buffer.body() + got);
      off += static_cast<std::uint64_t>(got);
    }
    benchmark::DoNotOptimize(n);
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_file_pread_floor)->Unit(benchmark::kMillisecond);

// The kernel's copy alone: 256 KiB pread()s of the whole file into a buffer `range(0)` bytes
// past a page boundary. 0 is how PreadSource reads; 16 is where new char[] put the buffer
// before issue 12, which on an AMD EPYC ran at a quarter of the speed.
void BM_pread_copy(benchmark::State& state) {
  const std::string& path = mailbox_file();
  const std::size_t size = mailbox_bytes().size();
  const auto skew = static_cast<std::size_t>(state.range(0));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const pop3::detail::AlignedBuffer buffer(pop3::detail::mbox_block + skew);
  for (auto _ : state) {
    for (std::uint64_t off = 0; off < size;) {
      const ssize_t got = pread(fd, buffer.body() + skew, pop3::detail::mbox_block, static_cast<off_t>(off));
      if (got <= 0) {
        fail(state, "pread failed");
        break;
      }
      off += static_cast<std::uint64_t>(got);
    }
    benchmark::ClobberMemory();
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_pread_copy)->ArgName("skew")->Arg(0)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond);

// --- the login scan ---------------------------------------------------------------------

void BM_scan(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  Table table;
  for (auto _ : state) {
    const auto status = pop3::scan_mbox<pop3::Md5>(bytes, table, pop3::Limits{}.max_messages);
    benchmark::DoNotOptimize(table.data());
    if (status != pop3::ScanStatus::ok || table.size() != messages()) {
      fail(state, "scan_mbox did not find the generated messages");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages()));
}
BENCHMARK(BM_scan)->Unit(benchmark::kMillisecond);

// open() of the mailbox file: the scan as a login runs it, through a byte source (two
// threads from 32 MiB on, where there are two cores).
template <class Source>
void BM_open(benchmark::State& state) {
  const std::string& path = mailbox_file();
  pop3::MboxMailbox<pop3::Md5, Source> box;
  for (auto _ : state) {
    std::error_code ec;
    box.open(path, ec);
    if (ec || box.count() != messages()) {
      fail(state, "open() did not find the generated messages");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * mailbox_bytes().size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages()));
}
BENCHMARK_TEMPLATE(BM_open, pop3::PreadSource)->Name("BM_open/pread")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK_TEMPLATE(BM_open, pop3::MmapSource)->Name("BM_open/mmap")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

// --- RETR encoding ----------------------------------------------------------------------

// The encoded (wire) size of every message with its "+OK" and ".", as the session sends it;
// `flush` gets each block of at least 256 KiB (and the last one) as the engine hands it over.
template <class Flush>
std::uint64_t encode_all(const std::string& bytes, const Table& table, pop3::OutputBuffer& out, Flush flush) {
  std::uint64_t sent = 0;
  for (const auto& m : table) {
    pop3::append_ok(out);
    pop3::MessageEncoder encoder;
    // In chunks of the mailbox's data() size, flushed at the engine's threshold.
    for (std::uint64_t off = 0; off < m.data_length;) {
      const auto n = std::min<std::uint64_t>(pop3::MboxMailbox<>::chunk_bytes, m.data_length - off);
      encoder.encode({bytes.data() + m.data_offset + off, static_cast<std::size_t>(n)}, out);
      off += n;
      if (out.size() >= 256 * 1024) {
        sent += out.size();
        flush(out.view());
        out.clear();
      }
    }
    encoder.finish(out);
    pop3::append(out, pop3::end_of_multiline);
  }
  sent += out.size();
  flush(out.view());
  out.clear();
  return sent;
}

std::uint64_t encode_all(const std::string& bytes, const Table& table, pop3::OutputBuffer& out) {
  return encode_all(bytes, table, out, [](std::string_view) {});
}

void BM_retr_encode(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  const Table& table = mailbox_table();
  std::uint64_t data = 0;
  for (const auto& m : table) data += m.data_length;
  pop3::OutputBuffer out;
  std::uint64_t sent = 0;
  for (auto _ : state) {
    sent = encode_all(bytes, table, out);
    benchmark::DoNotOptimize(sent);
  }
  // At least the CRLF size, plus "+OK\r\n" and ".\r\n" per message, plus stuffed dots.
  std::uint64_t floor = 0;
  for (const auto& m : table) floor += m.size + 8;
  if (sent < floor) fail(state, "the encoder wrote fewer bytes than the messages' sizes");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * table.size()));
  state.counters["wire_bytes"] = static_cast<double>(sent);
}
BENCHMARK(BM_retr_encode)->Unit(benchmark::kMillisecond);

// What BM_retr_encode is to be compared with: copying the same bytes in the same blocks.
void BM_retr_memcpy_floor(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  const Table& table = mailbox_table();
  std::uint64_t data = 0;
  for (const auto& m : table) data += m.data_length;
  pop3::OutputBuffer out;
  for (auto _ : state) {
    for (const auto& m : table) {
      for (std::uint64_t off = 0; off < m.data_length;) {
        const auto n = std::min<std::uint64_t>(pop3::MboxMailbox<>::chunk_bytes, m.data_length - off);
        out.append({bytes.data() + m.data_offset + off, static_cast<std::size_t>(n)});
        off += n;
        if (out.size() >= 256 * 1024) out.clear();
      }
    }
    benchmark::DoNotOptimize(out.view().data());
    out.clear();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * table.size()));
}
BENCHMARK(BM_retr_memcpy_floor)->Unit(benchmark::kMillisecond);

// --- RETR over TLS ------------------------------------------------------------------------

// A TLS connection over a socket pair: the server end is the benchmark's, the client a
// thread that does the handshake and then reads and drops the ciphertext without decrypting
// it, so that both TLS benchmarks pay the same for the other end. A certificate (ECDSA
// P-256) is made at run time.
class TlsBenchLink {
 public:
  TlsBenchLink() {
    const pop3::test::TestCertificate cert = pop3::test::make_certificate(scratch().file(""), "bench");
    std::string error;
    auto made = pop3::make_tls_context({cert.cert_file, cert.key_file}, error);
    if (!made) {
      std::fprintf(stderr, "pop3_bench: %s\n", error.c_str());
      std::exit(1);
    }
    context_ = std::move(*made);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::exit(1);
    server_fd_ = fds[0];
    client_fd_ = fds[1];
    client_ = std::thread([fd = client_fd_] {
      pop3::test::TlsClient client{fd};
      if (!client.handshake()) return;
      std::vector<char> buf(1 << 20);
      while (::read(fd, buf.data(), buf.size()) > 0) {
      }
    });
  }
  ~TlsBenchLink() {
    ::shutdown(server_fd_, SHUT_RDWR);
    client_.join();
    ::close(server_fd_);
    ::close(client_fd_);
  }
  TlsBenchLink(const TlsBenchLink&) = delete;
  TlsBenchLink& operator=(const TlsBenchLink&) = delete;
  [[nodiscard]] int server_fd() const noexcept { return server_fd_; }
  [[nodiscard]] const pop3::TlsContext& context() const noexcept { return context_; }

 private:
  pop3::TlsContext context_;
  int server_fd_ = -1;
  int client_fd_ = -1;
  std::thread client_;
};

// The session's write path over TLS: encoding every message as BM_retr_encode does, each
// block handed to OpenSslTransport<FdTransport>::write (encrypt, send).
void BM_tls_retr_write(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  const Table& table = mailbox_table();
  TlsBenchLink link;
  pop3::OpenSslTransport io{pop3::FdTransport{link.server_fd(), link.server_fd(), std::chrono::seconds{60}},
                            link.context()};
  std::error_code ec;
  io.start_tls({}, ec);
  if (ec) return fail(state, "TLS handshake failed");
  pop3::OutputBuffer out;
  std::uint64_t sent = 0;
  for (auto _ : state) {
    sent = encode_all(bytes, table, out, [&](std::string_view block) {
      if (!ec) io.write(std::span<const char>(block.data(), block.size()), ec);
    });
  }
  if (ec) return fail(state, "TLS write failed");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sent));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * table.size()));
}
BENCHMARK(BM_tls_retr_write)->Unit(benchmark::kMillisecond)->UseRealTime();

// What BM_tls_retr_write is to be compared with: SSL_write of the same encoded bytes, in the
// same blocks, on an SSL bound to the socket itself, with nothing else to do.
void BM_tls_write_floor(benchmark::State& state) {
  const Table& table = mailbox_table();
  std::vector<std::string> blocks;
  pop3::OutputBuffer out;
  const std::uint64_t sent = encode_all(mailbox_bytes(), table, out, [&](std::string_view b) { blocks.emplace_back(b); });
  TlsBenchLink link;
  SSL* ssl = SSL_new(link.context().get());
  SSL_set_fd(ssl, link.server_fd());
  if (SSL_accept(ssl) != 1) {
    SSL_free(ssl);
    return fail(state, "TLS handshake failed");
  }
  bool ok = true;
  for (auto _ : state) {
    for (const std::string& block : blocks) {
      std::size_t written = 0;
      ok = ok && SSL_write_ex(ssl, block.data(), block.size(), &written) == 1;
    }
  }
  SSL_free(ssl);
  if (!ok) return fail(state, "SSL_write failed");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * sent));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * table.size()));
}
BENCHMARK(BM_tls_write_floor)->Unit(benchmark::kMillisecond)->UseRealTime();

// --- MD5 ---------------------------------------------------------------------------------

// Argument: bytes per update()/final() round. The scan hashes a few hundred bytes of
// headers per message, so the small sizes are the ones that matter for UIDL.
void BM_md5(benchmark::State& state) {
  const std::string& bytes = mailbox_bytes();
  const auto n = static_cast<std::size_t>(state.range(0));
  // Mail text to hash: the mailbox's own bytes, repeated if it is smaller than the block.
  std::string data;
  while (data.size() < 2 * n) data.append(bytes, 0, std::min(bytes.size(), 2 * n - data.size()));
  pop3::Md5 md5;
  std::size_t at = 0;
  for (auto _ : state) {
    md5.update({data.data() + at, n});
    auto digest = md5.final();
    benchmark::DoNotOptimize(digest);
    at = (at + 61) % n;   // a different, unaligned slice each time
  }
  // RFC 1321 test suite, appendix A.5: MD5("abc").
  md5.update("abc");
  const auto abc = md5.final();
  static constexpr std::uint8_t expected[] = {0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0,
                                              0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72};
  if (!std::equal(abc.begin(), abc.end(), std::begin(expected))) fail(state, "MD5(\"abc\") is wrong");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_md5)->Arg(64)->Arg(512)->Arg(1 << 20);

// --- UPDATE compaction --------------------------------------------------------------------

// DELE all but the last 10 messages, or DELE 1 only (every byte after it moves), then commit.
// Only commit() is timed; the file copy, its fsync and open() are not.
void BM_update_compaction(benchmark::State& state, bool dele_one) {
  const Table& table = mailbox_table();
  const std::string& master = mailbox_file();
  const std::string work = scratch().file("update.mbox");
  const std::uint64_t size = mailbox_bytes().size();
  const std::size_t n = table.size();
  const std::size_t keep_from = dele_one ? 1 : (n > 10 ? n - 10 : 0);
  const std::uint64_t removed = dele_one ? table[1 % n].from_offset : table[keep_from].from_offset;
  const std::uint64_t expected_size = dele_one && n == 1 ? 0 : size - removed;
  for (auto _ : state) {
    std::error_code ec;
    std::filesystem::copy_file(master, work, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec || !settle_file(work)) {
      fail(state, "cannot copy the mailbox");
      break;
    }
    pop3::MboxMailbox<> box;
    box.open(work, ec);
    if (ec || box.count() != n) {
      fail(state, "cannot open the mailbox copy");
      break;
    }
    pop3::DeletionSet deletions{box.count()};
    if (dele_one) {
      deletions.mark(pop3::MsgIndex{0});
    } else {
      for (std::size_t i = 0; i < keep_from; ++i) deletions.mark(pop3::MsgIndex{static_cast<std::uint32_t>(i)});
    }
    const auto start = std::chrono::steady_clock::now();
    box.commit(deletions, ec);
    const auto stop = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    std::error_code size_ec;
    if (ec || std::filesystem::file_size(work, size_ec) != expected_size) {
      fail(state, "commit failed or left the wrong size");
      break;
    }
  }
  // Bytes moved down the file.
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (size - removed)));
  std::error_code ec;
  std::filesystem::remove(work, ec);
}
BENCHMARK_CAPTURE(BM_update_compaction, dele_all_but_10, false)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_update_compaction, dele_1, true)->UseManualTime()->Unit(benchmark::kMillisecond);

// --- whole sessions through the engine ----------------------------------------------------

// Client bytes from a string; what the server writes is counted, and kept up to a bound.
class MemoryTransport {
 public:
  explicit MemoryTransport(std::string_view input) noexcept : input_(input) {}
  std::size_t read_some(std::span<char> buffer, std::error_code& ec) {
    if (input_.empty()) {
      ec = pop3::errc::eof;
      return 0;
    }
    const std::size_t n = std::min(buffer.size(), input_.size());
    std::memcpy(buffer.data(), input_.data(), n);
    input_.remove_prefix(n);
    ec.clear();
    return n;
  }
  void write(std::span<const char> bytes, std::error_code& ec) {
    ec.clear();
    written_ += bytes.size();
    const std::size_t keep = std::min(bytes.size(), kept_limit - std::min(kept_limit, kept_.size()));
    kept_.append(bytes.data(), keep);
    tail_.append(bytes.data() + bytes.size() - std::min<std::size_t>(bytes.size(), 16), std::min<std::size_t>(bytes.size(), 16));
    if (tail_.size() > 16) tail_.erase(0, tail_.size() - 16);
  }
  [[nodiscard]] std::uint64_t written() const noexcept { return written_; }
  [[nodiscard]] const std::string& kept() const noexcept { return kept_; }
  [[nodiscard]] std::string_view tail() const noexcept { return tail_; }

 private:
  static constexpr std::size_t kept_limit = std::size_t{16} << 20;
  std::string_view input_;
  std::string kept_;
  std::string tail_;
  std::uint64_t written_ = 0;
};

// Every login succeeds, into one mailbox file. The identity is never used in one process, but
// must not be root's, which the engine refuses.
struct FixedAuth {
  std::string maildrop;
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view, std::error_code& ec) {
    ec.clear();
    return pop3::Account{std::string(user), maildrop, 1000, 1000};
  }
};

template <class Source>
using BenchServer = pop3::Pop3Server<MemoryTransport, FixedAuth, pop3::MboxMailbox<pop3::Md5, Source>>;

// Runs one session; false (and the benchmark fails) unless it ended after QUIT with "+OK".
template <class Source = pop3::MmapSource>
bool run_session(benchmark::State& state, const std::string& maildrop, std::string_view script,
                 MemoryTransport& result) {
  BenchServer<Source> server{MemoryTransport{script}, FixedAuth{maildrop}, pop3::MboxMailbox<pop3::Md5, Source>{}};
  const std::error_code ec = server.serve();
  result = std::move(server.transport());
  if (ec || !result.tail().ends_with("+OK\r\n")) {
    fail(state, "the session did not end with +OK after QUIT");
    return false;
  }
  return true;
}

// Login, STAT, UIDL, QUIT on the mailbox file: the scan at login plus the UIDL listing.
template <class Source>
void BM_session(benchmark::State& state) {
  const std::string& path = mailbox_file();
  const std::string_view script = "USER bench\r\nPASS secret\r\nSTAT\r\nUIDL\r\nQUIT\r\n";
  MemoryTransport result{{}};
  for (auto _ : state) {
    if (!run_session<Source>(state, path, script, result)) break;
  }
  const std::string stat = "+OK " + std::to_string(messages()) + " ";
  if (result.kept().find(stat) == std::string::npos) fail(state, "STAT did not count the generated messages");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * mailbox_bytes().size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages()));
}
BENCHMARK_TEMPLATE(BM_session, pop3::PreadSource)->Name("BM_session/pread")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK_TEMPLATE(BM_session, pop3::MmapSource)->Name("BM_session/mmap")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

// The same on a missing (empty) mailbox: the engine's fixed cost per session.
void BM_session_empty(benchmark::State& state) {
  const std::string path = scratch().file("missing.mbox");
  const std::string_view script = "USER bench\r\nPASS secret\r\nSTAT\r\nUIDL\r\nQUIT\r\n";
  MemoryTransport result{{}};
  for (auto _ : state) {
    if (!run_session(state, path, script, result)) break;
  }
  if (result.kept() != "+OK\r\n+OK\r\n+OK\r\n+OK 0 0\r\n+OK\r\n.\r\n+OK\r\n") fail(state, "unexpected replies");
}
BENCHMARK(BM_session_empty);

// RETR of every message, then QUIT: the streaming path from the file to the transport.
template <class Source>
void BM_session_retr_all(benchmark::State& state) {
  const std::string& path = mailbox_file();
  std::string script = "USER bench\r\nPASS secret\r\n";
  for (std::uint64_t i = 1; i <= messages(); ++i) script += "RETR " + std::to_string(i) + "\r\n";
  script += "QUIT\r\n";
  pop3::OutputBuffer scratch_out;
  const std::uint64_t expected = encode_all(mailbox_bytes(), mailbox_table(), scratch_out) + 4 * 5;
  MemoryTransport result{{}};
  for (auto _ : state) {
    if (!run_session<Source>(state, path, script, result)) break;
  }
  if (result.written() != expected) fail(state, "RETR output differs in size from the encoder's");
  std::uint64_t data = 0;
  for (const auto& m : mailbox_table()) data += m.data_length;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages()));
}
BENCHMARK_TEMPLATE(BM_session_retr_all, pop3::PreadSource)->Name("BM_session_retr_all/pread")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK_TEMPLATE(BM_session_retr_all, pop3::MmapSource)->Name("BM_session_retr_all/mmap")->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

// --- Maildir: login on a maildir of many small files ----------------------------------

std::uint64_t maildir_messages() {
  static const std::uint64_t n = env_number("POP3_BENCH_MAILDIR_MESSAGES", 100000);
  return n;
}

// A maildir of maildir_messages() files in cur/, named as Dovecot names them (with ,W=) if
// `wire_sizes`, else as Courier does (,S= only, so sizes are counted from the files).
const std::string& maildir(bool wire_sizes) {
  static std::string paths[2];
  std::string& path = paths[wire_sizes];
  if (!path.empty()) return path;
  path = scratch().file(wire_sizes ? "Maildir-dovecot" : "Maildir-courier");
  bool ok = ::mkdir(path.c_str(), 0700) == 0;
  for (const char* sub : {"/cur", "/new", "/tmp"}) ok = ok && ::mkdir((path + sub).c_str(), 0700) == 0;
  const int cur = ok ? ::open((path + "/cur").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  for (std::uint64_t k = 0; ok && k < maildir_messages(); ++k) {
    std::string text = "Message-ID: <" + std::to_string(k) + "@bench>\nSubject: maildir bench\n\n";
    for (std::uint64_t line = 0; line < 4 + k % 8; ++line) text += "line " + std::to_string(line) + " of the body\n";
    std::uint64_t lines = 0;
    for (const char c : text) lines += c == '\n';
    std::string name = std::to_string(1700000000 + k) + ".M" + std::to_string(k) + "P4242.bench,S=" +
                       std::to_string(text.size());
    if (wire_sizes) name += ",W=" + std::to_string(text.size() + lines);
    name += ":2,S";
    const int fd = ::openat(cur, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ok = fd >= 0 && write_all(fd, text) && ::close(fd) == 0;
  }
  if (cur >= 0) ::close(cur);
  if (!ok) {
    std::perror(path.c_str());
    std::exit(1);
  }
  return path;
}

// The floor of issue 14: what `ls -f` does (one listing) plus one stat per file.
void BM_maildir_ls_stat_floor(benchmark::State& state) {
  const std::string cur = maildir(true) + "/cur";
  std::uint64_t files = 0;
  for (auto _ : state) {
    files = 0;
    DIR* dir = ::opendir(cur.c_str());
    if (dir == nullptr) return fail(state, "opendir");
    while (const dirent* d = ::readdir(dir)) {
      struct stat st {};
      if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) ++files;
    }
    ::closedir(dir);
    benchmark::DoNotOptimize(files);
  }
  if (files != maildir_messages()) fail(state, "the floor counted another number of files");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * files));
}
BENCHMARK(BM_maildir_ls_stat_floor)->Unit(benchmark::kMillisecond);

struct MaildirAuth {
  std::string maildrop;
  std::optional<pop3::Account> authenticate(std::string_view user, std::string_view, std::error_code& ec) {
    ec.clear();
    return pop3::Account{std::string(user), "maildir:" + maildrop, 1000, 1000};
  }
};

// Login, STAT, LIST, UIDL, QUIT on the maildir (all in cur/: QUIT moves nothing).
void BM_maildir_login(benchmark::State& state, bool wire_sizes) {
  const std::string& path = maildir(wire_sizes);
  const std::string_view script = "USER bench\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nQUIT\r\n";
  MemoryTransport result{{}};
  for (auto _ : state) {
    pop3::Pop3Server<MemoryTransport, MaildirAuth, pop3::MaildirMailbox<>> server{
        MemoryTransport{script}, MaildirAuth{path}, pop3::MaildirMailbox<>{}};
    const std::error_code ec = server.serve();
    result = std::move(server.transport());
    if (ec || !result.tail().ends_with("+OK\r\n")) return fail(state, "the session did not end with +OK after QUIT");
  }
  if (result.kept().find("+OK " + std::to_string(maildir_messages()) + " ") == std::string::npos)
    fail(state, "STAT did not count the maildir's files");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * maildir_messages()));
}
BENCHMARK_CAPTURE(BM_maildir_login, dovecot_names_with_W, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_maildir_login, courier_names_sizes_counted, false)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("mailbox_messages", std::to_string(messages()));
  for (const auto& finder : pop3::detail::separator_finders())
    benchmark::RegisterBenchmark(("BM_find_separator/" + std::string(finder.name)).c_str(), BM_find_separator, finder.find)
        ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
