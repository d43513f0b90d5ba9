// test/support/case_files.hpp: reading files and the recorded conformance cases.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pop3::test {

inline std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  // One read into a string of the file's size: a test that reads a 50 MB mailbox hundreds
  // of times would spend most of its time growing a stringstream.
  const std::streamoff size = in.tellg();
  if (size >= 0 && in.seekg(0)) {
    std::string bytes(static_cast<std::size_t>(size), '\0');
    if (in.read(bytes.data(), size)) return bytes;
    return std::nullopt;
  }
  in.clear();
  in.seekg(0);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// ../shared/conformance next to the repository root, as CI lays it out.
inline std::filesystem::path conformance_dir() {
  return std::filesystem::path(POP3_SOURCE_DIR) / ".." / "shared" / "conformance";
}

// The case directories, sorted; empty if ../shared is missing.
inline std::vector<std::filesystem::path> conformance_cases() {
  std::vector<std::filesystem::path> cases;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(conformance_dir() / "cases", ec))
    if (std::filesystem::exists(entry.path() / "commands")) cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  return cases;
}

}  // namespace pop3::test
