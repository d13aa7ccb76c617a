package main

// The deterministic workloads of the application-shaped scenarios, the same
// functions as bench/common/workloads.hpp (which weft-bench,
// boost-fiber-bench and weft-compare use): change both together.

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// splitmix64 is SplitMix64's output function (Steele, Lea and Flood,
// OOPSLA 2014): a bijective 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// primeChunk is the number of integers one cpusplit task checks.
const primeChunk = 10000

// isPrimeTrial: trial division by 2 and the odd numbers up to sqrt(k).
func isPrimeTrial(k int64) bool {
	if k < 2 {
		return false
	}
	if k%2 == 0 {
		return k == 2
	}
	for d := int64(3); d*d <= k; d += 2 {
		if k%d == 0 {
			return false
		}
	}
	return true
}

func countPrimesTrial(lo, hi int64) int64 {
	var count int64
	for k := lo; k < hi; k++ {
		if isPrimeTrial(k) {
			count++
		}
	}
	return count
}

// jobRounds chained rounds of splitmix64 make one workerpool job.
const jobRounds = 200

func jobWork(i uint64) uint64 {
	h := i
	for r := 0; r < jobRounds; r++ {
		h = splitmix64(h)
	}
	return h
}

// latencyMs: task i of the latency scenario waits 50..200 ms.
func latencyMs(i int64) int64 {
	return 50 + int64(splitmix64(uint64(i))%151)
}

const fileBytes = 16 * 1024
const fileWords = fileBytes / 8

// fileWord is word k (little-endian on disk) of file i.
func fileWord(file, k int64) uint64 {
	return splitmix64(uint64(file)<<32 | uint64(k))
}

const fnvBasis, fnvPrime = 0xcbf29ce484222325, 0x100000001b3

// checksumWords is FNV-1a over little-endian 64-bit words.
func checksumWords(p []byte) uint64 {
	h := uint64(fnvBasis)
	for off := 0; off+8 <= len(p); off += 8 {
		h = (h ^ binary.LittleEndian.Uint64(p[off:])) * fnvPrime
	}
	return h
}

func expectedFileChecksum(file int64) uint64 {
	h := uint64(fnvBasis)
	for k := int64(0); k < fileWords; k++ {
		h = (h ^ fileWord(file, k)) * fnvPrime
	}
	return h
}

// fileSet is fileio's untimed setup: n files of fileBytes in a fresh
// directory under $TMPDIR (or /tmp), written sequentially.
type fileSet struct {
	dir string
	n   int64
}

func newFileSet(n int64) *fileSet {
	dir, err := os.MkdirTemp("", "weft-fileio-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-bench: fileio:", err)
		os.Exit(1)
	}
	s := &fileSet{dir: dir, n: n}
	buf := make([]byte, fileBytes)
	for i := int64(0); i < n; i++ {
		for k := int64(0); k < fileWords; k++ {
			binary.LittleEndian.PutUint64(buf[k*8:], fileWord(i, k))
		}
		if err := os.WriteFile(s.path(i), buf, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "go-bench: fileio:", err)
			os.Exit(1)
		}
	}
	return s
}

func (s *fileSet) path(i int64) string { return filepath.Join(s.dir, fmt.Sprintf("f%d", i)) }

func (s *fileSet) expectedSum() uint64 {
	var sum uint64
	for i := int64(0); i < s.n; i++ {
		sum += expectedFileChecksum(i)
	}
	return sum
}

func (s *fileSet) remove() { os.RemoveAll(s.dir) }

// --- the exercises: allofcpu, pool and disk (workloads.hpp's section of the
// same name) ---

// exerciseBase: allofcpu's ranges and pool's CPU jobs start here.
const exerciseBase = 1000000

// allofcpuRange numbers per allofcpu task; allofcpuCount mirrors
// bench::allofcpu_count.
const allofcpuRange = 1000

func allofcpuCount(k int64) int64 {
	return countPrimesTrial(exerciseBase+k*allofcpuRange, exerciseBase+(k+1)*allofcpuRange)
}

// The pool exercise: poolTasks workers, queues of poolQueue, job k is CPU
// (poolCPUJob, mirroring bench::pool_cpu_job) when even and a poolSleepMs
// sleep (result 1) when odd.
const poolTasks = 8
const poolQueue = 64
const poolJobRange = 100
const poolSleepMs = 1

func poolCPUJob(k int64) int64 {
	return countPrimesTrial(exerciseBase+k*poolJobRange, exerciseBase+(k+1)*poolJobRange)
}

// fillFile puts file i's words into buf (fileBytes), little-endian
// (bench::fill_file).
func fillFile(file int64, buf []byte) {
	for k := int64(0); k < fileWords; k++ {
		binary.LittleEndian.PutUint64(buf[k*8:], fileWord(file, k))
	}
}

// writeReadFileChecksum mirrors bench::write_read_file_checksum: writes file
// i at path (no fsync), closes it, reads it back and returns its checksum,
// or 0 if a call failed or the length is wrong.
func writeReadFileChecksum(path string, file int64) uint64 {
	buf := make([]byte, fileBytes)
	fillFile(file, buf)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return 0
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) != fileBytes {
		return 0
	}
	return checksumWords(data)
}

func expectedDiskSum(n int64) uint64 {
	var s uint64
	for i := int64(0); i < n; i++ {
		s += expectedFileChecksum(i)
	}
	return s
}
