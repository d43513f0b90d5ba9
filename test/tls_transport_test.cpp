// Tests of pop3/transport/tls.hpp: OpenSslTransport<FdTransport> as the server, against an
// OpenSSL client in a thread, over a socket pair, with a certificate made at run time.
#define BOOST_TEST_MODULE tls_transport
#include <boost/test/unit_test.hpp>

#include "pop3/transport/tls.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/tls_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using pop3::test::TlsClient;

struct Pair {
  int server = -1;
  int client = -1;
  Pair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    server = fds[0];
    client = fds[1];
  }
  ~Pair() {
    if (server >= 0) ::close(server);
    if (client >= 0) ::close(client);
  }
};

struct Log {
  std::vector<std::string> lines;
  pop3::LogSink sink() {
    return [this](pop3::LogPriority, std::string_view m) { lines.emplace_back(m); };
  }
  bool has(std::string_view text) const {
    for (const std::string& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

// A Next transport that counts the writes OpenSslTransport hands it.
class CountingTransport {
 public:
  CountingTransport(pop3::FdTransport next, int& writes) : next_(next), writes_(&writes) {}
  std::size_t read_some(std::span<char> buf, std::error_code& ec) { return next_.read_some(buf, ec); }
  void write(std::span<const char> bytes, std::error_code& ec) {
    ++*writes_;
    next_.write(bytes, ec);
  }

 private:
  pop3::FdTransport next_;
  int* writes_;
};

struct Fixture {
  pop3::test::TempDir dir;
  pop3::TlsContext context;
  Fixture() {
    const pop3::test::TestCertificate cert = pop3::test::make_certificate(dir.path().string());
    std::string error;
    auto made = pop3::make_tls_context({cert.cert_file, cert.key_file}, error);
    BOOST_REQUIRE_MESSAGE(made, error);
    context = std::move(*made);
  }
  pop3::OpenSslTransport<pop3::FdTransport> server(int fd, Log& log, std::chrono::milliseconds timeout = 10s) {
    return {pop3::FdTransport{fd, fd, timeout}, context, log.sink(), "192.0.2.7"};
  }
};

std::span<const char> bytes(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

BOOST_FIXTURE_TEST_CASE(handshake_then_plaintext_both_ways_then_close_notify, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log);
  std::string got_by_client;
  int client_end = SSL_ERROR_NONE;
  bool client_ok = false;
  std::thread client_thread([&] {
    TlsClient client{pair.client};
    client_ok = client.handshake() && client.write("STAT\r\n");
    got_by_client = client.read_exactly(5);
    (void)client.read();  // close_notify
    client_end = client.last_error();
  });
  BOOST_TEST(!io.tls_active());
  std::error_code ec;
  io.start_tls({}, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(io.tls_active());
  std::array<char, 64> buf{};
  const std::size_t n = io.read_some(buf, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(std::string_view(buf.data(), n) == "STAT\r\n");
  io.write(bytes("+OK\r\n"), ec);
  BOOST_TEST(!ec);
  io.close_notify(ec);
  BOOST_TEST(!ec);
  client_thread.join();
  BOOST_TEST(client_ok);
  BOOST_TEST(got_by_client == "+OK\r\n");
  BOOST_TEST(client_end == SSL_ERROR_ZERO_RETURN);  // a clean TLS end, not a cut connection
}

BOOST_FIXTURE_TEST_CASE(version_and_cipher_are_logged_with_the_peer, Fixture) {
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    Pair pair;
    Log log;
    auto io = server(pair.server, log);
    std::thread client_thread([&] {
      TlsClient client{pair.client, [&](SSL_CTX* ctx) { SSL_CTX_set_max_proto_version(ctx, version); }};
      (void)client.handshake();
      (void)client.read();
    });
    std::error_code ec;
    io.start_tls({}, ec);
    BOOST_TEST(!ec);
    io.close_notify(ec);
    client_thread.join();
    BOOST_TEST_INFO("log: " << (log.lines.empty() ? "" : log.lines.back()));
    BOOST_TEST(log.has(version == TLS1_2_VERSION ? "TLS TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384 from 192.0.2.7"
                                                 : "TLS TLSv1.3 TLS_AES_256_GCM_SHA384 from 192.0.2.7"));
  }
}

// What a layer below read past its own data (a PROXY header's line) is the ClientHello's start.
BOOST_FIXTURE_TEST_CASE(read_ahead_bytes_start_the_handshake, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log);
  bool client_ok = false;
  std::thread client_thread([&] {
    TlsClient client{pair.client};
    client_ok = client.handshake() && client.write("CAPA\r\n");
  });
  // Read 9 bytes of the ClientHello here, as another layer would have.
  std::string read_ahead(9, '\0');
  std::size_t got = 0;
  while (got < read_ahead.size()) {
    const ssize_t n = ::read(pair.server, read_ahead.data() + got, read_ahead.size() - got);
    BOOST_REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  BOOST_TEST(read_ahead[0] == '\x16');  // a handshake record
  std::error_code ec;
  io.start_tls(read_ahead, ec);
  BOOST_TEST(!ec);
  std::array<char, 64> buf{};
  const std::size_t n = io.read_some(buf, ec);
  client_thread.join();
  BOOST_TEST(client_ok);
  BOOST_TEST(std::string_view(buf.data(), n) == "CAPA\r\n");
}

// A plaintext client on the TLS port: logged with its address, and no plaintext goes back.
BOOST_FIXTURE_TEST_CASE(garbage_instead_of_a_client_hello_gets_no_plaintext, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log);
  const std::string_view garbage = "USER alice\r\nPASS secret\r\n";
  BOOST_REQUIRE(::write(pair.client, garbage.data(), garbage.size()) == static_cast<ssize_t>(garbage.size()));
  ::shutdown(pair.client, SHUT_WR);
  std::error_code ec;
  io.start_tls({}, ec);
  BOOST_TEST(ec == pop3::errc::tls_failed);
  BOOST_TEST(!io.tls_active());
  BOOST_TEST(log.has("TLS handshake failed from 192.0.2.7: "));
  ::close(pair.server);
  pair.server = -1;
  std::string reply;
  std::array<char, 256> buf{};
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::read(pair.client, buf.data(), buf.size());
    if (n <= 0) break;
    reply.append(buf.data(), static_cast<std::size_t>(n));
  }
  // Nothing, or a TLS alert record: never "+OK" or "-ERR".
  BOOST_TEST_INFO("server sent " << reply.size() << " bytes");
  BOOST_TEST((reply.empty() || reply[0] == '\x15'));
  BOOST_TEST(reply.find("OK") == std::string::npos);
  BOOST_TEST(reply.find("ERR") == std::string::npos);
}

// The idle timeout bounds the handshake: a client that connects and says nothing.
BOOST_FIXTURE_TEST_CASE(silent_client_times_out_during_the_handshake, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log, 100ms);
  std::error_code ec;
  io.start_tls({}, ec);
  BOOST_TEST(ec == pop3::errc::timeout);
  BOOST_TEST(log.has("TLS handshake failed from 192.0.2.7: timeout"));
}

// A client that stops halfway through the handshake times out the same way.
BOOST_FIXTURE_TEST_CASE(client_that_stalls_mid_handshake_times_out, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log, 100ms);
  std::thread client_thread([&] {
    // Only the ClientHello: the client's Finished never comes.
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    (void)SSL_do_handshake(ssl);
    char* data = nullptr;
    const long size = BIO_get_mem_data(out, &data);
    [[maybe_unused]] const ssize_t n = ::write(pair.client, data, static_cast<std::size_t>(size));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  });
  std::error_code ec;
  io.start_tls({}, ec);
  client_thread.join();
  BOOST_TEST(ec == pop3::errc::timeout);
}

