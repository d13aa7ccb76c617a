#!/usr/bin/node
// nodebench: the Node.js reference models of weft-compare (issue 10).
//
// Usage:
//   /usr/bin/node bench/node/nodebench.js <scenario> --model=<model>
//       --workers=W --n=N [--addr=HOST:PORT]
//
// Prints exactly one line on stdout and exits 0,
//   weft-bench: scenario=S model=M workers=W n=N result=R elapsed_ns=T ops=K
// the line of bench/common/scenario_line.hpp. Exits 2 on bad arguments (an
// unknown scenario or model names the supported ones), 3 with
// `not expressible: <why>` on stderr when the model cannot run the scenario.
//
// Models:
//   promises        the event loop, one thread: async functions, Promise.all,
//                   timers/promises setTimeout, net, fs.promises. A task is an
//                   async function called (and awaited). --workers is only
//                   echoed. CPU-bound tasks run one after another on the loop,
//                   as naive async code does.
//   worker_threads  CPU-bound work split over worker_threads: onetask (one
//                   Worker per task), allofcpu and cpusplit (the tasks split
//                   in W contiguous shares over W Workers started before the
//                   clock, as a runtime's threads are), pool (8 Workers, each
//                   fed one job at a time by main over postMessage). The I/O
//                   scenarios belong to the event loop: exit 3.
//
// The timed span (elapsed_ns) starts after the untimed setup (Node's own
// start, the W Workers of allofcpu/cpusplit, the files of fileio and disk)
// and ends when the last result has been collected; the tasks a scenario
// starts (the pool scenario's 8 workers included) are inside it.
'use strict';

const fs = require('fs');
const fsp = require('fs/promises');
const net = require('net');
const os = require('os');
const path = require('path');
const { setTimeout: sleep } = require('timers/promises');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

// --- the workloads, ported from bench/common/workloads.hpp -----------------
// Each names the C++ function it mirrors; 64-bit steps use BigInt, masked
// with M64 for uint64_t wrap-around. Numbers below 2^53 stay plain numbers.

const M64 = (1n << 64n) - 1n;

// bench::splitmix64 (Steele, Lea and Flood, OOPSLA 2014).
function splitmix64(x) {
  x = (x + 0x9e3779b97f4a7c15n) & M64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M64;
  return x ^ (x >> 31n);
}

// bench::is_prime_trial: trial division by 2 and the odd numbers up to sqrt.
function isPrimeTrial(k) {
  if (k < 2) return false;
  if (k % 2 === 0) return k === 2;
  for (let d = 3; d * d <= k; d += 2) {
    if (k % d === 0) return false;
  }
  return true;
}

// bench::count_primes_trial: the primes in [lo, hi).
function countPrimesTrial(lo, hi) {
  let count = 0;
  for (let k = lo; k < hi; k++) if (isPrimeTrial(k)) count++;
  return count;
}

const PRIME_CHUNK = 10000;  // bench::kPrimeChunk
const cpusplitChunks = (n) => Math.ceil(n / PRIME_CHUNK);
const cpusplitChunk = (k, n) => countPrimesTrial(k * PRIME_CHUNK, Math.min((k + 1) * PRIME_CHUNK, n));
// allofcpu's task k: [1'000'000 + k*1'000, 1'000'000 + (k+1)*1'000).
const allofcpuTask = (k) => countPrimesTrial(1000000 + k * 1000, 1000000 + (k + 1) * 1000);
// pool's even job k: [1'000'000 + k*100, 1'000'000 + (k+1)*100).
const poolCpuJob = (k) => countPrimesTrial(1000000 + k * 100, 1000000 + (k + 1) * 100);
const POOL_WORKERS = 8;   // the pool scenario's workers, in every model
const POOL_IO_MS = 1;     // an odd pool job's sleep
const POOL_BUFFER = 64;   // the job channel's capacity

// bench::latency_ms: 50 + (splitmix64(i) mod 151) ms.
const latencyMs = (i) => 50 + Number(splitmix64(BigInt(i)) % 151n);

