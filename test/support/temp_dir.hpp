// test/support/temp_dir.hpp: a fresh temporary directory, removed with the object, and files
// written into it with the mode a test needs.
//
//   pop3::test::TempDir dir;
//   const std::string users = dir.write("users", "alice:" + hash + ":1000:1000:\n");   // 0600
//   const std::string open_file = dir.write("open", "text", 0644);
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace pop3::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pop3-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

  // Writes `text` to `name` in the directory and gives it `mode` (set after the write, so the
  // umask cannot narrow it); returns the file's path.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const std::string file = (path_ / name).string();
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + file);
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written || ::chmod(file.c_str(), mode) != 0) throw std::runtime_error("cannot write " + file);
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace pop3::test
