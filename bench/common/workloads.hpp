// The deterministic workloads of the application-shaped scenarios (sieve,
// workerpool, cpusplit, latency, fileio), shared by weft-bench,
// boost-fiber-bench and weft-compare, which recomputes the expected results
// with the sequential references at the end of this file; the primes and
// latency examples use the trial division and the latencies too.
// bench/go/main.go carries the same functions, written out again in Go:
// change both together.
//
// Plain C++20 and POSIX; no weft, no Boost.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014): a bijective 64-bit mixer.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// --- cpusplit: primes below X by trial division, in chunks ----------------

// Numbers per cpusplit task: [k*kPrimeChunk, (k+1)*kPrimeChunk).
constexpr long kPrimeChunk = 10'000;

// Trial division by 2 and the odd numbers up to sqrt(k): the CPU-bound work.
constexpr bool is_prime_trial(long k) {
  if (k < 2) return false;
  if (k % 2 == 0) return k == 2;
  for (long d = 3; d * d <= k; d += 2) {
    if (k % d == 0) return false;
  }
  return true;
}

constexpr long count_primes_trial(long lo, long hi) {
  long count = 0;
  for (long k = lo; k < hi; k++) count += is_prime_trial(k);
  return count;
}

// --- workerpool: one job ---------------------------------------------------

constexpr int kJobRounds = 200;  // ~0.3-0.5 us of dependent multiplies

// Job i: kJobRounds chained rounds of splitmix64 (no shortcut exists).
constexpr std::uint64_t job_work(std::uint64_t i) {
  std::uint64_t h = i;
  for (int r = 0; r < kJobRounds; r++) h = splitmix64(h);
  return h;
}

// --- latency: each task's simulated I/O wait -------------------------------

// Task i waits 50 + (splitmix64(i) mod 151) ms: uniform over 50..200 ms.
constexpr long latency_ms(long i) { return 50 + static_cast<long>(splitmix64(static_cast<std::uint64_t>(i)) % 151); }

// --- fileio: file contents and checksum ------------------------------------

constexpr long kFileBytes = 16 * 1024;
constexpr long kFileWords = kFileBytes / 8;

// Word k (little-endian on disk) of file i.
constexpr std::uint64_t file_word(long file, long k) {
  return splitmix64((static_cast<std::uint64_t>(file) << 32) | static_cast<std::uint64_t>(k));
}

// FNV-1a over 64-bit words: what a reader computes over a file's contents.
constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ull, kFnvPrime = 0x100000001b3ull;
inline std::uint64_t checksum_words(const unsigned char* p, long bytes) {
  std::uint64_t h = kFnvBasis;
  for (long off = 0; off + 8 <= bytes; off += 8) {
    std::uint64_t w = 0;
    for (int b = 7; b >= 0; b--) w = (w << 8) | p[off + b];  // little-endian
    h = (h ^ w) * kFnvPrime;
  }
  return h;
}

// The checksum file i must have, computed from the generator.
constexpr std::uint64_t expected_file_checksum(long file) {
  std::uint64_t h = kFnvBasis;
  for (long k = 0; k < kFileWords; k++) h = (h ^ file_word(file, k)) * kFnvPrime;
  return h;
}

// Reads a whole file with open/read/close; returns its checksum, or 0 if it
// could not be read or does not have kFileBytes bytes. Blocks the caller.
inline std::uint64_t read_file_checksum(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::vector<unsigned char> buf(static_cast<std::size_t>(kFileBytes) + 1);
  long got = 0;
  for (;;) {
    const ssize_t r = ::read(fd, buf.data() + got, buf.size() - static_cast<std::size_t>(got));
    if (r <= 0) break;
    got += r;
    if (got == static_cast<long>(buf.size())) break;  // too long
  }
  ::close(fd);
  return got == kFileBytes ? checksum_words(buf.data(), got) : 0;
}

// The untimed setup of fileio: n files of kFileBytes in a fresh directory
// under $TMPDIR (or /tmp), written sequentially; removed by the destructor.
class file_set {
 public:
  explicit file_set(long n) : n_(n) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/weft-fileio-XXXXXX";
    if (!::mkdtemp(templ.data())) {
      std::perror("fileio: mkdtemp");
      std::exit(1);
    }
    dir_ = templ;
    std::vector<unsigned char> buf(static_cast<std::size_t>(kFileBytes));
    for (long i = 0; i < n_; i++) {
      for (long k = 0; k < kFileWords; k++) {
        const std::uint64_t w = file_word(i, k);
        for (int b = 0; b < 8; b++) buf[static_cast<std::size_t>(k * 8 + b)] = static_cast<unsigned char>(w >> (8 * b));
      }
      const int fd = ::open(path(i).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || ::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) {
        std::perror("fileio: write");
        std::exit(1);
      }
      ::close(fd);
    }
  }
  file_set(const file_set&) = delete;
  file_set& operator=(const file_set&) = delete;
  ~file_set() {
    for (long i = 0; i < n_; i++) ::unlink(path(i).c_str());
    ::rmdir(dir_.c_str());
  }

  std::string path(long i) const { return dir_ + "/f" + std::to_string(i); }

  // The sum (mod 2^64) of every file's expected checksum.
  std::uint64_t expected_sum() const {
    std::uint64_t s = 0;
    for (long i = 0; i < n_; i++) s += expected_file_checksum(i);
    return s;
  }

 private:
  long n_;
  std::string dir_;
};

// --- sequential references (for the result checks) -------------------------

// The primes below `limit` (sieve of Eratosthenes).
inline std::vector<long> primes_below(long limit) {
  std::vector<long> primes;
  std::vector<bool> composite(static_cast<std::size_t>(limit > 0 ? limit : 0));
  for (long k = 2; k < limit; k++) {
    if (composite[static_cast<std::size_t>(k)]) continue;
    primes.push_back(k);
    for (long m = k * k; m < limit; m += k) composite[static_cast<std::size_t>(m)] = true;
  }
  return primes;
}

// The n-th prime (n >= 1; the 1st is 2).
inline long nth_prime(long n) {
  for (long limit = 64;; limit *= 2) {
    const auto p = primes_below(limit);
    if (static_cast<long>(p.size()) >= n) return p[static_cast<std::size_t>(n - 1)];
  }
}

}  // namespace bench
