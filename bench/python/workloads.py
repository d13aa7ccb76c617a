"""The deterministic workloads of the benchmark scenarios, ported from
bench/common/workloads.hpp (which weft-bench, boost-fiber-bench and
weft-compare use; bench/go/workloads.go carries the same again): change them
together. Every function names the C++ function it mirrors. Python ints are
unbounded, so every 64-bit step is masked with MASK64 to get C++'s uint64_t
wrap-around.

Also the scenarios' shared pieces that are not a model's concurrency: the
HTTP/1.1 request of `allofnet` and its response check, the files of `fileio`
and `disk`, and the job of `pool`.
"""

import os
import shutil
import socket
import struct
import tempfile
import time

MASK64 = (1 << 64) - 1


def splitmix64(x):
    """bench::splitmix64: SplitMix64's output function (Steele, Lea and
    Flood, OOPSLA 2014), a bijective 64-bit mixer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


# bench::kPrimeChunk: numbers per cpusplit task, [k*PRIME_CHUNK, (k+1)*PRIME_CHUNK).
PRIME_CHUNK = 10_000


def is_prime_trial(k):
    """bench::is_prime_trial: trial division by 2 and the odd numbers up to
    sqrt(k)."""
    if k < 2:
        return False
    if k % 2 == 0:
        return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0:
            return False
        d += 2
    return True


def count_primes_trial(lo, hi):
    """bench::count_primes_trial: the primes in [lo, hi) by trial division."""
    count = 0
    for k in range(lo, hi):
        if is_prime_trial(k):
            count += 1
    return count


def cpusplit_chunk(k, n):
    """cpusplit's task k: the primes in [k*PRIME_CHUNK, min((k+1)*PRIME_CHUNK, n))."""
    return count_primes_trial(k * PRIME_CHUNK, min((k + 1) * PRIME_CHUNK, n))


def cpusplit_chunks(n):
    """The number of cpusplit tasks for the primes below n."""
    return (n + PRIME_CHUNK - 1) // PRIME_CHUNK


def allofcpu_task(k):
    """allofcpu's task k: the primes in [1'000'000 + k*1'000, 1'000'000 + (k+1)*1'000)."""
    return count_primes_trial(1_000_000 + k * 1_000, 1_000_000 + (k + 1) * 1_000)


def pool_cpu_job(k):
    """pool's even job k: the primes in [1'000'000 + k*100, 1'000'000 + (k+1)*100)."""
    return count_primes_trial(1_000_000 + k * 100, 1_000_000 + (k + 1) * 100)


POOL_WORKERS = 8  # the pool scenario's workers, in every model
POOL_IO_SECONDS = 0.001  # an odd pool job's sleep
POOL_JOB_BUFFER = 64  # the job queue's capacity where the model has one (workerpool's in Go)


def pool_job_blocking(k):
    """pool's job k for a model whose tasks may block (threads, processes):
    even k counts primes (CPU), odd k sleeps 1 ms (I/O) and yields 1."""
    if k % 2 == 0:
        return pool_cpu_job(k)
    time.sleep(POOL_IO_SECONDS)
    return 1


def latency_ms(i):
    """bench::latency_ms: task i waits 50 + (splitmix64(i) mod 151) ms."""
    return 50 + splitmix64(i) % 151


# bench::kFileBytes, kFileWords.
FILE_BYTES = 16 * 1024
FILE_WORDS = FILE_BYTES // 8

# bench::kFnvBasis, kFnvPrime.
FNV_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3

_WORDS = struct.Struct("<%dQ" % FILE_WORDS)


def file_words(i):
    """bench::file_word(i, k) for k in [0, FILE_WORDS): file i's words."""
    return [splitmix64(((i << 32) | k) & MASK64) for k in range(FILE_WORDS)]


def checksum_of_words(words):
    """bench::expected_file_checksum's loop: FNV-1a over 64-bit words given
    as ints (not through bytes, so it checks checksum_words' decoding)."""
    h = FNV_BASIS
    for w in words:
        h = ((h ^ w) * FNV_PRIME) & MASK64
    return h


