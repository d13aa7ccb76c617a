// 11. File I/O: write n files (default 100, 64 KiB each) into a fresh
// temporary directory, one task per file, then read them all back
// concurrently and check each file's checksum against what its writer
// produced; the directory is removed at the end. CSP idea: a file read
// blocks its thread in the kernel, which would stall every fiber on that
// worker, so a fiber hands the call to weft::blocking (a separate, bounded
// thread pool) and parks until it returns; a plain thread just makes the
// call (weft::blocking does exactly that outside a runtime). Checksums are
// computed in the tasks themselves, outside the blocking calls.

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model.hpp"

namespace {

namespace fs = std::filesystem;

// FNV-1a, 64 bits.
std::uint64_t checksum(const std::string& data) {
  std::uint64_t h = 0xcbf29ce484222325u;
  for (unsigned char c : data) h = (h ^ c) * 0x100000001b3u;
  return h;
}

// File i's content: `size` (a multiple of 8) pseudo-random bytes, an LCG
// seeded by i.
std::string content(long i, std::size_t size) {
  std::string s(size, '\0');
  std::uint64_t x = static_cast<std::uint64_t>(i) * 2654435761u + 1;
  for (std::size_t at = 0; at < size; at += sizeof x) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    std::memcpy(s.data() + at, &x, sizeof x);
  }
  return s;
}

struct file_sum {
  long index;
  std::uint64_t sum;
};

}  // namespace

int main(int argc, char** argv) {
  const auto m = example::model::from_args(argc, argv);
  const long n = m.size(100);
  constexpr std::size_t size = 64 * 1024;
  std::string tmpl = (fs::temp_directory_path() / "weft-fileio-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  const fs::path dir = tmpl;
  auto path = [&dir](long i) { return dir / ("file-" + std::to_string(i)); };

  const auto t0 = std::chrono::steady_clock::now();
  const long good = m.main_task([&] {
    // Room for every answer: no task waits for main to collect.
    auto written = weft::make_chan<file_sum>(static_cast<std::size_t>(n));
    for (long i = 0; i < n; i++)
      m.start([&path, written, i] {
        const std::string data = content(i, size);
        weft::blocking([&] { std::ofstream(path(i), std::ios::binary) << data; });
        written.send({i, checksum(data)});
      });
    std::vector<std::uint64_t> expected(static_cast<std::size_t>(n));
    for (long k = 0; k < n; k++) {
      const file_sum w = *written.recv();
      expected[static_cast<std::size_t>(w.index)] = w.sum;
    }
    // Every file is written and closed (its writer sent after the write
    // returned); now read them all at once.
    auto read = weft::make_chan<file_sum>(static_cast<std::size_t>(n));
    for (long i = 0; i < n; i++)
      m.start([&path, read, i] {
        const std::string data = weft::blocking([&] {
          std::ostringstream all;
          all << std::ifstream(path(i), std::ios::binary).rdbuf();
          return std::move(all).str();
        });
        read.send({i, data.size() == size ? checksum(data) : 0});
      });
    long matches = 0;
    for (long k = 0; k < n; k++) {
      const file_sum r = *read.recv();
      matches += r.sum == expected[static_cast<std::size_t>(r.index)] ? 1 : 0;
    }
    return matches;
  });
  const double ms = example::ms_since(t0);
  const auto removed = fs::remove_all(dir);
  std::printf("fileio (%s): %ld files of %zu KiB written and read back, %ld checksums match, %.0f ms; removed %ju\n",
              m.name(), n, size / 1024, good, ms, static_cast<std::uintmax_t>(removed));
  return good == n && removed == static_cast<std::uintmax_t>(n) + 1 ? 0 : 1;
}
