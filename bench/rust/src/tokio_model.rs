//! The tokio model: a multi-thread runtime (worker_threads = --workers, all
//! drivers enabled) built before the clock; the scenario's body is a task
//! on it; every task is a tokio::spawn joined through its JoinHandle or
//! reporting over tokio::sync::mpsc. Sleeps are tokio::time::sleep, sockets
//! tokio::net, files tokio::fs (which Tokio runs on its blocking pool).
//! CPU-bound tasks (allofcpu, cpusplit, pool's even jobs) are plain
//! tokio::spawn: the naive code Tokio users write, not spawn_blocking.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Mutex};

use crate::workloads::*;
use crate::{Options, Outcome};

/// Runs o.scenario on a fresh runtime.
pub fn run(o: &Options) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.workers)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("rust-bench: cannot start the runtime: {}", e);
            std::process::exit(1)
        });
    let (n, addr) = (o.n, o.addr.clone());
    let scenario = o.scenario.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            match scenario.as_str() {
                "onetask" => onetask(n).await,
                "allofcpu" => allofcpu(n).await,
                "allofsleep" | "latency" => allofsleep(n).await,
                "allofnet" => allofnet(n, addr).await,
                "pool" => pool(n).await,
                "disk" => disk(n).await,
                "spawn" => spawn(n).await,
                "pingpong" => pingpong(n).await,
                "cpusplit" => cpusplit(n).await,
                "fileio" => fileio(n).await,
                "scale" => scale(n).await,
                "skynet" => skynet_run(n).await,
                _ => unreachable!("main checks the scenario"),
            }
        })
        .await
        .unwrap()
    })
}

fn outcome(result: i64, start: Instant, n: i64) -> Outcome {
    Outcome { result, elapsed: start.elapsed(), ops: n }
}

/// Joins every handle in order and returns their values.
async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut values = Vec::with_capacity(handles.len());
    for h in handles {
        values.push(h.await.unwrap());
    }
    values
}

async fn onetask(n: i64) -> Outcome {
    let start = Instant::now();
    let mut ok = true;
    for k in 0..n {
        ok &= tokio::spawn(async move { k + 1 }).await.unwrap() == k + 1;
    }
    outcome(if ok { n } else { -1 }, start, n)
}

async fn allofcpu(n: i64) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|k| tokio::spawn(async move { allofcpu_count(k) })).collect();
    let total: i64 = join_all(handles).await.iter().sum();
    outcome(total, start, n)
}

async fn allofsleep(n: i64) -> Outcome {
    let want: u64 = (0..n).map(latency_ms).sum();
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|k| {
            tokio::spawn(async move {
                let ms = latency_ms(k);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            })
        })
        .collect();
    let got: u64 = join_all(handles).await.iter().sum();
    outcome(if got == want { n } else { -1 }, start, n)
}

/// One connection, one GET, the whole response; false on any failure (a
/// failed connect is not retried).
async fn one_request(addr: Arc<String>) -> bool {
    let mut s = match tokio::net::TcpStream::connect(addr.as_str()).await {
        Ok(s) => s,
        Err(_) => return false,
    };
    if s.write_all(REQUEST).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(got) => buf.extend_from_slice(&chunk[..got]),
        }
        if let Some(ok) = response_state(&buf) {
            return ok;
        }
    }
}

async fn allofnet(n: i64, addr: String) -> Outcome {
    let addr = Arc::new(addr);
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(one_request(addr.clone()))).collect();
    let ok = join_all(handles).await.iter().filter(|&&b| b).count() as i64;
    outcome(ok, start, n)
}

/// pool: POOL_TASKS workers share the job receiver (tokio's mpsc has one
/// consumer: Arc<Mutex<Receiver>> is what Tokio users write for a shared
/// queue), fed by a feeder task; results come back on another channel. A
/// worker ends when the feeder has dropped its sender and the queue is empty.
async fn pool(n: i64) -> Outcome {
    let start = Instant::now();
    let (job_tx, job_rx) = mpsc::channel::<i64>(POOL_QUEUE);
    let (res_tx, mut res_rx) = mpsc::channel::<i64>(POOL_QUEUE);
    let job_rx = Arc::new(Mutex::new(job_rx));
    for _ in 0..POOL_TASKS {
        let (job_rx, res_tx) = (job_rx.clone(), res_tx.clone());
        tokio::spawn(async move {
            loop {
                let job = job_rx.lock().await.recv().await;
                let k = match job {
                    Some(k) => k,
                    None => break,
                };
                let r = if pool_job_is_sleep(k) {
                    tokio::time::sleep(Duration::from_millis(POOL_SLEEP_MS)).await;
                    1
                } else {
                    pool_cpu_job(k)
                };
                if res_tx.send(r).await.is_err() {
                    break;
                }
            }
        });
    }
    tokio::spawn(async move {
        for k in 0..n {
            job_tx.send(k).await.unwrap();
        }
    });
    let mut total = 0;
    for _ in 0..n {
        total += res_rx.recv().await.unwrap();
    }
    outcome(total, start, n)
}