def checksum_words(data):
    """bench::checksum_words: FNV-1a over the little-endian 64-bit words of
    data (a trailing partial word is ignored)."""
    h = FNV_BASIS
    for (w,) in struct.iter_unpack("<Q", data[: len(data) // 8 * 8]):
        h = ((h ^ w) * FNV_PRIME) & MASK64
    return h


def file_contents(i):
    """File i's bytes, as bench::file_set writes them, and its expected
    checksum (bench::expected_file_checksum(i))."""
    words = file_words(i)
    return _WORDS.pack(*words), checksum_of_words(words)


def file_checksum(data):
    """The checksum of a whole file's bytes as read back, or 0 if it does
    not have FILE_BYTES bytes (bench::read_file_checksum's check)."""
    return checksum_words(data) if len(data) == FILE_BYTES else 0


def read_file_checksum(path):
    """bench::read_file_checksum: the checksum of a whole file, or 0 if it
    cannot be read or does not have FILE_BYTES bytes. Blocks the caller."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return file_checksum(data)


def write_file(path, data):
    """disk's write half: creates (or truncates) path and writes data. No fsync."""
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    """disk's read half: the whole file's bytes."""
    with open(path, "rb") as f:
        return f.read()


def write_then_checksum(path, data):
    """disk's task for a blocking model: writes the file, reads it back and
    returns the checksum of what it read (0 if it had the wrong size)."""
    write_file(path, data)
    return file_checksum(read_file(path))


class FileDir:
    """A fresh directory under $TMPDIR (or /tmp), removed with its files by
    remove() or at the end of a `with FileDir(...) as files:` block.
    fileio's setup fills it with n files (bench::file_set); disk's setup
    leaves it empty and keeps the contents in memory for the tasks. Both
    are untimed: generating 16 KiB with splitmix64 costs about a
    millisecond of pure Python per file, which would make disk a CPU-bound
    exercise in this language only."""

    def __init__(self, n, prefix, write):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.n = n
        self.contents = []
        self.expected_sum = 0
        for i in range(n):
            data, check = file_contents(i)
            self.expected_sum = (self.expected_sum + check) & MASK64
            if write:
                write_file(self.path(i), data)
            else:
                self.contents.append(data)

    def path(self, i):
        return os.path.join(self.dir, "f%d" % i)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def result(self, sums):
        """disk's and fileio's result from the n checksums the tasks
        returned: n if their sum is the files' expected sum, else -1."""
        return self.n if sum(sums) & MASK64 == self.expected_sum else -1


# --- allofnet: one HTTP/1.1 request on a fresh connection -----------------

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def parse_http_head(head):
    """(status, content_length) of a response head (the bytes before the
    blank line), or None if it is not an HTTP/1.x response with a
    Content-Length."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return None
    length = None
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    if length is None:
        return None
    return int(parts[1]), length


def http_get_blocking(host, port):
    """allofnet's task for a blocking model: connects to host:port, sends
    HTTP_REQUEST, reads the whole response (head and Content-Length body)
    and closes. 1 for a complete 200 response, 0 for anything else (a failed
    connect included: no retry)."""
    try:
        with socket.create_connection((host, port)) as s:
            s.sendall(HTTP_REQUEST)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return 0
                buf += chunk
            head, _, body = buf.partition(b"\r\n\r\n")
            parsed = parse_http_head(head)
            if parsed is None:
                return 0
            status, length = parsed
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    return 0
                body += chunk
            return 1 if status == 200 and len(body) == length else 0
    except OSError:
        return 0


def task_limit():
    """How many threads or processes this user may have alive at once: the
    smallest of the kernel's pid_max and threads-max and RLIMIT_NPROC, less
    what the machine runs already (a rough count: one pid per task)."""
    import resource

    limits = []
    for f in ("/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"):
        try:
            with open(f) as fh:
                limits.append((int(fh.read()), f.rsplit("/", 1)[1]))
        except (OSError, ValueError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY:
        limits.append((soft, "RLIMIT_NPROC"))
    if not limits:
        return None
    limit, name = min(limits)
    try:
        running = sum(1 for _ in os.listdir("/proc") if _.isdigit())
    except OSError:
        running = 0
    return limit - running - 64, name


class NotExpressible(Exception):
    """Raised by a model for a scenario (or a size) it cannot run; the
    message says why and becomes pybench's `not expressible:` line."""


def check_alive_limit(n, what):
    """Raises NotExpressible if n threads or processes alive at once would
    pass this machine's limit (task_limit)."""
    limit = task_limit()
    if limit is not None and n > limit[0]:
        raise NotExpressible("n=%d %s alive at once exceed this machine's limit of about %d (%s)"
                             % (n, what, limit[0], limit[1]))


def check_fd_limit(n, what):
    """Raises NotExpressible if n open descriptors (one per task, plus a
    margin for the interpreter's own) would pass RLIMIT_NOFILE."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and n > soft - 64:
        raise NotExpressible("n=%d %s, one descriptor each, exceed RLIMIT_NOFILE=%d" % (n, what, soft))
