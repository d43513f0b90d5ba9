// test/power_loss/update.cpp: one UPDATE through the journal, for mbox_power_loss_test.cpp to
// run under shim.c:  power_loss_update MAILBOX JOURNAL full|process K...  deletes messages K
// (0-based) and exits 0 if commit() succeeded.
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "pop3/mailbox/mbox.hpp"

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  struct stat st {};
  if (::stat(argv[1], &st) != 0) return 2;
  pop3::MboxJournal journal;
  journal.fd.reset(::open(argv[2], O_RDWR | O_CLOEXEC));
  journal.device = st.st_dev;
  journal.inode = st.st_ino;
  journal.options.durability = std::string(argv[3]) == "full" ? pop3::MboxDurability::full : pop3::MboxDurability::process;
  pop3::MboxMailbox<> box;
  box.use_journal(std::move(journal));
  std::error_code ec;
  box.open(argv[1], ec);
  if (ec) return 3;
  pop3::DeletionSet dele{box.count()};
  for (int i = 4; i < argc; ++i) dele.mark(pop3::MsgIndex{static_cast<std::uint32_t>(std::atoi(argv[i]))});
  box.commit(dele, ec);
  return ec ? 4 : 0;
}
