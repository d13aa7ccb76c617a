package main

// The application-shaped scenarios, as weft-bench's app_scenarios.cpp and
// boost-fiber-bench run them (see there for the full description):
// sieve, workerpool, cpusplit, latency, fileio and scale. Shutdown is
// explicit, as in the C++ programs, so no goroutine is left blocked.

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const reportBuffer = 1024 // capacity of the channels many tasks report on
const poolWorkers = 8     // workerpool's workers
const poolBuffer = 64     // capacity of workerpool's job and result channels

// sieve: Go's concurrent prime sieve (go.dev/doc/play/sieve.go) with an
// explicit stop: main raises `stop` after the n-th prime and drains the
// last channel; the generator closes its output after its next send, and
// each filter closes its output once its input is closed and drained.
// result is the n-th prime; the clock stops before the drain.
func runSieve(n int64) outcome {
	var stop atomic.Bool
	start := time.Now()
	in := make(chan int64)
	go func(out chan<- int64) {
		for i := int64(2); !stop.Load(); i++ {
			out <- i
		}
		close(out)
	}(in)
	var last int64
	for k := int64(0); k < n; k++ {
		prime := <-in
		last = prime
		out := make(chan int64)
		go func(in <-chan int64, out chan<- int64, prime int64) {
			for v := range in {
				if v%prime != 0 {
					out <- v
				}
			}
			close(out)
		}(in, out, prime)
		in = out
	}
	elapsed := time.Since(start)
	stop.Store(true)
	for range in {
	}
	return outcome{result: last, elapsed: elapsed, ops: n}
}

// workerpool: a feeder sends jobs 0..n-1 and closes the job channel;
// poolWorkers workers range over it and send results back; main receives n
// results. result is n if they sum as computed sequentially, else -1.
func runWorkerpool(n int64) outcome {
	var want uint64
	for i := int64(0); i < n; i++ {
		want += jobWork(uint64(i))
	}
	jobs := make(chan int64, poolBuffer)
	results := make(chan uint64, poolBuffer)
	start := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	for w := 0; w < poolWorkers; w++ {
		go func() {
			for j := range jobs {
				results <- jobWork(uint64(j))
			}
		}()
	}
	var sum uint64
	for i := int64(0); i < n; i++ {
		sum += <-results
	}
	elapsed := time.Since(start)
	result := n
	if sum != want {
		result = -1
	}
	return outcome{result: result, elapsed: elapsed, ops: n}
}

// cpusplit: the primes below n by trial division, one goroutine per chunk
// of primeChunk numbers. result is the count.
func runCpusplit(n int64) outcome {
	chunks := (n + primeChunk - 1) / primeChunk
	counts := make(chan int64, reportBuffer)
	start := time.Now()
	for k := int64(0); k < chunks; k++ {
		go func(k int64) {
			lo, hi := k*primeChunk, (k+1)*primeChunk
			if hi > n {
				hi = n
			}
			counts <- countPrimesTrial(lo, hi)
		}(k)
	}
	var total int64
	for k := int64(0); k < chunks; k++ {
		total += <-counts
	}
	return outcome{result: total, elapsed: time.Since(start), ops: n}
}

// latency: goroutine i sleeps latencyMs(i) and sends it back. result is n
// if every latency came back.
func runLatency(n int64) outcome {
	var want int64
	for i := int64(0); i < n; i++ {
		want += latencyMs(i)
	}
	done := make(chan int64, reportBuffer)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			ms := latencyMs(i)
			time.Sleep(time.Duration(ms) * time.Millisecond)
			done <- ms
		}(i)
	}
	var sum int64
	for i := int64(0); i < n; i++ {
		sum += <-done
	}
	elapsed := time.Since(start)
	result := n
	if sum != want {
		result = -1
	}
	return outcome{result: result, elapsed: elapsed, ops: n}
}

// fileio: n files written beforehand (untimed); one goroutine per file
// reads it with os.ReadFile and sends its checksum. result is n if the
// checksums sum correctly.
func runFileio(n int64) outcome {
	files := newFileSet(n)
	defer files.remove()
	want := files.expectedSum()
	sums := make(chan uint64, reportBuffer)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func(path string) {
			data, err := os.ReadFile(path)
			if err != nil || len(data) != fileBytes {
				sums <- 0
				return
			}
			sums <- checksumWords(data)
		}(files.path(i))
	}
	var sum uint64
	for i := int64(0); i < n; i++ {
		sum += <-sums
	}
	elapsed := time.Since(start)
	result := n
	if sum != want {
		result = -1
	}
	return outcome{result: result, elapsed: elapsed, ops: n}
}

// scale: n goroutines alive at once; each signals a WaitGroup and parks on
// a gate channel; once all have started, main closes the gate and receives
// one value from each. result is the number of values received.
func runScale(n int64) outcome {
	gate := make(chan struct{})
	done := make(chan int, reportBuffer)
	var ready sync.WaitGroup
	ready.Add(int(n))
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			ready.Done()
			<-gate
			done <- 1
		}()
	}
	ready.Wait()
	close(gate)
	var got int64
	for i := int64(0); i < n; i++ {
		got += int64(<-done)
	}
	return outcome{result: got, elapsed: time.Since(start), ops: n}
}