// A large write is 16 KiB records (the TLS maximum), handed to the Next transport in one call.
BOOST_FIXTURE_TEST_CASE(bulk_writes_are_full_records_in_one_write, Fixture) {
  Pair pair;
  Log log;
  int writes = 0;
  pop3::OpenSslTransport<CountingTransport> io{CountingTransport{pop3::FdTransport{pair.server, pair.server, 10s}, writes},
                                               context, log.sink()};
  const std::string message(5 * 16384 + 100, 'm');
  std::vector<std::size_t> records;  // ciphertext lengths of the application data records
  std::string got;
  std::thread client_thread([&] {
    TlsClient client{pair.client};
    SSL_set_msg_callback(client.ssl(), [](int write_p, int, int content_type, const void* buf, std::size_t len,
                                          SSL*, void* arg) {
      if (write_p == 0 && content_type == SSL3_RT_HEADER && len == 5) {
        const auto* h = static_cast<const unsigned char*>(buf);
        if (h[0] == SSL3_RT_APPLICATION_DATA) {
          static_cast<std::vector<std::size_t>*>(arg)->push_back(std::size_t{h[3]} << 8 | h[4]);
        }
      }
    });
    SSL_set_msg_callback_arg(client.ssl(), &records);
    if (client.handshake()) got = client.read_exactly(message.size());
  });
  std::error_code ec;
  io.start_tls({}, ec);
  BOOST_REQUIRE(!ec);
  const int before = writes;
  io.write(bytes(message), ec);
  BOOST_TEST(!ec);
  BOOST_TEST(writes - before == 1);
  client_thread.join();
  BOOST_TEST(got == message);
  // TLS 1.3 with AES-GCM: 16384 bytes + the content type byte + the 16-byte tag.
  BOOST_REQUIRE(records.size() >= 6u);
  const std::size_t last = records.size() - 1;
  for (std::size_t i = last - 5; i < last; ++i) BOOST_TEST(records[i] == 16384u + 1 + 16);
}

BOOST_FIXTURE_TEST_CASE(client_that_vanishes_is_end_of_input, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log);
  std::thread client_thread([&] {
    TlsClient client{pair.client};
    (void)client.handshake();
    ::shutdown(pair.client, SHUT_RDWR);  // gone, without close_notify
  });
  std::error_code ec;
  io.start_tls({}, ec);
  BOOST_REQUIRE(!ec);
  client_thread.join();
  std::array<char, 64> buf{};
  BOOST_TEST(io.read_some(buf, ec) == 0u);
  BOOST_TEST(ec == pop3::errc::eof);
}

// Before start_tls the transport is its Next layer, byte for byte.
BOOST_FIXTURE_TEST_CASE(plaintext_until_start_tls, Fixture) {
  Pair pair;
  Log log;
  auto io = server(pair.server, log);
  std::error_code ec;
  io.write(bytes("+OK\r\n"), ec);
  BOOST_TEST(!ec);
  std::array<char, 16> buf{};
  BOOST_TEST(::read(pair.client, buf.data(), buf.size()) == 5);
  BOOST_TEST(std::string_view(buf.data(), 5) == "+OK\r\n");
  io.close_notify(ec);  // nothing without TLS
  BOOST_TEST(!ec);
  BOOST_TEST(log.lines.empty());
}
