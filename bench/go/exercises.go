package main

// The seed's exercises, as weft-bench's exercises.cpp and net_client.cpp
// run them (see there for the full description): onetask, allofcpu,
// allofsleep (= latency, apps.go), allofnet, pool and disk. Goroutines and
// channels, as Go users write them; the file calls are plain os calls in
// goroutines (Go's runtime hands a blocked thread's P to another thread).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// onetask: n times, one goroutine computes k+1 and sends it back; main
// waits for it. result is n if every value was right.
func runOnetask(n int64) outcome {
	ok := true
	start := time.Now()
	for k := int64(0); k < n; k++ {
		ch := make(chan int64, 1)
		go func(k int64) { ch <- k + 1 }(k)
		ok = ok && <-ch == k+1
	}
	elapsed := time.Since(start)
	result := n
	if !ok {
		result = -1
	}
	return outcome{result: result, elapsed: elapsed, ops: n}
}

// allofcpu: n goroutines each count allofcpuCount(k). result is the sum.
func runAllofcpu(n int64) outcome {
	counts := make(chan int64, reportBuffer)
	start := time.Now()
	for k := int64(0); k < n; k++ {
		go func(k int64) { counts <- allofcpuCount(k) }(k)
	}
	var total int64
	for k := int64(0); k < n; k++ {
		total += <-counts
	}
	return outcome{result: total, elapsed: time.Since(start), ops: n}
}

// pool: poolTasks workers range over the job channel (fed by a feeder
// goroutine main starts) and send results back. result is their sum.
func runPool(n int64) outcome {
	jobs := make(chan int64, poolQueue)
	results := make(chan int64, poolQueue)
	start := time.Now()
	for w := 0; w < poolTasks; w++ {
		go func() {
			for k := range jobs {
				if k%2 == 0 {
					results <- poolCPUJob(k)
				} else {
					time.Sleep(poolSleepMs * time.Millisecond)
					results <- 1
				}
			}
		}()
	}
	go func() {
		for k := int64(0); k < n; k++ {
			jobs <- k
		}
		close(jobs)
	}()
	var total int64
	for k := int64(0); k < n; k++ {
		total += <-results
	}
	return outcome{result: total, elapsed: time.Since(start), ops: n}
}

// disk: n goroutines each write file i into a fresh directory (made before
// the clock starts, removed after it stops), read it back and send its
// checksum. result is n if the checksums sum as expected.
func runDisk(n int64) outcome {
	dir, err := os.MkdirTemp("", "weft-disk-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-bench: disk:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	sums := make(chan uint64, reportBuffer)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			sums <- writeReadFileChecksum(filepath.Join(dir, fmt.Sprintf("f%d", i)), i)
		}(i)
	}
	var sum uint64
	for i := int64(0); i < n; i++ {
		sum += <-sums
	}
	elapsed := time.Since(start)
	result := n
	if sum != expectedDiskSum(n) {
		result = -1
	}
	return outcome{result: result, elapsed: elapsed, ops: n}
}

// oneRequest: one connection to addr, one GET, the whole response read
// (net/http's response parser reads the head and the Content-Length body).
func oneRequest(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false // a failed connect counts as a failure; no retry
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == 200 && int64(len(body)) == resp.ContentLength
}

// allofnet: n goroutines each do oneRequest. result is the number of
// complete 200 responses.
func runAllofnet(n int64, addr string) outcome {
	done := make(chan int64, reportBuffer)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			if oneRequest(addr) {
				done <- 1
			} else {
				done <- 0
			}
		}()
	}
	var ok int64
	for i := int64(0); i < n; i++ {
		ok += <-done
	}
	return outcome{result: ok, elapsed: time.Since(start), ops: n}
}
