// The deterministic workloads of the application-shaped scenarios (sieve,
// workerpool, cpusplit, latency, fileio) and of the seed's exercises
// (onetask, allofcpu, allofsleep, pool, disk), shared by weft-bench,
// boost-fiber-bench, procs-bench and weft-compare, which recomputes the
// expected results with the sequential references at the end of this file;
// the primes and latency examples use the trial division and the latencies
// too. bench/go/workloads.go and bench/rust/src/workloads.rs carry the same
// functions, written out again in Go and Rust: change them together.
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

// Fills buf (kFileBytes) with file i's words, little-endian.
inline void fill_file(long file, unsigned char* buf) {
  for (long k = 0; k < kFileWords; k++) {
    const std::uint64_t w = file_word(file, k);
    for (int b = 0; b < 8; b++) buf[k * 8 + b] = static_cast<unsigned char>(w >> (8 * b));
  }
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
      fill_file(i, buf.data());
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

// --- the exercises: allofcpu, pool and disk ---------------------------------

// allofcpu task k and pool's CPU jobs count primes above this base.
constexpr long kExerciseBase = 1'000'000;
// allofcpu task k: the primes in [kExerciseBase + k*kAllofcpuRange, +kAllofcpuRange).
constexpr long kAllofcpuRange = 1'000;
constexpr long allofcpu_count(long k) {
  return count_primes_trial(kExerciseBase + k * kAllofcpuRange, kExerciseBase + (k + 1) * kAllofcpuRange);
}

// pool: kPoolTasks long-lived workers take jobs 0..n-1. Job k is CPU-bound
// when k is even (the primes in [kExerciseBase + k*kPoolJobRange,
// +kPoolJobRange)) and I/O-shaped when k is odd (a sleep of kPoolSleepMs
// with the model's sleep; its result is 1).
constexpr long kPoolTasks = 8;
// The capacity of pool's job and result queues where the model's queue is
// bounded (Go channels, weft::chan, tokio::sync::mpsc).
constexpr long kPoolQueue = 64;
constexpr long kPoolJobRange = 100;
constexpr long kPoolSleepMs = 1;
constexpr bool pool_job_is_sleep(long k) { return k % 2 != 0; }
// The result of CPU job k (k even).
constexpr long pool_cpu_job(long k) {
  return count_primes_trial(kExerciseBase + k * kPoolJobRange, kExerciseBase + (k + 1) * kPoolJobRange);
}

// disk task i: writes file i (kFileBytes, O_CREAT|O_TRUNC, no fsync) at
// `path`, closes it, reads it back (read_file_checksum) and returns the
// checksum, or 0 if a call failed. Blocks the caller.
inline std::uint64_t write_read_file_checksum(const std::string& path, long file) {
  std::vector<unsigned char> buf(static_cast<std::size_t>(kFileBytes));
  fill_file(file, buf.data());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  long put = 0;
  while (put < kFileBytes) {
    const ssize_t w = ::write(fd, buf.data() + put, static_cast<std::size_t>(kFileBytes - put));
    if (w <= 0) break;
    put += w;
  }
  ::close(fd);
  return put == kFileBytes ? read_file_checksum(path) : 0;
}

// disk's untimed setup: a fresh empty directory under $TMPDIR (or /tmp);
// the destructor removes files 0..n-1 (path(i)) and the directory.
class scratch_dir {
 public:
  explicit scratch_dir(long n) : n_(n) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/weft-disk-XXXXXX";
    if (!::mkdtemp(templ.data())) {
      std::perror("disk: mkdtemp");
      std::exit(1);
    }
    dir_ = templ;
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  ~scratch_dir() {
    for (long i = 0; i < n_; i++) ::unlink(path(i).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string path(long i) const { return dir_ + "/f" + std::to_string(i); }

 private:
  long n_;
  std::string dir_;
};

// --- sequential references (for the result checks) -------------------------

// allofcpu's result: the sum of allofcpu_count(k) for k < n.
inline long expected_allofcpu(long n) {
  long s = 0;
  for (long k = 0; k < n; k++) s += allofcpu_count(k);
  return s;
}

// pool's result: the sum over jobs 0..n-1 (odd jobs count 1).
inline long expected_pool(long n) {
  long s = 0;
  for (long k = 0; k < n; k++) s += pool_job_is_sleep(k) ? 1 : pool_cpu_job(k);
  return s;
}

// disk's expected sum (mod 2^64) of the n files' checksums.
inline std::uint64_t expected_disk_sum(long n) {
  std::uint64_t s = 0;
  for (long i = 0; i < n; i++) s += expected_file_checksum(i);
  return s;
}

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
