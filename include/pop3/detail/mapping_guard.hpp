// pop3/detail/mapping_guard.hpp: read-only file mappings that survive truncation.
//
// A program that ignores fcntl locks may truncate a mailbox while it is mapped;
// touching a page past the new end of file then raises SIGBUS, which would kill
// the session (DESIGN.md: "no SIGBUS from a mapping"). A process-wide SIGBUS
// handler, installed once, looks the faulting address up in a small fixed-size
// lock-free registry of guarded ranges. Inside one, it replaces the pages from
// the faulting page to the end of that range with anonymous zero pages and
// counts the fault, so the faulting load is restarted and reads zeros; the owner
// sees faults() != 0 and treats the mailbox as changed. Outside every range it
// puts back the previous SIGBUS disposition and returns, so the fault is handled
// (or kills the process) exactly as it would have without us. There is no
// siglongjmp (DESIGN guideline 10): no destructor is ever skipped. The handler is
// (re-)installed whenever a range is registered, so one installed by someone else in
// between is chained to rather than lost.
//
//   std::error_code ec;
//   auto map = pop3::detail::FileMapping::map(fd, 0, length, ec);
//   if (!ec) { use(map.bytes()); if (map.faults() != 0) { /* the file shrank: bytes were zeros */ } }
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <system_error>
#include <utility>

#include "pop3/error.hpp"

namespace pop3::detail {

// Slots in the registry: one per mapped mailbox alive at once in the process.
// The daemon has one; a threaded library user may have more. A full registry
// makes FileMapping::map() fail rather than hand out an unguarded mapping.
inline constexpr std::size_t mapping_guard_slots = 256;

static_assert(std::atomic<std::uintptr_t>::is_always_lock_free &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the SIGBUS registry must be lock-free to be read from a signal handler");

struct MappingSlot {
  enum : std::uint32_t { free_slot = 0, claimed = 1, active = 2 };
  std::atomic<std::uint32_t> state{free_slot};
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};  // page-rounded: the kernel faults whole pages
  std::atomic<std::uint32_t> faults{0};
};

// Zero-initialised (constant initialisation), so usable before any constructor runs.
inline MappingSlot mapping_slots[mapping_guard_slots];
inline std::atomic<std::uintptr_t> mapping_page_size{0};  // sysconf is not async-signal-safe

// The disposition we replaced, for faults that are not ours. Two copies and an atomic
// index, so the handler never reads one while install_sigbus_handler() rewrites it.
inline struct sigaction previous_sigbus_actions[2];
inline std::atomic<int> previous_sigbus_index{0};
inline std::mutex sigbus_install_mutex;

// Put back whoever handled SIGBUS before us. For a fault, returning then re-runs the
// faulting instruction, which raises SIGBUS again into that handler (or SIG_DFL: death
// with the usual status and core). A SIGBUS sent by kill() is not re-raised by returning,
// so it is raised again explicitly.
inline void forward_sigbus(const siginfo_t* info) noexcept {
  sigaction(SIGBUS, &previous_sigbus_actions[previous_sigbus_index.load(std::memory_order_acquire)], nullptr);
  if (info == nullptr || info->si_code <= 0) raise(SIGBUS);
}

inline void sigbus_handler(int, siginfo_t* info, void*) noexcept {
  const int saved_errno = errno;
  // si_addr is only meaningful for a fault the kernel generated (si_code > 0).
  if (info != nullptr && info->si_code > 0) {
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    const std::uintptr_t page = mapping_page_size.load(std::memory_order_relaxed);
    for (auto& slot : mapping_slots) {
      if (slot.state.load(std::memory_order_acquire) != MappingSlot::active) continue;
      const std::uintptr_t begin = slot.begin.load(std::memory_order_relaxed);
      const std::uintptr_t end = slot.end.load(std::memory_order_relaxed);
      if (addr < begin || addr >= end) continue;
      // Everything from the faulting page on lies past the new end of file, so it is
      // replaced in one call rather than faulting again page by page.
      const std::uintptr_t from = addr & ~(page - 1);
      void* p = mmap(reinterpret_cast<void*>(from), end - from, PROT_READ,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) break;  // cannot repair: die as we would have
      slot.faults.fetch_add(1, std::memory_order_relaxed);
      errno = saved_errno;
      return;
    }
  }
  forward_sigbus(info);
  errno = saved_errno;
}

// Makes sure our handler is the one installed; called before every registration. The
// first call installs it. A later call re-installs it if another component has replaced
// it since (a test framework does this around each test), chaining to that component's
// handler for faults outside our ranges. False if sigaction failed.
inline bool install_sigbus_handler() noexcept {
  const std::lock_guard<std::mutex> lock(sigbus_install_mutex);
  if (mapping_page_size.load(std::memory_order_relaxed) == 0)
    mapping_page_size.store(static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE)), std::memory_order_relaxed);
  struct sigaction current {};
  if (sigaction(SIGBUS, nullptr, &current) != 0) return false;
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == &sigbus_handler) return true;
  const int spare = 1 - previous_sigbus_index.load(std::memory_order_relaxed);
  previous_sigbus_actions[spare] = current;
  previous_sigbus_index.store(spare, std::memory_order_release);
  struct sigaction action {};
  action.sa_sigaction = &sigbus_handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  return sigaction(SIGBUS, &action, nullptr) == 0;
}

