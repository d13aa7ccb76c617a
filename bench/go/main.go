// Command go-bench is the Go reference for weft's macro benchmark scenarios.
//
// Usage:
//
//	go-bench <scenario> [-model=go] [-workers N] [-n N] [-addr HOST:PORT]
//
// Scenarios: skynet, spawn, yield, parked, pingpong, spsc, mpmc, select2,
// select2b, mutex, the application-shaped ones in apps.go: sieve,
// workerpool, cpusplit, latency, fileio, scale, and the seed's exercises in
// exercises.go: onetask, allofcpu, allofsleep (= latency), allofnet (a
// client of -addr), pool, disk. Flags may be written -x v, -x=v or --x=v. The program sets
// runtime.GOMAXPROCS(workers) (default: number of CPUs; yield forces 1) and
// prints exactly one line on stdout, the format shared with weft-bench and
// boost-fiber-bench and parsed by weft-compare:
//
//	weft-bench: scenario=<s> model=go workers=<w> n=<n> result=<int> elapsed_ns=<int> ops=<int> [bytes_per_task=<int>]
//
// result is the correctness value: the skynet sum (n*(n-1)/2), the n-th
// prime (sieve), the number of primes below n (cpusplit), or n for the other
// scenarios. elapsed_ns covers the workload only (not flag parsing, not
// process start-up, not the settling sleep of "parked").
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is what a scenario reports; it becomes the output line.
type outcome struct {
	result       int64
	elapsed      time.Duration
	ops          int64
	bytesPerTask int64 // printed only when hasBytes
	hasBytes     bool
}

// ---------------------------------------------------------------------------
// skynet: a 10-ary tree of goroutines, one unbuffered channel per inner node.

func skynetNode(parent chan<- int64, num, size int64) {
	if size == 1 {
		parent <- num
		return
	}
	rc := make(chan int64) // unbuffered, as in the classic benchmark
	child := size / 10
	for i := int64(0); i < 10; i++ {
		go skynetNode(rc, num+i*child, child)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	parent <- sum
}

func runSkynet(n int64) outcome {
	start := time.Now()
	root := make(chan int64)
	go skynetNode(root, 0, n)
	sum := <-root
	elapsed := time.Since(start)
	// ops = n (the leaves), as weft-bench counts it, so ns/op compares.
	return outcome{result: sum, elapsed: elapsed, ops: n}
}

// ---------------------------------------------------------------------------
// spawn: n trivial goroutines, each writes its index into its own slot.

func runSpawn(n int64) outcome {
	slots := make([]int64, n)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			slots[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var ok int64
	for i, v := range slots {
		if v == int64(i) {
			ok++
		}
	}
	return outcome{result: ok, elapsed: elapsed, ops: n}
}

// ---------------------------------------------------------------------------
// yield: two goroutines on one P, each calling Gosched n times.

func runYield(n int64) outcome {
	var wg sync.WaitGroup
	var counts [2]int64
	start := time.Now()
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go func(g int) {
			for i := int64(0); i < n; i++ {
				runtime.Gosched()
				counts[g]++
			}
			wg.Done()
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Both goroutines must have finished all their iterations.
	result := counts[0]
	if counts[1] != counts[0] {
		result = -1
	}
	return outcome{result: result, elapsed: elapsed, ops: 2 * n}
}

// ---------------------------------------------------------------------------
// parked: resident memory per goroutine blocked on a channel receive.

// residentBytes reads the resident set size from /proc/self/statm (second
// field, in pages).
func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-bench: cannot read /proc/self/statm:", err)
		os.Exit(1)
	}
	fields := bytes.Fields(data)
	if len(fields) < 2 {
		fmt.Fprintln(os.Stderr, "go-bench: malformed /proc/self/statm")
		os.Exit(1)
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-bench: malformed /proc/self/statm:", err)
		os.Exit(1)
	}
	return pages * int64(os.Getpagesize())
}

func runParked(n int64) outcome {
	gate := make(chan struct{}) // unbuffered; nobody sends, closed at the end
	var parked, finished sync.WaitGroup
	var woke int64
	var mu sync.Mutex

	runtime.GC()
	debug.FreeOSMemory()
	before := residentBytes()

	start := time.Now()
	parked.Add(int(n))
	finished.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			parked.Done() // just before blocking
			<-gate
			mu.Lock()
			woke++
			mu.Unlock()
			finished.Done()
		}()
	}
	parked.Wait()
	elapsed := time.Since(start) // time to start n goroutines that park
	// Done() happens just before the receive: give the last ones time to
	// actually block before sampling.
	time.Sleep(100 * time.Millisecond)
	after := residentBytes()

	close(gate)
	finished.Wait()
	return outcome{result: woke, elapsed: elapsed, ops: n,
		bytesPerTask: (after - before) / n, hasBytes: true}
}