const FILE_BYTES = 16 * 1024;  // bench::kFileBytes
const FILE_WORDS = FILE_BYTES / 8;
const FNV_BASIS = 0xcbf29ce484222325n, FNV_PRIME = 0x100000001b3n;  // bench::kFnvBasis, kFnvPrime

// bench::checksum_words: FNV-1a over the little-endian 64-bit words, as a
// BigInt. The 64-bit state is kept as two 32-bit halves in plain numbers:
// FNV's prime is 2^40 + 0x1b3, so h * prime = (h << 40) + h * 0x1b3, and
// every partial product stays below 2^53. BigInt arithmetic here would cost
// about a millisecond per 16 KiB file and make disk a CPU-bound exercise;
// fileContents computes the expected checksum with BigInt, so each checks
// the other.
function checksumWords(buf) {
  let lo = 0x84222325, hi = 0xcbf29ce4;  // FNV_BASIS
  for (let off = 0; off + 8 <= buf.length; off += 8) {
    lo = (lo ^ buf.readUInt32LE(off)) >>> 0;
    hi = (hi ^ buf.readUInt32LE(off + 4)) >>> 0;
    const low = lo * 0x1b3;  // < 2^41: exact
    const carry = Math.floor(low / 0x100000000);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) % 0x100000000;  // < 2^42: exact
    lo = low % 0x100000000;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

// File i's bytes (bench::file_word(i, k), little-endian, as bench::file_set
// writes them) and bench::expected_file_checksum(i), the latter from the
// words, not the bytes, so it checks checksumWords' decoding.
function fileContents(i) {
  const buf = Buffer.alloc(FILE_BYTES);
  let h = FNV_BASIS;
  for (let k = 0; k < FILE_WORDS; k++) {
    const w = splitmix64((BigInt(i) << 32n) | BigInt(k));
    buf.writeBigUInt64LE(w, k * 8);
    h = ((h ^ w) * FNV_PRIME) & M64;
  }
  return { buf, checksum: h };
}

// fileio's and disk's untimed setup: a fresh directory under $TMPDIR (or
// /tmp); fileio's files written, disk's contents kept in memory (generating
// 16 KiB with BigInt splitmix64 costs far more than writing it).
class FileDir {
  constructor(n, prefix, write) {
    this.dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir() || '/tmp', prefix));
    this.contents = [];
    this.expectedSum = 0n;
    for (let i = 0; i < n; i++) {
      const { buf, checksum } = fileContents(i);
      this.expectedSum = (this.expectedSum + checksum) & M64;
      if (write) fs.writeFileSync(this.path(i), buf);
      else this.contents.push(buf);
    }
  }
  path(i) { return path.join(this.dir, 'f' + i); }
  remove() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

// --- a Go-style channel for the event loop ---------------------------------
// Node has no queue between async functions; users write this one. send()
// resolves once the value is in the buffer or handed to a receiver; recv()
// resolves to {value, done}; after close(), recv() drains the buffer and
// then yields {done: true}. Invariant: receivers wait only while the buffer
// is empty, and senders wait only while it is full.
class Channel {
  constructor(capacity) {
    this.capacity = capacity;
    this.items = [];
    this.receivers = [];
    this.senders = [];
    this.closed = false;
  }
  async send(value) {
    while (this.items.length >= this.capacity && this.receivers.length === 0) {
      await new Promise((resolve) => this.senders.push(resolve));
    }
    const receiver = this.receivers.shift();
    if (receiver) receiver({ value, done: false });
    else this.items.push(value);
  }
  recv() {
    if (this.items.length > 0) {
      const value = this.items.shift();
      const sender = this.senders.shift();
      if (sender) sender();
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ done: true });
    return new Promise((resolve) => this.receivers.push(resolve));
  }
  close() {
    this.closed = true;
    for (const r of this.receivers.splice(0)) r({ done: true });
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const r = await this.recv();
      if (r.done) return;
      yield r.value;
    }
  }
}

// --- the promises model ----------------------------------------------------

