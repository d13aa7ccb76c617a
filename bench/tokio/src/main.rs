//! tokio-bench: Tokio's servers for weft-compare's network scenarios.
//!
//! ```text
//! tokio-bench http --port=P --workers=N
//! tokio-bench echo --port=P --workers=N
//! ```
//!
//! Both follow the contract every server model of the comparison shares:
//!
//! 1. Bind 127.0.0.1:P (P = 0 picks a free port) with the system's maximum
//!    backlog (net.core.somaxconn), after raising RLIMIT_NOFILE to its hard
//!    limit.
//! 2. Print exactly one line, `listening <port>`, on stdout.
//! 3. Serve until stdin reaches EOF or SIGTERM arrives, then exit 0 at once
//!    (open connections are not drained: the load is over by then).
//! 4. An error on one connection (reset, EPIPE, ...) closes that connection
//!    only. Accept failing with EMFILE/ENFILE is logged once and retried after
//!    10 ms; the server keeps serving the connections it has.
//!
//! The servers are what a Tokio user writes: a multi-thread runtime with N
//! workers, a `TcpListener`, and one spawned task per connection that reads
//! into a buffer and writes with `write_all`. The HTTP responder answers
//! every complete request (headers up to "\r\n\r\n"; no bodies) found in the
//! buffer after a read, all responses in one write, so pipelined requests are
//! answered in order. Accepted sockets get TCP_NODELAY, which Go sets on every
//! TCP connection by default, so that both answer small writes alike.
//!
//! `TcpListener::bind` would listen with mio's fixed backlog of 1024; the
//! listener is built with `TcpSocket` instead to pass the system maximum.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

/// The one response of the HTTP server, the same bytes in every model.
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// A client sending this much without "\r\n\r\n" is dropped.
const MAX_HEADER: usize = 64 << 10;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Http,
    Echo,
}

struct Options {
    mode: Mode,
    port: u16,
    workers: usize,
}

fn usage() -> ! {
    eprintln!("usage: tokio-bench <http|echo> --port=P --workers=N");
    process::exit(2);
}

fn parse_args() -> Options {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("http") => Mode::Http,
        Some("echo") => Mode::Echo,
        _ => usage(),
    };
    let mut port: Option<u16> = Some(0);
    let mut workers: Option<usize> = std::thread::available_parallelism().ok().map(|n| n.get());
    while let Some(arg) = args.next() {
        // --name=value or --name value
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (arg.clone(), args.next().unwrap_or_else(|| usage())),
        };
        match name.trim_start_matches('-') {
            "port" => port = value.parse().ok(),
            "workers" => workers = value.parse().ok().filter(|&n| n >= 1),
            _ => usage(),
        }
    }
    match (port, workers) {
        (Some(port), Some(workers)) => Options {
            mode,
            port,
            workers,
        },
        _ => usage(),
    }
}

/// Sets the soft RLIMIT_NOFILE to the hard limit, so that 10,000 connections
/// fit.
fn raise_file_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            eprintln!("tokio-bench: getrlimit: {}", io::Error::last_os_error());
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                eprintln!("tokio-bench: setrlimit: {}", io::Error::last_os_error());
            }
        }
    }
}

/// net.core.somaxconn, the largest backlog the kernel grants.
fn max_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(max_backlog())
}

/// Answers every complete request in each read until the client closes the
/// connection. `buf[..filled]` holds the bytes received and not yet answered.
async fn serve_http(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::with_capacity(4 * RESPONSE.len());
    let mut filled = 0;
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_HEADER {
                return Ok(());
            }
            buf.resize(2 * buf.len(), 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(()); // EOF
        }
        filled += n;
        out.clear();
        let mut start = 0;
        while let Some(i) = finder.find(&buf[start..filled]) {
            start += i + 4;
            out.extend_from_slice(RESPONSE);
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

/// Writes back whatever it reads, 4 KiB at a time, until EOF.
async fn serve_echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn accept_loop(listener: TcpListener, mode: Mode) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    // A connection's error (reset, EPIPE, ...) ends that
                    // connection only.
                    let _ = match mode {
                        Mode::Http => serve_http(stream).await,
                        Mode::Echo => serve_echo(stream).await,
                    };
                });
            }
            Err(e) => {
                let out_of_fds =
                    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE));
                if !out_of_fds || !WARNED.swap(true, Ordering::Relaxed) {
                    eprintln!("tokio-bench: accept: {e} (backing off 10 ms)");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() {
    let opts = parse_args();
    raise_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("tokio-bench: runtime: {e}");
            process::exit(1);
        });
    runtime.block_on(async {
        let listener = bind(opts.port).unwrap_or_else(|e| {
            eprintln!("tokio-bench: listen on 127.0.0.1:{}: {e}", opts.port);
            process::exit(1);
        });
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let mut term = signal(SignalKind::terminate()).unwrap_or_else(|e| {
            eprintln!("tokio-bench: SIGTERM handler: {e}");
            process::exit(1);
        });
        tokio::spawn(accept_loop(listener, opts.mode));

        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "listening {port}");
        let _ = stdout.flush();
        drop(stdout);

        // Either stops the server: EOF (or an error) on stdin, or SIGTERM.
        tokio::spawn(async {
            let mut stdin = tokio::io::stdin();
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut stdin, &mut sink).await;
            process::exit(0);
        });
        term.recv().await;
    });
    // Exit without dropping the runtime: its drop would wait for the blocking
    // thread still reading stdin (after SIGTERM) and for every open connection.
    process::exit(0);
}