// ---------------------------------------------------------------------------
// pingpong: an int bounced between two goroutines over two unbuffered channels.

func runPingpong(n int64) outcome {
	ping := make(chan int64)
	pong := make(chan int64)
	done := make(chan int64)
	start := time.Now()
	go func() { // echo: returns every value incremented
		for v := range ping {
			pong <- v + 1
		}
	}()
	go func() {
		var v int64
		for i := int64(0); i < n; i++ {
			ping <- v
			v = <-pong
		}
		close(ping)
		done <- v
	}()
	v := <-done
	elapsed := time.Since(start)
	return outcome{result: v, elapsed: elapsed, ops: n}
}

// ---------------------------------------------------------------------------
// The channel-layer scenarios. Buffered channels have capacity 1024, as in
// weft-bench and boost-fiber-bench.

const bufferCap = 1024

// spsc: one producer sends 0..n-1 over a buffered channel; the main
// goroutine receives them. result is n if every value arrived, in order.
func runSpsc(n int64) outcome {
	ch := make(chan int64, bufferCap)
	start := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			ch <- i
		}
		close(ch)
	}()
	next, inOrder := int64(0), true
	for v := range ch {
		inOrder = inOrder && v == next
		next++
	}
	elapsed := time.Since(start)
	if !inOrder {
		next = -1
	}
	return outcome{result: next, elapsed: elapsed, ops: n}
}

// mpmc: 4 producers send 0..n-1 between them over one buffered channel, 4
// consumers receive; the last producer to finish closes the channel. result
// is the number of values received, or -1 if their sum is not n*(n-1)/2.
func runMpmc(n int64) outcome {
	const producers, consumers = 4, 4
	ch := make(chan int64, bufferCap)
	counts := make(chan int64, consumers)
	var left int32 = producers
	var sum int64
	start := time.Now()
	for p := int64(0); p < producers; p++ {
		go func(p int64) {
			for i := p * n / producers; i < (p+1)*n/producers; i++ {
				ch <- i
			}
			if atomic.AddInt32(&left, -1) == 0 {
				close(ch)
			}
		}(p)
	}
	for k := 0; k < consumers; k++ {
		go func() {
			var got, s int64
			for v := range ch {
				got++
				s += v
			}
			atomic.AddInt64(&sum, s)
			counts <- got
		}()
	}
	var got int64
	for k := 0; k < consumers; k++ {
		got += <-counts
	}
	elapsed := time.Since(start)
	if atomic.LoadInt64(&sum) != n*(n-1)/2 {
		got = -1
	}
	return outcome{result: got, elapsed: elapsed, ops: n}
}

// select2 (capacity 0) and select2b (capacity 1024): two channels, each fed
// by its own producer (0..n/2-1 and n/2..n-1); the main goroutine receives
// n values with a select over both. result is n if the values sum correctly.
func runSelect2(n int64, capacity int) outcome {
	a := make(chan int64, capacity)
	b := make(chan int64, capacity)
	half := n / 2
	start := time.Now()
	go func() {
		for i := int64(0); i < half; i++ {
			a <- i
		}
	}()
	go func() {
		for i := half; i < n; i++ {
			b <- i
		}
	}()
	var got, sum int64
	for i := int64(0); i < n; i++ {
		select {
		case v := <-a:
			got++
			sum += v
		case v := <-b:
			got++
			sum += v
		}
	}
	elapsed := time.Since(start)
	if sum != n*(n-1)/2 {
		got = -1
	}
	return outcome{result: got, elapsed: elapsed, ops: n}
}

// mutex: 8 goroutines share n Lock/increment/Unlock rounds on one
// sync.Mutex. result is the final counter.
func runMutex(n int64) outcome {
	const tasks = 8
	var mu sync.Mutex
	var counter int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(tasks)
	for t := int64(0); t < tasks; t++ {
		go func(t int64) {
			for i := t * n / tasks; i < (t+1)*n/tasks; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}(t)
	}
	wg.Wait()
	elapsed := time.Since(start)
	mu.Lock()
	result := counter
	mu.Unlock()
	return outcome{result: result, elapsed: elapsed, ops: n}
}

