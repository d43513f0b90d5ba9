// pop3/posix/cidr_list.hpp: --proxy-from's networks, parsed strictly and matched on socket
// addresses, IPv4-mapped IPv6 addresses as the IPv4 ones they map.
#define BOOST_TEST_MODULE cidr_list
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "pop3/posix/cidr_list.hpp"

namespace {

sockaddr_storage address(const char* text) {
  sockaddr_storage ss{};
  auto& sin = reinterpret_cast<sockaddr_in&>(ss);
  auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
  if (::inet_pton(AF_INET, text, &sin.sin_addr) == 1) {
    sin.sin_family = AF_INET;
  } else {
    BOOST_REQUIRE(::inet_pton(AF_INET6, text, &sin6.sin6_addr) == 1);
    sin6.sin6_family = AF_INET6;
  }
  return ss;
}

pop3::posix::CidrList list(const char* text) {
  std::string error;
  auto parsed = pop3::posix::CidrList::parse(text, error);
  BOOST_REQUIRE_MESSAGE(parsed, text << ": " << error);
  return *parsed;
}

std::string error_of(const std::string& text) {
  std::string error;
  BOOST_TEST(!pop3::posix::CidrList::parse(text, error), text);
  return error;
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipv4_networks) {
  const auto l = list("10.0.0.0/8,192.0.2.1,198.51.100.128/25");
  BOOST_TEST(l.contains(address("10.0.0.0")));
  BOOST_TEST(l.contains(address("10.255.255.255")));
  BOOST_TEST(!l.contains(address("11.0.0.0")));
  BOOST_TEST(l.contains(address("192.0.2.1")));
  BOOST_TEST(!l.contains(address("192.0.2.2")));
  BOOST_TEST(l.contains(address("198.51.100.128")));
  BOOST_TEST(l.contains(address("198.51.100.255")));
  BOOST_TEST(!l.contains(address("198.51.100.127")));
  BOOST_TEST(l.text() == "10.0.0.0/8,192.0.2.1,198.51.100.128/25");
  BOOST_TEST(list("0.0.0.0/0").contains(address("203.0.113.9")));
}

BOOST_AUTO_TEST_CASE(ipv6_networks) {
  const auto l = list("2001:db8::/32,::1");
  BOOST_TEST(l.contains(address("2001:db8::1")));
  BOOST_TEST(l.contains(address("2001:db8:ffff::")));
  BOOST_TEST(!l.contains(address("2001:db9::")));
  BOOST_TEST(l.contains(address("::1")));
  BOOST_TEST(!l.contains(address("::2")));
  BOOST_TEST(!l.contains(address("127.0.0.1")));
  BOOST_TEST(list("2001:db8::/33").contains(address("2001:db8:7fff::")));
  BOOST_TEST(!list("2001:db8::/33").contains(address("2001:db8:8000::")));
  BOOST_TEST(list("::/0").contains(address("fe80::1")));
  BOOST_TEST(!list("::/0").contains(address("127.0.0.1")));
}

BOOST_AUTO_TEST_CASE(mapped_addresses_are_ipv4) {
  const auto l = list("127.0.0.0/8");
  BOOST_TEST(l.contains(address("::ffff:127.0.0.1")));
  BOOST_TEST(!l.contains(address("::ffff:128.0.0.1")));
  BOOST_TEST(!l.contains(address("::127.0.0.1")));  // IPv4-compatible is not mapped
  const auto mapped = list("::ffff:192.0.2.0/120");
  BOOST_TEST(mapped.contains(address("192.0.2.200")));
  BOOST_TEST(mapped.contains(address("::ffff:192.0.2.200")));
  BOOST_TEST(!mapped.contains(address("192.0.3.1")));
}

BOOST_AUTO_TEST_CASE(other_families_are_in_no_network) {
  sockaddr_storage unix_address{};
  unix_address.ss_family = AF_UNIX;
  BOOST_TEST(!list("0.0.0.0/0,::/0").contains(unix_address));
  BOOST_TEST(pop3::posix::CidrList{}.empty());
  BOOST_TEST(!pop3::posix::CidrList{}.contains(address("127.0.0.1")));
}

BOOST_AUTO_TEST_CASE(bad_lists_say_which_entry) {
  BOOST_TEST(error_of("") == "empty list of networks");
  BOOST_TEST(error_of("10.0.0.0/8,") == "not an IPv4 or IPv6 address: \"\"");
  BOOST_TEST(error_of("10.0.0.0/8, 10.1.0.0/16") == "not an IPv4 or IPv6 address: \" 10.1.0.0/16\"");
  BOOST_TEST(error_of("proxy.example.org") == "not an IPv4 or IPv6 address: \"proxy.example.org\"");
  BOOST_TEST(error_of("10.0.0.0/33") == "not a prefix length from 0 to 32: \"10.0.0.0/33\"");
  BOOST_TEST(error_of("::/129") == "not a prefix length from 0 to 128: \"::/129\"");
  BOOST_TEST(error_of("10.0.0.0/") == "not a prefix length from 0 to 32: \"10.0.0.0/\"");
  BOOST_TEST(error_of("10.0.0.0/08") == "not a prefix length from 0 to 32: \"10.0.0.0/08\"");
  BOOST_TEST(error_of("10.0.0.0/+8") == "not a prefix length from 0 to 32: \"10.0.0.0/+8\"");
  BOOST_TEST(error_of("10.0.0.0/8x") == "not a prefix length from 0 to 32: \"10.0.0.0/8x\"");
  BOOST_TEST(error_of("10.0.0.1/8") == "host bits set in network \"10.0.0.1/8\"");
  BOOST_TEST(error_of("2001:db8::1/32") == "host bits set in network \"2001:db8::1/32\"");
  BOOST_TEST(error_of("010.0.0.0/8") == "not an IPv4 or IPv6 address: \"010.0.0.0/8\"");
  std::string many;
  for (int i = 0; i <= 64; ++i) many += (i ? "," : "") + std::string("10.0.0.") + std::to_string(i);
  BOOST_TEST(error_of(many) == "more than 64 networks");
}
