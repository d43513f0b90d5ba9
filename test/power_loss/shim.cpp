/* test/power_loss/shim.cpp: an LD_PRELOAD library that records, for the files under
 * $POWER_LOSS_DIR, every pwrite, write, ftruncate, fallocate, fsync and fdatasync the program
 * makes, in order, to $POWER_LOSS_LOG (mbox_power_loss_test.cpp rebuilds the disk after a power
 * cut from it). Each record: u8 op ('w' write, 't' truncate, 's' sync), u8 file (its index in order of
 * first use; an 'n' record names it first), u64 offset or size, u64 length, then the bytes
 * written. The calls themselves go through unchanged. */
#include <dlfcn.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace {

int log_fd = -1;
const char* dir;
char names[16][PATH_MAX];
int name_count;

void put(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const long w = syscall(SYS_write, log_fd, c, n);
    if (w <= 0) abort();
    c += w;
    n -= static_cast<size_t>(w);
  }
}

void header(char op, int file, uint64_t a, uint64_t b) {
  const unsigned char h[2] = {static_cast<unsigned char>(op), static_cast<unsigned char>(file)};
  put(h, 2);
  put(&a, 8);
  put(&b, 8);
}

/* The file index of fd if it is under $POWER_LOSS_DIR, else -1. */
int file_of(int fd) {
  if (dir == nullptr) {
    dir = getenv("POWER_LOSS_DIR");
    const char* log = getenv("POWER_LOSS_LOG");
    if (dir == nullptr || log == nullptr) return -1;
    log_fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (log_fd < 0) abort();
  }
  if (log_fd < 0) return -1;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return -1;
  path[n] = '\0';
  if (strncmp(path, dir, strlen(dir)) != 0) return -1;
  for (int i = 0; i < name_count; ++i)
    if (strcmp(names[i], path) == 0) return i;
  if (name_count == 16) abort();
  strcpy(names[name_count], path);
  header('n', name_count, 0, static_cast<uint64_t>(n));
  put(path, static_cast<size_t>(n));
  return name_count++;
}

int synced(int fd, int r) {
  int file = file_of(fd);
  if (file >= 0 && r == 0) header('s', file, 0, 0);
  return r;
}

template <class F>
F real_function(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (real == nullptr) real = real_function<decltype(real)>("pwrite64");
  ssize_t done = real(fd, buf, count, offset);
  int file = file_of(fd);
  if (file >= 0 && done > 0) {
    header('w', file, static_cast<uint64_t>(offset), static_cast<uint64_t>(done));
    put(buf, static_cast<size_t>(done));
  }
  return done;
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) { return pwrite64(fd, buf, count, offset); }

ssize_t write(int fd, const void* buf, size_t count) {
  static ssize_t (*real)(int, const void*, size_t);
  if (real == nullptr) real = real_function<decltype(real)>("write");
  const off_t at = lseek(fd, 0, SEEK_CUR);
  ssize_t done = real(fd, buf, count);
  int file = at >= 0 ? file_of(fd) : -1;
  if (file >= 0 && done > 0) {
    header('w', file, static_cast<uint64_t>(at), static_cast<uint64_t>(done));
    put(buf, static_cast<size_t>(done));
  }
  return done;
}

int ftruncate64(int fd, off_t length) noexcept {
  static int (*real)(int, off_t);
  if (real == nullptr) real = real_function<decltype(real)>("ftruncate64");
  int r = real(fd, length);
  int file = file_of(fd);
  if (file >= 0 && r == 0) header('t', file, static_cast<uint64_t>(length), 0);
  return r;
}

int ftruncate(int fd, off_t length) noexcept { return ftruncate64(fd, length); }

/* A file made longer by fallocate is a truncate to its new size (zeros past the old end). */
int fallocate64(int fd, int mode, off_t offset, off_t length) {
  static int (*real)(int, int, off_t, off_t);
  if (real == nullptr) real = real_function<decltype(real)>("fallocate64");
  int r = real(fd, mode, offset, length);
  int file = file_of(fd);
  struct stat st;
  if (file >= 0 && r == 0 && fstat(fd, &st) == 0) header('t', file, static_cast<uint64_t>(st.st_size), 0);
  return r;
}

int fallocate(int fd, int mode, off_t offset, off_t length) { return fallocate64(fd, mode, offset, length); }


int fsync(int fd) {
  static int (*real)(int);
  if (real == nullptr) real = real_function<decltype(real)>("fsync");
  return synced(fd, real(fd));
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (real == nullptr) real = real_function<decltype(real)>("fdatasync");
  return synced(fd, real(fd));
}

}  // extern "C"
