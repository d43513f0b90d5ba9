// pop3/mailbox/mbox_update.hpp: the moves of UPDATE on a real file, message by message.
#define BOOST_TEST_MODULE mbox_update
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pop3/mailbox/mbox_update.hpp"
#include "support/case_files.hpp"
#include "support/temp_dir.hpp"

namespace {

// Compacts a file holding `messages` (each one message's raw extent), with `arrived` appended
// after the login size, deleting `deleted`; returns the file afterwards.
std::string compact(const std::vector<std::string>& messages, const std::string& arrived,
                    const std::vector<std::uint32_t>& deleted, std::size_t block_bytes = 3) {
  pop3::test::TempDir dir;
  const auto path = dir.path() / "mbox";
  std::string file;
  std::vector<std::uint64_t> from;
  for (const auto& m : messages) {
    from.push_back(file.size());
    file += m;
  }
  const std::uint64_t login_size = file.size();
  pop3::test::write_file(path, file + arrived);
  const int fd = ::open(path.c_str(), O_RDWR);
  BOOST_REQUIRE(fd >= 0);
  pop3::DeletionSet deletions{static_cast<std::uint32_t>(messages.size())};
  for (const auto k : deleted) deletions.mark(pop3::MsgIndex{k});
  std::vector<char> block(block_bytes);  // small blocks: every move takes several
  const bool ok = pop3::detail::mbox_compact(fd, static_cast<std::uint32_t>(messages.size()),
                                             [&](std::uint32_t k) { return from[k]; }, deletions, login_size,
                                             std::uint64_t{1} << 30, block);
  ::close(fd);
  BOOST_TEST(ok);
  return pop3::test::read_file(path).value();
}

}  // namespace

BOOST_AUTO_TEST_CASE(kept_runs_move_down_and_arrivals_follow) {
  const std::vector<std::string> box = {"From a\n1\n\n", "From b\n22\n\n", "From c\n333\n\n", "From d\n4\n"};
  BOOST_TEST(compact(box, "", {1}) == box[0] + box[2] + box[3]);
  BOOST_TEST(compact(box, "", {0}) == box[1] + box[2] + box[3]);
  BOOST_TEST(compact(box, "", {3}) == box[0] + box[1] + box[2]);
  BOOST_TEST(compact(box, "", {0, 2}) == box[1] + box[3]);
  BOOST_TEST(compact(box, "", {0, 1, 2, 3}) == "");
  // Mail delivered during the session follows the kept messages, whatever was deleted.
  BOOST_TEST(compact(box, "From e\nnew\n", {1, 2}) == box[0] + box[3] + "From e\nnew\n");
  BOOST_TEST(compact(box, "From e\nnew\n", {0, 1, 2, 3}) == "From e\nnew\n");
}

BOOST_AUTO_TEST_CASE(a_file_that_grows_past_the_bound_is_not_truncated) {
  pop3::test::TempDir dir;
  const auto path = dir.path() / "mbox";
  pop3::test::write_file(path, "From a\n1\n\nFrom b\n2\nARRIVED");
  const int fd = ::open(path.c_str(), O_RDWR);
  BOOST_REQUIRE(fd >= 0);
  pop3::DeletionSet deletions{2};
  deletions.mark(pop3::MsgIndex{0});
  std::array<char, 4> block{};
  const std::array<std::uint64_t, 2> from{0, 10};
  // The login size was 19; the 7 bytes after it would pass a bound of 20 bytes.
  BOOST_TEST(!pop3::detail::mbox_compact(fd, 2, [&](std::uint32_t k) { return from[k]; }, deletions, 19, 20, block));
  ::close(fd);
  // The kept message moved down; nothing was cut off.
  BOOST_TEST(pop3::test::read_file(path).value().size() == 26u);
}