// Registers [begin, begin + length) with the SIGBUS handler for its lifetime. Move-only.
class MappingGuard {
 public:
  MappingGuard() noexcept = default;

  // registered() is false if the handler could not be installed or every slot is taken.
  MappingGuard(const void* begin, std::size_t length) noexcept {
    if (!install_sigbus_handler()) return;
    const std::uintptr_t page = mapping_page_size.load(std::memory_order_relaxed);
    const auto b = reinterpret_cast<std::uintptr_t>(begin);
    for (auto& slot : mapping_slots) {
      std::uint32_t expected = MappingSlot::free_slot;
      if (!slot.state.compare_exchange_strong(expected, MappingSlot::claimed, std::memory_order_acquire)) continue;
      slot.begin.store(b, std::memory_order_relaxed);
      slot.end.store(b + ((length + page - 1) & ~(page - 1)), std::memory_order_relaxed);
      slot.faults.store(0, std::memory_order_relaxed);
      slot.state.store(MappingSlot::active, std::memory_order_release);
      slot_ = &slot;
      return;
    }
  }

  MappingGuard(MappingGuard&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
  MappingGuard& operator=(MappingGuard&& other) noexcept {
    if (this != &other) {
      release();
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  MappingGuard(const MappingGuard&) = delete;
  MappingGuard& operator=(const MappingGuard&) = delete;
  ~MappingGuard() { release(); }

  [[nodiscard]] bool registered() const noexcept { return slot_ != nullptr; }

  // Faults repaired in this range since it was registered.
  [[nodiscard]] std::uint32_t faults() const noexcept {
    return slot_ != nullptr ? slot_->faults.load(std::memory_order_relaxed) : 0;
  }

 private:
  void release() noexcept {
    if (slot_ == nullptr) return;
    slot_->state.store(MappingSlot::free_slot, std::memory_order_release);
    slot_ = nullptr;
  }

  MappingSlot* slot_ = nullptr;
};

// A read-only MAP_SHARED mapping of `length` bytes of a file from `offset` (a multiple of
// the page size), guarded against SIGBUS as above. Move-only; unmaps on destruction.
class FileMapping {
 public:
  FileMapping() noexcept = default;

  // ec: errc::mailbox_io if mmap fails or no guard slot is free. length must be > 0.
  [[nodiscard]] static FileMapping map(int fd, std::uint64_t offset, std::size_t length, std::error_code& ec) noexcept {
    ec.clear();
    FileMapping m;
    void* p = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
      ec = errc::mailbox_io;
      return m;
    }
    m.data_ = static_cast<const char*>(p);
    m.size_ = length;
    m.guard_ = MappingGuard(p, length);
    if (!m.guard_.registered()) {
      m.reset();
      ec = errc::mailbox_io;
    }
    return m;
  }

  FileMapping(FileMapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
        guard_(std::move(other.guard_)) {}
  FileMapping& operator=(FileMapping&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      guard_ = std::move(other.guard_);
    }
    return *this;
  }
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping() { reset(); }

  [[nodiscard]] std::span<const char> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] bool mapped() const noexcept { return data_ != nullptr; }
  // Non-zero once a truncation under the mapping was repaired with zero pages.
  [[nodiscard]] std::uint32_t faults() const noexcept { return guard_.faults(); }

  void reset() noexcept {
    // Unregister before unmapping, so the handler never repairs an address that
    // someone else may map next.
    guard_ = MappingGuard();
    if (data_ != nullptr) munmap(const_cast<char*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  MappingGuard guard_;
};

}  // namespace pop3::detail