// ---------------------------------------------------------------------------

func usage() {
	fmt.Fprintln(os.Stderr,
		"usage: go-bench <skynet|spawn|yield|parked|pingpong|spsc|mpmc|select2|select2b|mutex|\n"+
			"                 sieve|workerpool|cpusplit|latency|fileio|scale|\n"+
			"                 onetask|allofcpu|allofsleep|allofnet|pool|disk>\n"+
			"                [-model=go] [-workers N] [-n N] [-addr HOST:PORT]")
	os.Exit(2)
}

func isPowerOf10(n int64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

func main() {
	if len(os.Args) >= 2 && isServeMode(os.Args[1]) {
		os.Exit(serveMain(os.Args[1], os.Args[2:])) // the network servers, net.go
	}
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
	}
	scenario := os.Args[1]
	defaults := map[string]int64{
		"skynet": 1000000, "spawn": 100000, "yield": 1000000,
		"parked": 100000, "pingpong": 1000000,
		"spsc": 1000000, "mpmc": 1000000, "select2": 1000000, "select2b": 1000000,
		"mutex": 1000000,
		"sieve": 1000, "workerpool": 100000, "cpusplit": 1000000,
		"latency": 10000, "fileio": 1000, "scale": 10000,
		"onetask": 10000, "allofcpu": 1000, "allofsleep": 10000,
		"allofnet": 1000, "pool": 10000, "disk": 1000,
	}
	defN, known := defaults[scenario]
	if !known {
		fmt.Fprintf(os.Stderr, "go-bench: unknown scenario %q\n", scenario)
		usage()
	}

	flags := flag.NewFlagSet("go-bench", flag.ExitOnError)
	workers := flags.Int("workers", runtime.NumCPU(), "GOMAXPROCS")
	n := flags.Int64("n", defN, "problem size")
	model := flags.String("model", "go", "the model: go (goroutines) is the only one")
	addr := flags.String("addr", "", "allofnet's HTTP server, HOST:PORT")
	flags.Parse(os.Args[2:])
	if *model != "go" {
		fmt.Fprintf(os.Stderr, "go-bench: unknown model %q; the only model is go\n", *model)
		os.Exit(2)
	}
	if scenario == "allofnet" && *addr == "" {
		fmt.Fprintln(os.Stderr, "go-bench: allofnet needs -addr HOST:PORT")
		os.Exit(2)
	}
	if *workers < 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "go-bench: -workers and -n must be positive")
		os.Exit(2)
	}
	if scenario == "skynet" && !isPowerOf10(*n) {
		fmt.Fprintln(os.Stderr, "go-bench: skynet needs n to be a power of 10")
		os.Exit(2)
	}
	if scenario == "yield" {
		*workers = 1 // a switch benchmark: one P, two goroutines
	}
	runtime.GOMAXPROCS(*workers)

	var out outcome
	switch scenario {
	case "skynet":
		out = runSkynet(*n)
	case "spawn":
		out = runSpawn(*n)
	case "yield":
		out = runYield(*n)
	case "parked":
		out = runParked(*n)
	case "pingpong":
		out = runPingpong(*n)
	case "spsc":
		out = runSpsc(*n)
	case "mpmc":
		out = runMpmc(*n)
	case "select2":
		out = runSelect2(*n, 0)
	case "select2b":
		out = runSelect2(*n, bufferCap)
	case "mutex":
		out = runMutex(*n)
	case "sieve":
		out = runSieve(*n)
	case "workerpool":
		out = runWorkerpool(*n)
	case "cpusplit":
		out = runCpusplit(*n)
	case "latency":
		out = runLatency(*n)
	case "fileio":
		out = runFileio(*n)
	case "scale":
		out = runScale(*n)
	case "onetask":
		out = runOnetask(*n)
	case "allofcpu":
		out = runAllofcpu(*n)
	case "allofsleep":
		out = runLatency(*n)
	case "allofnet":
		out = runAllofnet(*n, *addr)
	case "pool":
		out = runPool(*n)
	case "disk":
		out = runDisk(*n)
	}

	line := fmt.Sprintf("weft-bench: scenario=%s model=go workers=%d n=%d result=%d elapsed_ns=%d ops=%d",
		scenario, *workers, *n, out.result, out.elapsed.Nanoseconds(), out.ops)
	if out.hasBytes {
		line += fmt.Sprintf(" bytes_per_task=%d", out.bytesPerTask)
	}
	fmt.Println(line)
}
