// pop3/mailbox/mbox_journal_dir.hpp: where the UPDATE journals live: one file per mailbox, in
// a directory of root's outside the spool, opened by root for the session before it drops to
// the account (the spool never gets an extra file; DESIGN.md, "Crash-safe UPDATE").
//
//   std::string why;
//   if (!pop3::prepare_journal_dir(settings.dir, why)) log(why);                        // startup, as root
//   auto journal = pop3::open_mbox_journal(settings, "/var/mail/alice", uid, gid, why);  // each session
//   if (journal) server.mailbox().use_journal(std::move(*journal));                      // then the drop
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "pop3/detail/unique_fd.hpp"
#include "pop3/mailbox/mbox_journal.hpp"
#include "pop3/mailbox/mbox_update.hpp"

namespace pop3 {

struct MboxJournalSettings {
  std::string dir = "/var/lib/popa3d-journal";
  MboxDurability durability = MboxDurability::full;
};

// At startup: the directory exists (made 0700 if it did not), is a directory, and only its
// owner, the user running popa3d, can write to it. False with a one-line `why`.
inline bool prepare_journal_dir(const std::string& dir, std::string& why) {
  if (dir.empty() || dir.front() != '/') {
    why = "journal directory \"" + dir + "\" is not an absolute path";
    return false;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(dir.c_str(), 0700) != 0 || ::lstat(dir.c_str(), &st) != 0) {
      why = "journal directory " + dir + ": " + std::strerror(errno);
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    why = "journal directory " + dir + " must be a directory of the user running popa3d, not writable by others";
    return false;
  }
  return true;
}

// A mailbox's journal is named by the file's device and inode, so every account that reaches
// the same file finds the same journal, and a file renamed over the path gets another.
inline std::string mbox_journal_name(std::uint64_t device, std::uint64_t inode) {
  char name[64];
  std::snprintf(name, sizeof name, "mbox-%llx-%llx", static_cast<unsigned long long>(device),
                static_cast<unsigned long long>(inode));
  return name;
}

// As root, before the drop: the journal of the mailbox at `mailbox` (created 0600 with
// O_NOFOLLOW if new, and given to uid:gid), open for the session. std::nullopt with `why`
// empty when there is no regular file there (nothing to update), or with `why` saying what
// failed (the session then updates in place).
inline std::optional<MboxJournal> open_mbox_journal(const MboxJournalSettings& settings, const std::string& mailbox,
                                                    uid_t uid, gid_t gid, std::string& why) {
  why.clear();
  struct stat box {};
  if (::lstat(mailbox.c_str(), &box) != 0 || !S_ISREG(box.st_mode)) return std::nullopt;
  detail::UniqueFd dir{::open(settings.dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  struct stat ds {};
  if (!dir || ::fstat(dir.get(), &ds) != 0) {
    why = settings.dir + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (ds.st_uid != ::geteuid() || (ds.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    why = settings.dir + " is writable by others";
    return std::nullopt;
  }
  const auto device = static_cast<std::uint64_t>(box.st_dev);
  const auto inode = static_cast<std::uint64_t>(box.st_ino);
  const std::string name = mbox_journal_name(device, inode);
  constexpr int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  MboxJournal journal;
  bool created = false;
  struct stat js {};
  // The session holds a shared flock on its journal, so that --recover never removes one in
  // use (remove_orphan_journals()); a journal removed before the lock was had is opened anew.
  for (int attempt = 0;; ++attempt) {
    journal.fd.reset(::openat(dir.get(), name.c_str(), flags | O_CREAT | O_EXCL, 0600));
    created = static_cast<bool>(journal.fd);
    if (!created && errno == EEXIST) journal.fd.reset(::openat(dir.get(), name.c_str(), flags));
    if (!journal.fd || ::flock(journal.fd.get(), LOCK_SH) != 0 || ::fstat(journal.fd.get(), &js) != 0) {
      why = settings.dir + "/" + name + ": " + std::strerror(errno);
      return std::nullopt;
    }
    struct stat named {};
    if (::fstatat(dir.get(), name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_dev == js.st_dev &&
        named.st_ino == js.st_ino)
      break;
    if (attempt == 2) {
      why = settings.dir + "/" + name + " keeps being removed";
      return std::nullopt;
    }
  }
  // Another link to it could be a file someone else reads.
  if (!S_ISREG(js.st_mode) || js.st_nlink != 1) {
    why = settings.dir + "/" + name + " is not a regular file with one link";
    return std::nullopt;
  }
  if ((js.st_uid != uid || js.st_gid != gid) && ::fchown(journal.fd.get(), uid, gid) != 0) {
    why = settings.dir + "/" + name + ": fchown: " + std::strerror(errno);
    return std::nullopt;
  }
  // The name must survive a power cut as well as the records written through it.
  if (created && settings.durability == MboxDurability::full) (void)::fsync(dir.get());
  journal.device = device;
  journal.inode = inode;
  journal.options.durability = settings.durability;
  return journal;
}

// A journal with something in it, for --recover: its name and the mailbox its plan names.
struct PendingJournal {
  std::string name;
  std::string mailbox;
};

// Calls visit(dir_fd, name, fd, st) for each regular file of `dir` named as a journal, opened
// read-only without following a link (`st` its fstat). False with `why` if `dir` cannot be read.
template <class Visit>
bool for_each_journal(const std::string& dir, std::string& why, Visit visit) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    why = dir + ": " + std::strerror(errno);
    return false;
  }
  const int dfd = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("mbox-", 0) != 0) continue;
    detail::UniqueFd fd{::openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    visit(dfd, name, fd.get(), st);
  }
  ::closedir(d);
  return true;
}

// The plan the journal `fd` named `name` begins with (detail::journal_first_plan: also under
// the done mark), checked as any journal is; false if there is none, or if the name is not
// the plan's identity (then it is no journal of ours).
inline bool journal_plan_of(int fd, const std::string& name, detail::MboxJournalPlan& plan) {
  std::vector<char> first(detail::journal_header_bytes + detail::journal_payload_max(1) + detail::journal_trailer_bytes);
  const ssize_t got = ::pread(fd, first.data(), first.size(), 0);
  return got > 0 && detail::journal_first_plan({first.data(), static_cast<std::size_t>(got)}, plan) &&
         mbox_journal_name(plan.device, plan.inode) == name;
}

// The journals of `dir` that hold a plan not marked done, read as root (each only up to its
// PLAN record). Files that are not journals are skipped.
inline std::vector<PendingJournal> pending_journals(const std::string& dir, std::string& why) {
  std::vector<PendingJournal> found;
  for_each_journal(dir, why, [&](int, const std::string& name, int fd, const struct stat&) {
    detail::MboxJournalPlan plan;
    if (!detail::mbox_journal_idle(fd) && journal_plan_of(fd, name, plan)) found.push_back({name, plan.path});
  });
  return found;
}

// --recover, after the journals with work in them were finished: removes each journal of
// `dir` that holds nothing to recover (done) and whose mailbox is gone, i.e. the path its plan
// names no longer exists or is another file, unless a session holds it (its shared flock, see
// open_mbox_journal()). A journal that may hold work, one in use, and an empty one (it names
// no mailbox, and holds no blocks) stay. Returns what was removed: names and mailboxes.
inline std::vector<PendingJournal> remove_orphan_journals(const std::string& dir, std::string& why) {
  std::vector<PendingJournal> removed;
  for_each_journal(dir, why, [&](int dfd, const std::string& name, int fd, const struct stat& st) {
    detail::MboxJournalPlan plan;
    if (st.st_nlink != 1 || ::flock(fd, LOCK_EX | LOCK_NB) != 0 || !detail::mbox_journal_idle(fd) ||
        !journal_plan_of(fd, name, plan))
      return;
    struct stat box {};
    if (::lstat(plan.path.c_str(), &box) == 0) {
      if (S_ISREG(box.st_mode) && mbox_journal_name(box.st_dev, box.st_ino) == name) return;  // still there
    } else if (errno != ENOENT && errno != ENOTDIR) {
      return;  // not known to be gone
    }
    if (::unlinkat(dfd, name.c_str(), 0) == 0) removed.push_back({name, plan.path});
  });
  return removed;
}

}  // namespace pop3
