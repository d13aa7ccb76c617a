//! The deterministic workloads, ported exactly from
//! bench/common/workloads.hpp (each function names the C++ one it mirrors);
//! weft-compare recomputes the expected results in C++. Change them together.

/// bench::splitmix64: SplitMix64's output function (Steele, Lea and Flood,
/// OOPSLA 2014).
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

/// bench::kPrimeChunk: numbers per cpusplit task.
pub const PRIME_CHUNK: i64 = 10_000;

/// bench::is_prime_trial: trial division by 2 and the odd numbers up to sqrt(k).
pub fn is_prime_trial(k: i64) -> bool {
    if k < 2 {
        return false;
    }
    if k % 2 == 0 {
        return k == 2;
    }
    let mut d = 3;
    while d * d <= k {
        if k % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// bench::count_primes_trial: the primes in [lo, hi).
pub fn count_primes_trial(lo: i64, hi: i64) -> i64 {
    (lo..hi).filter(|&k| is_prime_trial(k)).count() as i64
}

/// bench::latency_ms: task i waits 50..200 ms.
pub fn latency_ms(i: i64) -> u64 {
    50 + splitmix64(i as u64) % 151
}

/// bench::kFileBytes, bench::kFileWords.
pub const FILE_BYTES: usize = 16 * 1024;
pub const FILE_WORDS: usize = FILE_BYTES / 8;

/// bench::file_word: word k (little-endian on disk) of file i.
pub fn file_word(file: i64, k: i64) -> u64 {
    splitmix64(((file as u64) << 32) | (k as u64))
}

const FNV_BASIS: u64 = 0xcbf29ce484222325;
const FNV_PRIME: u64 = 0x100000001b3;

/// bench::checksum_words: FNV-1a over little-endian 64-bit words.
pub fn checksum_words(p: &[u8]) -> u64 {
    let mut h = FNV_BASIS;
    for w in p.chunks_exact(8) {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(FNV_PRIME);
    }
    h
}

/// bench::expected_file_checksum.
pub fn expected_file_checksum(file: i64) -> u64 {
    let mut h = FNV_BASIS;
    for k in 0..FILE_WORDS as i64 {
        h = (h ^ file_word(file, k)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// bench::fill_file: file i's contents.
pub fn file_contents(file: i64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(FILE_BYTES);
    for k in 0..FILE_WORDS as i64 {
        buf.extend_from_slice(&file_word(file, k).to_le_bytes());
    }
    buf
}

/// The checksum of a file read back: checksum_words, or 0 when the length
/// is wrong (as bench::read_file_checksum).
pub fn checksum_of(data: &[u8]) -> u64 {
    if data.len() == FILE_BYTES {
        checksum_words(data)
    } else {
        0
    }
}

/// bench::kExerciseBase, kAllofcpuRange, allofcpu_count.
pub const EXERCISE_BASE: i64 = 1_000_000;
pub const ALLOFCPU_RANGE: i64 = 1_000;
pub fn allofcpu_count(k: i64) -> i64 {
    count_primes_trial(EXERCISE_BASE + k * ALLOFCPU_RANGE, EXERCISE_BASE + (k + 1) * ALLOFCPU_RANGE)
}

/// bench::kPoolTasks, kPoolQueue, kPoolJobRange, kPoolSleepMs,
/// pool_job_is_sleep, pool_cpu_job.
pub const POOL_TASKS: usize = 8;
pub const POOL_QUEUE: usize = 64;
pub const POOL_JOB_RANGE: i64 = 100;
pub const POOL_SLEEP_MS: u64 = 1;
pub fn pool_job_is_sleep(k: i64) -> bool {
    k % 2 != 0
}
pub fn pool_cpu_job(k: i64) -> i64 {
    count_primes_trial(EXERCISE_BASE + k * POOL_JOB_RANGE, EXERCISE_BASE + (k + 1) * POOL_JOB_RANGE)
}

/// bench::expected_disk_sum (and file_set::expected_sum): the sum mod 2^64
/// of the n files' checksums.
pub fn expected_files_sum(n: i64) -> u64 {
    (0..n).fold(0u64, |s, i| s.wrapping_add(expected_file_checksum(i)))
}

/// A fresh directory under $TMPDIR (or /tmp), removed with its files on drop
/// (bench::scratch_dir and bench::file_set's directory).
pub struct ScratchDir {
    pub path: std::path::PathBuf,
}

impl ScratchDir {
    pub fn new(prefix: &str) -> ScratchDir {
        let base = std::env::var_os("TMPDIR")
            .filter(|t| !t.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/tmp".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = base.join(format!("{}-{}-{}", prefix, std::process::id(), nanos));
        std::fs::create_dir(&path).unwrap_or_else(|e| {
            eprintln!("rust-bench: cannot create {}: {}", path.display(), e);
            std::process::exit(1)
        });
        ScratchDir { path }
    }
    pub fn file(&self, i: i64) -> std::path::PathBuf {
        self.path.join(format!("f{}", i))
    }
    /// fileio's untimed setup: n files written sequentially.
    pub fn write_files(&self, n: i64) {
        for i in 0..n {
            std::fs::write(self.file(i), file_contents(i)).unwrap_or_else(|e| {
                eprintln!("rust-bench: fileio setup: {}", e);
                std::process::exit(1)
            });
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/// What buf holds: None while the HTTP response is incomplete, Some(true)
/// once it is one complete 200 response (head and Content-Length body),
/// Some(false) if it is malformed or not a 200.
pub fn response_state(buf: &[u8]) -> Option<bool> {
    let head_end = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => p,
        None => return if buf.len() > 64 * 1024 { Some(false) } else { None },
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    if !head.starts_with("HTTP/1.1 200") {
        return Some(false);
    }
    let length = head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            value.trim().parse::<usize>().ok()
        } else {
            None
        }
    });
    let want = match length {
        Some(l) => head_end + 4 + l,
        None => return Some(false),
    };
    if buf.len() < want {
        None
    } else {
        Some(buf.len() == want)
    }
}
