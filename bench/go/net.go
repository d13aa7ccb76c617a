// The network servers of go-bench, Go's side of weft-compare's network
// scenarios:
//
//	go-bench serve-raw http     --port=P --workers=N
//	go-bench serve-raw echo     --port=P --workers=N
//	go-bench serve-nethttp http --port=P --workers=N
//
// Every server model (weft's, Tokio's, these) follows one contract:
//
//  1. Bind 127.0.0.1:P (P = 0 picks a free port) with the system's maximum
//     backlog, after raising RLIMIT_NOFILE to its hard limit.
//  2. Print exactly one line, "listening <port>", on stdout.
//  3. Serve until stdin reaches EOF or SIGTERM arrives, then exit 0 at once
//     (open connections are not drained: the load is over by then).
//  4. An error on one connection (reset, EPIPE, ...) closes that connection
//     only. Accept failing with EMFILE/ENFILE is logged once and retried after
//     10 ms; the server keeps serving the connections it has.
//
// serve-raw is the minimal program a Go user writes on net.Conn: one goroutine
// per connection, blocking reads and writes, the runtime's netpoller doing the
// multiplexing. Its HTTP responder answers every complete request (headers up
// to "\r\n\r\n"; no bodies) found in the read buffer, so pipelined requests
// get their responses in one write, in order. serve-nethttp is net/http as
// users run it: http.HandleFunc and a zero http.Server{}; the listener wrapper
// below only adds the contract's accept back-off, the server's settings are
// the defaults.
//
// Go's net.Listen already uses /proc/sys/net/core/somaxconn as the backlog,
// which is the system maximum the contract asks for; Go 1.19 also raises the
// soft RLIMIT_NOFILE at start-up, the explicit call below states the
// contract rather than relying on that.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// isServeMode says whether go-bench's first argument names a server mode.
func isServeMode(arg string) bool {
	return arg == "serve-raw" || arg == "serve-nethttp"
}

// serveMain runs a server mode; args are the arguments after the mode. It
// returns the process's exit status (it returns only on a usage or set-up
// error: a running server exits through waitForStop).
func serveMain(mode string, args []string) int {
	if len(args) < 1 {
		return serveUsage()
	}
	proto := args[0]
	var handler func(net.Conn)
	switch {
	case mode == "serve-raw" && proto == "http":
		handler = rawHTTPConn
	case mode == "serve-raw" && proto == "echo":
		handler = echoConn
	case mode == "serve-nethttp" && proto == "http":
		// handled below: net/http owns its accept loop
	default:
		fmt.Fprintf(os.Stderr, "go-bench: %s has no mode %q\n", mode, proto)
		return serveUsage()
	}

	flags := flag.NewFlagSet("go-bench "+mode, flag.ExitOnError)
	port := flags.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	workers := flags.Int("workers", runtime.NumCPU(), "GOMAXPROCS")
	flags.Parse(args[1:])
	if flags.NArg() != 0 || *port < 0 || *port > 65535 || *workers < 1 {
		return serveUsage()
	}
	runtime.GOMAXPROCS(*workers)
	raiseFileLimit()

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-bench: listen:", err)
		return 1
	}
	bound := ln.Addr().(*net.TCPAddr).Port
	ln = &backoffListener{Listener: ln}

	if handler != nil {
		go acceptLoop(ln, handler)
	} else {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "Hello, world!")
		})
		srv := &http.Server{}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "go-bench: http serve:", err)
				os.Exit(1)
			}
		}()
	}

	fmt.Printf("listening %d\n", bound) // os.Stdout is unbuffered
	waitForStop()
	return 0
}

func serveUsage() int {
	fmt.Fprintln(os.Stderr,
		"usage: go-bench serve-raw <http|echo> --port=P --workers=N\n"+
			"       go-bench serve-nethttp http --port=P --workers=N")
	return 2
}

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit, so that
// 10,000 connections fit.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "go-bench: getrlimit:", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "go-bench: setrlimit:", err)
		}
	}
}

// waitForStop blocks until stdin reaches EOF (or fails) or SIGTERM arrives.
func waitForStop() {
	stop := make(chan struct{}, 2)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		stop <- struct{}{}
	}()
	go func() {
		io.Copy(io.Discard, os.Stdin) // returns at EOF or on an error
		stop <- struct{}{}
	}()
	<-stop
}

// backoffListener implements the contract's accept rule: when the process
// (or the system) is out of file descriptors, say so once on stderr and retry
// every 10 ms instead of returning the error, so neither the raw accept loop
// nor net/http's (whose own back-off grows to 1 s) gives up or floods the log.
type backoffListener struct {
	net.Listener
	warned sync.Once
}

func (l *backoffListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			l.warned.Do(func() {
				fmt.Fprintln(os.Stderr, "go-bench: accept:", err, "(backing off 10 ms; logged once)")
			})
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return nil, err
	}
}

// acceptLoop gives each accepted connection its own goroutine. Errors other
// than running out of descriptors (ECONNABORTED and the like) are transient
// for a listening socket: the loop logs them and goes on.
func acceptLoop(ln net.Listener, handler func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("go-bench: accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go handler(c)
	}
}

// The one response of the raw HTTP server, the same bytes in every model.
var httpResponse = []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!")

var headerEnd = []byte("\r\n\r\n")

// maxHeader bounds one request's headers; a client sending more without
// "\r\n\r\n" is dropped.
const maxHeader = 64 << 10

// rawHTTPConn serves one keep-alive HTTP/1.1 connection until the client
// closes it or an error occurs. buf[:n] holds the bytes received and not yet
// answered; after each read, every complete request in it is answered (the
// responses collected into out and written at once), and the incomplete tail
// moves to the front.
func rawHTTPConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	out := make([]byte, 0, 4*len(httpResponse))
	n := 0
	for {
		if n == len(buf) {
			if len(buf) >= maxHeader {
				return
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
		r, err := c.Read(buf[n:])
		if r == 0 && err != nil {
			return // EOF, reset, ...
		}
		n += r
		out = out[:0]
		start := 0
		for {
			i := bytes.Index(buf[start:n], headerEnd)
			if i < 0 {
				break
			}
			start += i + len(headerEnd)
			out = append(out, httpResponse...)
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		n = copy(buf, buf[start:n])
	}
}

// echoConn writes back whatever it reads, 4 KiB at a time, until EOF or an
// error. (A plain loop, not io.Copy: the contract's server reads and writes,
// and io.Copy between two TCP sockets may splice instead.)
func echoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		r, err := c.Read(buf)
		if r > 0 {
			if _, werr := c.Write(buf[:r]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