// allofnet's task: one request on a fresh connection; 1 for a complete 200
// response (head and Content-Length body), else 0 (a failed connect
// included: no retry).
function httpGet(host, port) {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (ok) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok ? 1 : 0);
    };
    const socket = net.connect({ host, port }, () => socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n'));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = /^HTTP\/1\.\d (\d{3})/.exec(head[0]);
      const lengthLine = head.slice(1).find((l) => /^content-length\s*:/i.test(l));
      if (!status || !lengthLine) return finish(false);
      const length = Number(lengthLine.split(':')[1].trim());
      if (buf.length - (end + 4) >= length) finish(status[1] === '200' && buf.length - (end + 4) === length);
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

async function inc(x) { return x + 1; }

const promises = {
  async onetask(c, t) {
    let ok = true;
    t.start();
    for (let i = 0; i < c.n; i++) ok = (await inc(i)) === i + 1 && ok;
    t.stop();
    return ok ? c.n : -1;
  },
  async spawn(c, t) {
    const slots = new Array(c.n).fill(-1);
    t.start();
    const tasks = [];
    for (let i = 0; i < c.n; i++) tasks.push((async () => { slots[i] = i; })());
    await Promise.all(tasks);
    t.stop();
    return slots.reduce((ok, v, i) => ok + (v === i ? 1 : 0), 0);
  },
  async allofcpu(c, t) {
    t.start();
    const tasks = [];
    for (let k = 0; k < c.n; k++) tasks.push((async () => allofcpuTask(k))());
    const counts = await Promise.all(tasks);
    t.stop();
    return counts.reduce((a, b) => a + b, 0);
  },
  async allofsleep(c, t) {
    let want = 0;
    for (let i = 0; i < c.n; i++) want += latencyMs(i);
    t.start();
    const tasks = [];
    for (let i = 0; i < c.n; i++) tasks.push((async () => { const ms = latencyMs(i); await sleep(ms); return ms; })());
    const got = await Promise.all(tasks);
    t.stop();
    return got.reduce((a, b) => a + b, 0) === want ? c.n : -1;
  },
  async allofnet(c, t) {
    t.start();
    const tasks = [];
    for (let i = 0; i < c.n; i++) tasks.push(httpGet(c.host, c.port));
    const got = await Promise.all(tasks);
    t.stop();
    return got.reduce((a, b) => a + b, 0);
  },
  // 8 async workers range over a Channel(64) of jobs until main closes it;
  // results on an unbounded Channel that main drains after feeding.
  async pool(c, t) {
    const jobs = new Channel(POOL_BUFFER), results = new Channel(Infinity);
    t.start();
    const workers = [];
    for (let w = 0; w < POOL_WORKERS; w++) {
      workers.push((async () => {
        for await (const k of jobs) {
          if (k % 2 === 0) await results.send(poolCpuJob(k));
          else { await sleep(POOL_IO_MS); await results.send(1); }
        }
      })());
    }
    for (let k = 0; k < c.n; k++) await jobs.send(k);
    jobs.close();
    let total = 0;
    for (let k = 0; k < c.n; k++) total += (await results.recv()).value;
    t.stop();
    await Promise.all(workers);
    return total;
  },
  async disk(c, t) {
    const files = new FileDir(c.n, 'weft-disk-', false);
    try {
      t.start();
      const tasks = [];
      for (let i = 0; i < c.n; i++) {
        tasks.push((async () => {
          await fsp.writeFile(files.path(i), files.contents[i]);
          const back = await fsp.readFile(files.path(i));
          return back.length === FILE_BYTES ? checksumWords(back) : 0n;
        })());
      }
      const sums = await Promise.all(tasks);
      t.stop();
      return (sums.reduce((a, b) => a + b, 0n) & M64) === files.expectedSum ? c.n : -1;
    } finally {
      files.remove();
    }
  },
  // An echo and a driver over two Channel(1)s (the smallest buffer; the
  // round trips alternate, so it never fills).
  async pingpong(c, t) {
    const ping = new Channel(1), pong = new Channel(1);
    t.start();
    const echo = (async () => { for await (const v of ping) await pong.send(v + 1); })();
    const v = await (async () => {
      let v = 0;
      for (let i = 0; i < c.n; i++) {
        await ping.send(v);
        v = (await pong.recv()).value;
      }
      ping.close();
      return v;
    })();
    t.stop();
    await echo;
    return v;
  },
  async cpusplit(c, t) {
    t.start();
    const tasks = [];
    for (let k = 0; k < cpusplitChunks(c.n); k++) tasks.push((async () => cpusplitChunk(k, c.n))());
    const counts = await Promise.all(tasks);
    t.stop();
    return counts.reduce((a, b) => a + b, 0);
  },
  async fileio(c, t) {
    const files = new FileDir(c.n, 'weft-fileio-', true);
    try {
      t.start();
      const tasks = [];
      for (let i = 0; i < c.n; i++) {
        tasks.push((async () => {
          const data = await fsp.readFile(files.path(i)).catch(() => Buffer.alloc(0));
          return data.length === FILE_BYTES ? checksumWords(data) : 0n;
        })());
      }
      const sums = await Promise.all(tasks);
      t.stop();
      return (sums.reduce((a, b) => a + b, 0n) & M64) === files.expectedSum ? c.n : -1;
    } finally {
      files.remove();
    }
  },
  // n async tasks alive at once, parked on one gate promise until all have
  // started.
  async scale(c, t) {
    let openGate, allStarted;
    const gate = new Promise((r) => { openGate = r; });
    const started = new Promise((r) => { allStarted = r; });
    let count = 0;
    t.start();
    const tasks = [];
    for (let i = 0; i < c.n; i++) {
      tasks.push((async () => {
        if (++count === c.n) allStarted();
        await gate;
        return 1;
      })());
    }
    await started;
    openGate();
    const got = (await Promise.all(tasks)).reduce((a, b) => a + b, 0);
    t.stop();
    return got;
  },
};

// --- the worker_threads model ----------------------------------------------

// What a Worker runs (this file, with workerData.role): 'onetask' posts
// x + 1 and ends; 'share' posts ready, then answers each {scenario, lo, hi,
// n} with the sum over its share of tasks; 'pool' posts ready, then answers
// each job k with its result until it gets null.
function workerMain() {
  const d = workerData;
  if (d.role === 'onetask') {
    parentPort.postMessage(d.x + 1);
    return;
  }
  parentPort.on('message', async (m) => {
    if (m === null) return parentPort.close();
    if (d.role === 'share') {
      let sum = 0;
      for (let k = m.lo; k < m.hi; k++) sum += m.scenario === 'allofcpu' ? allofcpuTask(k) : cpusplitChunk(k, m.n);
      parentPort.postMessage(sum);
    } else if (m % 2 === 0) {
      parentPort.postMessage(poolCpuJob(m));
    } else {
      await sleep(POOL_IO_MS);
      parentPort.postMessage(1);
    }
  });
  parentPort.postMessage('ready');
}

const nextMessage = (w) => new Promise((resolve, reject) => {
  w.once('message', resolve);
  w.once('error', reject);
});

function startWorkers(count, role) {
  const ws = [];
  for (let i = 0; i < count; i++) ws.push(new Worker(__filename, { workerData: { role } }));
  return ws;
}

// allofcpu and cpusplit: `tasks` tasks in W contiguous shares, one per Worker.
async function splitOverWorkers(c, t, scenario, tasks) {
  const ws = startWorkers(c.workers, 'share');
  await Promise.all(ws.map(nextMessage));  // 'ready': the start-up is untimed
  t.start();
  const sums = await Promise.all(ws.map((w, i) => {
    const got = nextMessage(w);
    w.postMessage({ scenario, lo: Math.floor(i * tasks / ws.length), hi: Math.floor((i + 1) * tasks / ws.length), n: c.n });
    return got;
  }));
  t.stop();
  for (const w of ws) w.postMessage(null);
  return sums.reduce((a, b) => a + b, 0);
}

const ioScenario = 'not expressible: worker_threads is the CPU-split model; I/O-bound and ' +
                   'channel work in Node runs on the event loop (model promises)';
const workerThreads = {
  async onetask(c, t) {
    let ok = true;
    t.start();
    for (let i = 0; i < c.n; i++) {
      const w = new Worker(__filename, { workerData: { role: 'onetask', x: i } });
      const exited = new Promise((resolve) => w.once('exit', resolve));
      ok = (await nextMessage(w)) === i + 1 && ok;
      ok = (await exited) === 0 && ok;
    }
    t.stop();
    return ok ? c.n : -1;
  },
  allofcpu: (c, t) => splitOverWorkers(c, t, 'allofcpu', c.n),
  cpusplit: (c, t) => splitOverWorkers(c, t, 'cpusplit', cpusplitChunks(c.n)),
  // 8 Workers, each given its next job when it returns a result.
  async pool(c, t) {
    t.start();
    const ws = startWorkers(POOL_WORKERS, 'pool');
    let next = 0, total = 0, received = 0;
    await new Promise((resolve, reject) => {
      for (const w of ws) {
        w.on('error', reject);
        w.on('message', (m) => {
          if (m !== 'ready') {
            total += m;
            if (++received === c.n) resolve();
          }
          if (next < c.n) w.postMessage(next++);
        });
      }
    });
    t.stop();
    for (const w of ws) w.postMessage(null);  // close: the workers end
    return total;
  },
};

// --- the command line ------------------------------------------------------

const SCENARIOS = ['onetask', 'allofcpu', 'allofsleep', 'latency', 'allofnet', 'pool', 'disk',
                   'spawn', 'pingpong', 'cpusplit', 'fileio', 'scale'];
const MODELS = { promises, worker_threads: workerThreads };
// The size each scenario runs at without --n (bench/node/README.md).
const DEFAULT_N = { onetask: 10000, allofcpu: 100, allofsleep: 10000, latency: 10000, allofnet: 1000,
                    pool: 1000, disk: 1000, spawn: 100000, pingpong: 100000, cpusplit: 1000000,
                    fileio: 1000, scale: 100000 };

function fail(code, message) {
  fs.writeSync(2, message + '\n');
  process.exit(code);
}

async function main(argv) {
  const scenario = argv[0];
  const opts = {};
  for (const a of argv.slice(1)) {
    const m = /^--?(model|workers|n|addr)=(.*)$/.exec(a);
    if (!m) fail(2, `nodebench: unknown argument ${a}; usage: nodebench <scenario> --model=M --workers=W --n=N [--addr=HOST:PORT]`);
    opts[m[1]] = m[2];
  }
  if (!SCENARIOS.includes(scenario)) fail(2, `nodebench: unknown scenario ${scenario}; supported: ${SCENARIOS.join(', ')}`);
  if (!(opts.model in MODELS)) fail(2, `nodebench: unknown model ${opts.model}; supported: ${Object.keys(MODELS).join(', ')}`);
  const c = { workers: Number(opts.workers ?? os.cpus().length), n: Number(opts.n ?? DEFAULT_N[scenario]) };
  if (!Number.isInteger(c.workers) || !Number.isInteger(c.n) || c.workers < 1 || c.n < 1) {
    fail(2, 'nodebench: --n and --workers must be positive integers');
  }
  if (scenario === 'allofnet') {
    const m = /^(.+):(\d+)$/.exec(opts.addr || '');
    if (!m) fail(2, `nodebench: allofnet needs --addr=HOST:PORT (got ${opts.addr})`);
    c.host = m[1];
    c.port = Number(m[2]);
  }
  const run = MODELS[opts.model][scenario === 'latency' ? 'allofsleep' : scenario];
  if (!run) fail(3, ioScenario);
  let t0 = 0n, t1 = 0n;
  const timer = { start() { t0 = process.hrtime.bigint(); }, stop() { t1 = process.hrtime.bigint(); } };
  const result = await run(c, timer);
  fs.writeSync(1, `weft-bench: scenario=${scenario} model=${opts.model} workers=${c.workers} n=${c.n} ` +
                  `result=${result} elapsed_ns=${t1 - t0} ops=${c.n}\n`);
}

if (isMainThread) {
  main(process.argv.slice(2)).catch((e) => fail(1, `nodebench: ${e && e.stack || e}`));
} else {
  workerMain();
}
