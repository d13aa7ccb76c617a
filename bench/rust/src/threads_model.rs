//! The threads model: one std::thread per task (1:1), std::sync::mpsc
//! channels, thread::sleep, std::net and std::fs; nothing is shared but the
//! channels. Every thread is joined, or reports on a channel, before the
//! clock stops.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::workloads::*;
use crate::{Options, Outcome};

/// Runs o.scenario.
pub fn run(o: &Options) -> Outcome {
    let n = o.n;
    match o.scenario.as_str() {
        "onetask" => onetask(n),
        "allofcpu" => all_at_once(n, allofcpu_count),
        "allofsleep" | "latency" => allofsleep(n),
        "allofnet" => allofnet(n, &o.addr),
        "pool" => pool(n),
        "disk" => disk(n),
        "spawn" => spawn(n),
        "pingpong" => pingpong(n),
        "cpusplit" => cpusplit(n),
        "fileio" => fileio(n),
        "scale" => scale(n),
        "skynet" => skynet_run(n),
        _ => unreachable!("main checks the scenario"),
    }
}

/// Starts one thread per k in 0..n running f(k), joins them in order.
fn spawn_join<T: Send + 'static>(n: i64, f: impl Fn(i64) -> T + Send + Sync + Clone + 'static) -> Vec<T> {
    let handles: Vec<_> = (0..n)
        .map(|k| {
            let f = f.clone();
            thread::spawn(move || f(k))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn onetask(n: i64) -> Outcome {
    let start = Instant::now();
    let mut ok = true;
    for k in 0..n {
        ok &= thread::spawn(move || k + 1).join().unwrap() == k + 1;
    }
    Outcome { result: if ok { n } else { -1 }, elapsed: start.elapsed(), ops: n }
}

fn all_at_once(n: i64, f: fn(i64) -> i64) -> Outcome {
    let start = Instant::now();
    let total: i64 = spawn_join(n, f).iter().sum();
    Outcome { result: total, elapsed: start.elapsed(), ops: n }
}

fn allofsleep(n: i64) -> Outcome {
    let want: u64 = (0..n).map(latency_ms).sum();
    let start = Instant::now();
    let got: u64 = spawn_join(n, |k| {
        let ms = latency_ms(k);
        thread::sleep(Duration::from_millis(ms));
        ms
    })
    .iter()
    .sum();
    Outcome { result: if got == want { n } else { -1 }, elapsed: start.elapsed(), ops: n }
}

/// One connection, one GET, the whole response; false on any failure.
fn one_request(addr: &str) -> bool {
    let mut s = match std::net::TcpStream::connect(addr) {
        Ok(s) => s,
        Err(_) => return false,
    };
    if s.write_all(REQUEST).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(got) => buf.extend_from_slice(&chunk[..got]),
        }
        if let Some(ok) = response_state(&buf) {
            return ok;
        }
    }
}

fn allofnet(n: i64, addr: &str) -> Outcome {
    let addr = Arc::new(addr.to_string());
    let start = Instant::now();
    let ok = spawn_join(n, move |_| one_request(&addr)).iter().filter(|&&b| b).count() as i64;
    Outcome { result: ok, elapsed: start.elapsed(), ops: n }
}

/// pool: POOL_TASKS threads share the job receiver (std's mpsc has one
/// consumer: Arc<Mutex<Receiver>>, as the Rust book's thread pool does),
/// fed by a feeder thread over a sync_channel(POOL_QUEUE); results come back
/// on another. A worker ends once the feeder has dropped its sender.
fn pool(n: i64) -> Outcome {
    let start = Instant::now();
    let (job_tx, job_rx) = mpsc::sync_channel::<i64>(POOL_QUEUE);
    let (res_tx, res_rx) = mpsc::sync_channel::<i64>(POOL_QUEUE);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let mut threads = Vec::new();
    for _ in 0..POOL_TASKS {
        let (job_rx, res_tx) = (job_rx.clone(), res_tx.clone());
        threads.push(thread::spawn(move || loop {
            let job = job_rx.lock().unwrap().recv();
            let k = match job {
                Ok(k) => k,
                Err(_) => break,
            };
            let r = if pool_job_is_sleep(k) {
                thread::sleep(Duration::from_millis(POOL_SLEEP_MS));
                1
            } else {
                pool_cpu_job(k)
            };
            if res_tx.send(r).is_err() {
                break;
            }
        }));
    }
    threads.push(thread::spawn(move || {
        for k in 0..n {
            job_tx.send(k).unwrap();
        }
    }));
    let mut total = 0;
    for _ in 0..n {
        total += res_rx.recv().unwrap();
    }
    let elapsed = start.elapsed();
    for t in threads {
        t.join().unwrap();
    }
    Outcome { result: total, elapsed, ops: n }
}

fn disk(n: i64) -> Outcome {
    let dir = Arc::new(ScratchDir::new("weft-disk"));
    let start = Instant::now();
    let d = dir.clone();
    let sum = spawn_join(n, move |i| {
        let path = d.file(i);
        if std::fs::write(&path, file_contents(i)).is_err() {
            return 0;
        }
        std::fs::read(&path).map(|data| checksum_of(&data)).unwrap_or(0)
    })
    .iter()
    .fold(0u64, |s, &c| s.wrapping_add(c));
    let elapsed = start.elapsed();
    Outcome { result: if sum == expected_files_sum(n) { n } else { -1 }, elapsed, ops: n }
}

fn spawn(n: i64) -> Outcome {
    let start = Instant::now();
    let values = spawn_join(n, |i| i);
    let elapsed = start.elapsed();
    let ok = values.iter().enumerate().filter(|(i, &v)| *i as i64 == v).count() as i64;
    Outcome { result: ok, elapsed, ops: n }
}

/// pingpong: std's sync_channel(0) is a true rendezvous, as an unbuffered
/// Go channel.
fn pingpong(n: i64) -> Outcome {
    let (ping_tx, ping_rx) = mpsc::sync_channel::<i64>(0);
    let (pong_tx, pong_rx) = mpsc::sync_channel::<i64>(0);
    let echo = thread::spawn(move || {
        for v in ping_rx {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        ping_tx.send(v).unwrap();
        v = pong_rx.recv().unwrap();
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    echo.join().unwrap();
    Outcome { result: v, elapsed, ops: n }
}

fn cpusplit(n: i64) -> Outcome {
    let chunks = (n + PRIME_CHUNK - 1) / PRIME_CHUNK;
    let start = Instant::now();
    let total: i64 = spawn_join(chunks, move |k| {
        let lo = k * PRIME_CHUNK;
        count_primes_trial(lo, (lo + PRIME_CHUNK).min(n))
    })
    .iter()
    .sum();
    Outcome { result: total, elapsed: start.elapsed(), ops: n }
}

fn fileio(n: i64) -> Outcome {
    let dir = Arc::new(ScratchDir::new("weft-fileio"));
    dir.write_files(n);
    let start = Instant::now();
    let d = dir.clone();
    let sum = spawn_join(n, move |i| std::fs::read(d.file(i)).map(|data| checksum_of(&data)).unwrap_or(0))
        .iter()
        .fold(0u64, |s, &c| s.wrapping_add(c));
    let elapsed = start.elapsed();
    Outcome { result: if sum == expected_files_sum(n) { n } else { -1 }, elapsed, ops: n }
}

/// scale: n threads alive at once; each reports ready and waits on a gate
/// (a Mutex<bool> and a Condvar); once all are ready main opens the gate and
/// joins them. result: the number of threads that came back.
fn scale(n: i64) -> Outcome {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (gate, ready) = (gate.clone(), ready_tx.clone());
            thread::spawn(move || {
                ready.send(()).unwrap();
                let (open, cv) = &*gate;
                let mut g = open.lock().unwrap();
                while !*g {
                    g = cv.wait(g).unwrap();
                }
                1i64
            })
        })
        .collect();
    for _ in 0..n {
        ready_rx.recv().unwrap();
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let got: i64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    Outcome { result: got, elapsed: start.elapsed(), ops: n }
}

/// skynet with a thread per node, joined by its parent ((10n-1)/9 threads;
/// only small n is practical).
fn skynet(num: i64, size: i64) -> i64 {
    if size == 1 {
        return num;
    }
    let child = size / 10;
    let handles: Vec<_> = (0..10).map(|i| thread::spawn(move || skynet(num + i * child, child))).collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

fn skynet_run(n: i64) -> Outcome {
    let start = Instant::now();
    let sum = skynet(0, n);
    Outcome { result: sum, elapsed: start.elapsed(), ops: n }
}
