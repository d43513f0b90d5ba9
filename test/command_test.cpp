// pop3/protocol/command.hpp: splitting and number rules (spec section 5).
#define BOOST_TEST_MODULE command
#include <boost/test/unit_test.hpp>

#include "pop3/protocol/command.hpp"

using pop3::next_argument;
using pop3::parse_number;
using pop3::split_command;

BOOST_AUTO_TEST_CASE(verb_and_params) {
  auto c = split_command("STAT");
  BOOST_TEST(c.verb == "STAT");
  BOOST_TEST(!c.params);
  c = split_command("STAT ");
  BOOST_TEST(!c.params);  // a space at the end of the line leaves no parameter string
  c = split_command("PASS  secret ");
  BOOST_TEST(c.verb == "PASS");
  BOOST_TEST(*c.params == " secret ");
  c = split_command(" STAT");
  BOOST_TEST(c.verb == "");
  c = split_command("USER\talice");
  BOOST_TEST(c.verb == "USER\talice");
}

BOOST_AUTO_TEST_CASE(verbs_match_case_insensitively_and_exactly) {
  BOOST_TEST(pop3::verb_is("stat", "STAT"));
  BOOST_TEST(pop3::verb_is("StAt", "STAT"));
  BOOST_TEST(!pop3::verb_is("STATS", "STAT"));
  BOOST_TEST(!pop3::verb_is("STA", "STAT"));
  BOOST_TEST(!pop3::verb_is("STAT\t", "STAT"));
}

BOOST_AUTO_TEST_CASE(arguments_split_on_single_spaces) {
  std::optional<std::string_view> p = std::string_view{"1 "};
  BOOST_TEST(*next_argument(p, 40) == "1");
  BOOST_TEST(!p);  // one trailing space is accepted
  p = std::string_view{" 1"};
  BOOST_TEST(*next_argument(p, 40) == "");
  BOOST_TEST(*p == "1");  // a doubled space leaves an empty argument and leftovers
  p = std::string_view{"1  "};
  BOOST_TEST(*next_argument(p, 40) == "1");
  BOOST_TEST(*p == " ");
  p = std::string_view{"1\t2"};
  BOOST_TEST(*next_argument(p, 40) == "1\t2");
  p = std::nullopt;
  BOOST_TEST(!next_argument(p, 40));
}

BOOST_AUTO_TEST_CASE(argument_length_limit) {
  std::optional<std::string_view> p;
  const std::string forty(40, '1'), forty_one(41, '1');
  p = std::string_view{forty};
  BOOST_TEST(next_argument(p, 40).has_value());
  p = std::string_view{forty_one};
  BOOST_TEST(!next_argument(p, 40).has_value());
}

BOOST_AUTO_TEST_CASE(numbers_like_strtol) {
  BOOST_TEST(*parse_number("1") == 1u);
  BOOST_TEST(*parse_number("+1") == 1u);
  BOOST_TEST(*parse_number("01") == 1u);
  BOOST_TEST(*parse_number("\t1") == 1u);
  BOOST_TEST(*parse_number("\r1") == 1u);
  BOOST_TEST(*parse_number("\v\f1") == 1u);
  BOOST_TEST(*parse_number("-0") == 0u);
  BOOST_TEST(*parse_number("2147483647") == 2147483647u);
  BOOST_TEST(*parse_number("0000000000000000000000000000000000000001") == 1u);
  for (const char* bad : {"", "-1", "1x", "0x1", "1.0", "2147483648", "4294967297",
                          "9223372036854775808", "+", "-", "1 ", " 1", "1\t", "+-1"})
    BOOST_TEST(!parse_number(bad).has_value(), "'" << bad << "'");
}

BOOST_AUTO_TEST_CASE(message_numbers_are_in_range) {
  BOOST_TEST(!pop3::parse_msg_number("0", 3));
  BOOST_TEST(pop3::parse_msg_number("3", 3)->value == 3u);
  BOOST_TEST(!pop3::parse_msg_number("4", 3));
  BOOST_TEST(!pop3::parse_msg_number("1", 0));
}