async fn disk(n: i64) -> Outcome {
    let dir = ScratchDir::new("weft-disk");
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let path = dir.file(i);
            tokio::spawn(async move {
                if tokio::fs::write(&path, file_contents(i)).await.is_err() {
                    return 0;
                }
                match tokio::fs::read(&path).await {
                    Ok(data) => checksum_of(&data),
                    Err(_) => 0,
                }
            })
        })
        .collect();
    let sum = join_all(handles).await.iter().fold(0u64, |s, &c| s.wrapping_add(c));
    let out = outcome(if sum == expected_files_sum(n) { n } else { -1 }, start, n);
    drop(dir);
    out
}

async fn spawn(n: i64) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
    let values = join_all(handles).await;
    let elapsed = start.elapsed();
    let ok = values.iter().enumerate().filter(|(i, &v)| *i as i64 == v).count() as i64;
    Outcome { result: ok, elapsed, ops: n }
}

/// pingpong: Tokio has no unbuffered (rendezvous) channel; the closest is
/// mpsc::channel(1), capacity 1, so a send completes once the value is
/// queued rather than taken. Each side waits for the other's reply before
/// sending again, so at most one value is ever in flight either way.
async fn pingpong(n: i64) -> Outcome {
    let (ping_tx, mut ping_rx) = mpsc::channel::<i64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<i64>(1);
    tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        ping_tx.send(v).await.unwrap();
        v = pong_rx.recv().await.unwrap();
    }
    outcome(v, start, n)
}

async fn cpusplit(n: i64) -> Outcome {
    let chunks = (n + PRIME_CHUNK - 1) / PRIME_CHUNK;
    let start = Instant::now();
    let handles: Vec<_> = (0..chunks)
        .map(|k| {
            tokio::spawn(async move {
                let lo = k * PRIME_CHUNK;
                count_primes_trial(lo, (lo + PRIME_CHUNK).min(n))
            })
        })
        .collect();
    let total: i64 = join_all(handles).await.iter().sum();
    outcome(total, start, n)
}

async fn fileio(n: i64) -> Outcome {
    let dir = ScratchDir::new("weft-fileio");
    dir.write_files(n);
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let path = dir.file(i);
            tokio::spawn(async move { tokio::fs::read(&path).await.map(|d| checksum_of(&d)).unwrap_or(0) })
        })
        .collect();
    let sum = join_all(handles).await.iter().fold(0u64, |s, &c| s.wrapping_add(c));
    outcome(if sum == expected_files_sum(n) { n } else { -1 }, start, n)
}

/// scale: n tasks alive at once; each reports ready and waits on a gate (a
/// watch channel, changed once); once all are ready main opens the gate and
/// joins them all. result: the number of tasks that came back.
async fn scale(n: i64) -> Outcome {
    let (gate_tx, gate_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(1024);
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (mut gate, ready) = (gate_rx.clone(), ready_tx.clone());
            tokio::spawn(async move {
                ready.send(()).await.unwrap();
                let _ = gate.changed().await;
                1i64
            })
        })
        .collect();
    for _ in 0..n {
        ready_rx.recv().await.unwrap();
    }
    gate_tx.send(true).unwrap();
    let got: i64 = join_all(handles).await.iter().sum();
    outcome(got, start, n)
}

/// skynet: each node spawns its ten children and awaits their JoinHandles,
/// what Tokio users write for it (the recursion boxes the future).
fn skynet(num: i64, size: i64) -> Pin<Box<dyn Future<Output = i64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let child = size / 10;
        let handles: Vec<_> = (0..10).map(|i| tokio::spawn(skynet(num + i * child, child))).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

async fn skynet_run(n: i64) -> Outcome {
    let start = Instant::now();
    let sum = tokio::spawn(skynet(0, n)).await.unwrap();
    outcome(sum, start, n)
}
