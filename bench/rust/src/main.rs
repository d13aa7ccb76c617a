//! rust-bench: Rust's two models of weft-compare's scenarios.
//!
//!   rust-bench <scenario> --model=tokio|threads [--workers=W] [--n=N] [--addr=HOST:PORT]
//!
//! prints the one line weft-compare parses (bench/common/scenario_line.hpp):
//!   weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K
//! and exits 0; an unknown scenario or model exits 2.
//!
//! Models:
//! - `tokio` (tokio_model.rs): a multi-thread runtime with worker_threads =
//!   W, built before the clock starts; the scenario's body runs as a task
//!   spawned on it (as Go's main goroutine and weft's main fiber run on a
//!   worker), and every task is a tokio::spawn joined through its JoinHandle.
//!   CPU-bound tasks are plain tokio::spawn, not spawn_blocking: the naive
//!   code Tokio users write.
//! - `threads` (threads_model.rs): one std::thread per task, std::sync::mpsc
//!   channels, thread::sleep, std::net and std::fs; workers= prints 0, as
//!   weft-bench's threads model does.
//!
//! Scenarios: onetask, allofcpu, allofsleep (= latency), allofnet, pool,
//! disk (the seed's exercises), spawn, pingpong, cpusplit, fileio, scale,
//! skynet; their definitions are weft-bench's, the workloads are
//! workloads.rs, ported from bench/common/workloads.hpp.

mod threads_model;
mod tokio_model;
mod workloads;

use std::time::Duration;

/// The scenarios and their sizes when no --n is given (scenario_line.hpp's
/// default_n).
const SCENARIOS: &[(&str, i64)] = &[
    ("onetask", 10_000),
    ("allofcpu", 1_000),
    ("allofsleep", 10_000),
    ("latency", 10_000),
    ("allofnet", 1_000),
    ("pool", 10_000),
    ("disk", 1_000),
    ("spawn", 100_000),
    ("pingpong", 1_000_000),
    ("cpusplit", 1_000_000),
    ("fileio", 1_000),
    ("scale", 10_000),
    ("skynet", 1_000_000),
];

/// A scenario's parameters.
pub struct Options {
    pub scenario: String,
    pub workers: usize,
    pub n: i64,
    pub addr: String,
}

/// What a scenario reports: the correctness value, the timed span and the
/// number of operations it divides.
pub struct Outcome {
    pub result: i64,
    pub elapsed: Duration,
    pub ops: i64,
}

fn usage() -> ! {
    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.0).collect();
    eprintln!(
        "usage: rust-bench <{}> --model=tokio|threads [--workers=W] [--n=N] [--addr=HOST:PORT]",
        names.join("|")
    );
    std::process::exit(2)
}

fn positive(arg: &str, value: &str) -> i64 {
    match value.parse::<i64>() {
        Ok(v) if v >= 1 => v,
        _ => {
            eprintln!("rust-bench: bad value in {}", arg);
            std::process::exit(2)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        usage();
    }
    let scenario = args[1].clone();
    let default_n = match SCENARIOS.iter().find(|s| s.0 == scenario) {
        Some(s) => s.1,
        None => {
            eprintln!("rust-bench: unknown scenario '{}'", scenario);
            usage()
        }
    };
    let mut o = Options { scenario, workers: 2, n: default_n, addr: String::new() };
    let mut model = String::new();
    for a in &args[2..] {
        if let Some(v) = a.strip_prefix("--model=") {
            model = v.to_string();
        } else if let Some(v) = a.strip_prefix("--workers=") {
            o.workers = positive(a, v) as usize;
        } else if let Some(v) = a.strip_prefix("--n=") {
            o.n = positive(a, v);
        } else if let Some(v) = a.strip_prefix("--addr=") {
            o.addr = v.to_string();
        } else {
            eprintln!("rust-bench: unknown argument '{}'", a);
            usage();
        }
    }
    if o.scenario == "skynet" && !is_power_of_10(o.n) {
        eprintln!("rust-bench: skynet needs n to be a power of 10");
        std::process::exit(2);
    }
    if o.scenario == "allofnet" && o.addr.is_empty() {
        eprintln!("rust-bench: allofnet needs --addr=HOST:PORT");
        std::process::exit(2);
    }
    let (out, workers) = match model.as_str() {
        "tokio" => (tokio_model::run(&o), o.workers),
        "threads" => (threads_model::run(&o), 0),
        _ => {
            eprintln!("rust-bench: unknown model '{}'; models: tokio, threads", model);
            std::process::exit(2)
        }
    };
    println!(
        "weft-bench: scenario={} model={} workers={} n={} result={} elapsed_ns={} ops={}",
        o.scenario,
        model,
        workers,
        o.n,
        out.result,
        out.elapsed.as_nanos(),
        out.ops
    );
}

fn is_power_of_10(mut n: i64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}
