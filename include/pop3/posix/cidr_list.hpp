// pop3/posix/cidr_list.hpp: a list of IPv4 and IPv6 networks (CIDR) and the test whether a
// socket address is in one of them, for --proxy-from.
//
//   std::string error;
//   auto list = pop3::posix::CidrList::parse("10.0.0.0/8,::1/128", error);   // nullopt + error
//   if (list && list->contains(peer_sockaddr_storage)) { /* a trusted proxy */ }
//   list->text();   // "10.0.0.0/8,::1/128"
//
// A network without "/N" is one address (/32 or /128). Host bits set in the address are an
// error, not silently cleared: "10.0.0.1/8" is a typo for one address or for the network.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address for matching, on either side.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pop3::posix {

class CidrList {
 public:
  // At most this many networks: a list is a few proxies, never a routing table.
  static constexpr std::size_t max_networks = 64;

  // The comma-separated list (no blanks). nullopt with `error` naming the bad entry.
  static std::optional<CidrList> parse(std::string_view text, std::string& error) {
    CidrList list;
    if (text.empty()) {
      error = "empty list of networks";
      return std::nullopt;
    }
    for (std::size_t start = 0;;) {
      const std::size_t comma = text.find(',', start);
      const std::string_view entry = text.substr(start, comma == std::string_view::npos ? comma : comma - start);
      Network network;
      if (!parse_network(entry, network, error)) return std::nullopt;
      if (list.networks_.size() == max_networks) {
        error = "more than " + std::to_string(max_networks) + " networks";
        return std::nullopt;
      }
      list.networks_.push_back(network);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return list;
  }

  [[nodiscard]] bool empty() const noexcept { return networks_.empty(); }

  // Whether `address` (AF_INET or AF_INET6; anything else is in no network) is listed.
  [[nodiscard]] bool contains(const sockaddr_storage& address) const noexcept {
    Key key;
    if (address.ss_family == AF_INET) {
      key.v4 = true;
      std::memcpy(key.bytes.data(), &reinterpret_cast<const sockaddr_in&>(address).sin_addr, 4);
    } else if (address.ss_family == AF_INET6) {
      std::memcpy(key.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, 16);
      unmap(key);
    } else {
      return false;
    }
    for (const Network& n : networks_) {
      if (n.key.v4 == key.v4 && prefix_matches(n.key.bytes, key.bytes, n.prefix)) return true;
    }
    return false;
  }

  // The list in the form parse() reads, each network as it was given.
  [[nodiscard]] std::string text() const {
    std::string out;
    for (const Network& n : networks_) {
      if (!out.empty()) out += ',';
      out += n.text;
    }
    return out;
  }

 private:
  // An address as compared: IPv4 (in the first 4 bytes) or IPv6.
  struct Key {
    bool v4 = false;
    std::array<unsigned char, 16> bytes{};
  };
  struct Network {
    Key key;
    unsigned prefix = 0;  // bits of key that must match
    std::string text;
  };

  static void unmap(Key& key) noexcept {
    static constexpr std::array<unsigned char, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (key.v4 || std::memcmp(key.bytes.data(), mapped.data(), mapped.size()) != 0) return;
    std::memmove(key.bytes.data(), key.bytes.data() + 12, 4);
    std::memset(key.bytes.data() + 4, 0, 12);
    key.v4 = true;
  }

  static bool prefix_matches(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b,
                             unsigned bits) noexcept {
    const std::size_t whole = bits / 8;
    if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
    if (bits % 8 == 0) return true;
    const auto mask = static_cast<unsigned char>(0xFF << (8 - bits % 8));
    return (a[whole] & mask) == (b[whole] & mask);
  }

  static bool parse_network(std::string_view entry, Network& network, std::string& error) {
    const std::string quoted = "\"" + std::string(entry) + "\"";
    const std::size_t slash = entry.find('/');
    const std::string address(entry.substr(0, slash));
    Key& key = network.key;
    unsigned max_prefix = 0;
    if (::inet_pton(AF_INET, address.c_str(), key.bytes.data()) == 1) {
      key.v4 = true;
      max_prefix = 32;
    } else if (::inet_pton(AF_INET6, address.c_str(), key.bytes.data()) == 1) {
      max_prefix = 128;
    } else {
      error = "not an IPv4 or IPv6 address: " + quoted;
      return false;
    }
    unsigned prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const std::string_view digits = entry.substr(slash + 1);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || digits.front() == '+' || (digits.size() > 1 && digits.front() == '0') ||
          ec != std::errc{} || end != digits.data() + digits.size() || prefix > max_prefix) {
        error = "not a prefix length from 0 to " + std::to_string(max_prefix) + ": " + quoted;
        return false;
      }
    }
    // An IPv4-mapped IPv6 network of /96 or longer is the IPv4 network it maps.
    if (!key.v4 && prefix >= 96) {
      Key unmapped = key;
      unmap(unmapped);
      if (unmapped.v4) {
        key = unmapped;
        prefix -= 96;
      }
    }
    std::array<unsigned char, 16> cleared{};
    for (std::size_t i = 0; i < prefix / 8; ++i) cleared[i] = key.bytes[i];
    if (prefix % 8 != 0) cleared[prefix / 8] = key.bytes[prefix / 8] & static_cast<unsigned char>(0xFF << (8 - prefix % 8));
    if (cleared != key.bytes) {
      error = "host bits set in network " + quoted;
      return false;
    }
    network.prefix = prefix;
    network.text = std::string(entry);
    return true;
  }

  std::vector<Network> networks_;
};

}  // namespace pop3::posix
