"""pybench's multiprocessing model, start method 'fork' (the Linux default
users get), named explicitly with get_context('fork').

Where the exercise is about one task, a task is one
multiprocessing.Process (fork, run, exit; the parent joins it): onetask,
spawn, pingpong and scale. Everywhere else the tasks go to a
multiprocessing.Pool(processes=W) created before the clock starts (it is
the model's runtime, as Tokio's worker threads are), with Pool.map and its
default chunking: allofcpu, allofsleep, allofnet, disk, cpusplit, fileio.
The pool scenario's own pool is a Pool(8) created inside the span (its 8
workers are the scenario's tasks, as every model starts them in the span),
fed with imap_unordered.

How each scenario maps:
    onetask     n times: Process computing i+1, sent back over a Pipe; join.
    spawn       n Processes, each writing its index into its slot of a
                RawArray (shared memory); join all.
    allofcpu    Pool(W).map over the n prime ranges.
    allofsleep  Pool(W).map of time.sleep(latency_ms(i)): only W sleep at a
                time, so this takes about n * 125 ms / W. That is what a
                process pool does with I/O-bound work, and the claim the
                comparison checks.
    allofnet    Pool(W).map of a blocking socket request each.
    pool        Pool(8).imap_unordered over the n jobs (odd: time.sleep(0.001)).
    disk        Pool(W).map; each task writes, reads back and checksums its
                file. The contents were made before the fork (untimed).
    pingpong    main and one echo Process over a duplex Pipe (main is the
                driver; the echo returns every value incremented).
    cpusplit    Pool(W).map over the 10,000-number chunks.
    fileio      Pool(W).map over the prepared files.
    scale       n Processes alive at once, parked on an Event until all have
                started, each then putting 1 on a SimpleQueue (past the
                machine's process limit: exit 3).
"""

import functools
import multiprocessing
import time

import os_tasks
import workloads

_ctx = multiprocessing.get_context("fork")


def _start_all(procs):
    for p in procs:
        p.start()


# The primitives of the scenarios written as threading_model writes them
# (os_tasks); SimpleQueue, as main is the one reader.
_API = os_tasks.Api(task=_ctx.Process, start_all=_start_all, semaphore=_ctx.Semaphore, event=_ctx.Event,
                    queue=_ctx.SimpleQueue)

# disk's file set, made before the Pool forks so the workers inherit it.
_disk_files = None


def _onetask_child(conn, x):
    conn.send(x + 1)


def onetask(n, workers, timer):
    del workers
    receiver, sender = _ctx.Pipe(duplex=False)
    ok = True
    timer.start()
    for i in range(n):
        p = _ctx.Process(target=_onetask_child, args=(sender, i))
        p.start()
        ok = receiver.recv() == i + 1 and ok
        p.join()
        ok = ok and p.exitcode == 0
    timer.stop()
    return (n if ok else -1), n


def spawn(n, workers, timer):
    del workers
    # Each Process keeps its sentinel pipe and its pid until it is joined.
    workloads.check_alive_limit(n, "processes")
    workloads.check_fd_limit(n, "processes")
    return os_tasks.spawn(n, timer, _API, _ctx.RawArray("q", [-1] * n))


def _pool_map(fn, items, workers, timer):
    """Pool(processes=workers).map(fn, items), the pool started and stopped
    outside the clock; returns the results."""
    with _ctx.Pool(processes=workers) as pool:
        timer.start()
        out = pool.map(fn, items)
        timer.stop()
    return out


def allofcpu(n, workers, timer):
    return sum(_pool_map(workloads.allofcpu_task, range(n), workers, timer)), n


def _sleep_task(i):
    ms = workloads.latency_ms(i)
    time.sleep(ms / 1000)
    return ms


def allofsleep(n, workers, timer):
    want = sum(workloads.latency_ms(i) for i in range(n))
    got = _pool_map(_sleep_task, range(n), workers, timer)
    return (n if sum(got) == want else -1), n


def _net_task(host, port, _i):
    return workloads.http_get_blocking(host, port)


def allofnet(n, workers, addr, timer):
    host, port = addr
    return sum(_pool_map(functools.partial(_net_task, host, port), range(n), workers, timer)), n


def pool(n, workers, timer):
    del workers  # the pool scenario's pool has 8 workers in every model
    timer.start()
    p = _ctx.Pool(processes=workloads.POOL_WORKERS)
    total = sum(p.imap_unordered(workloads.pool_job_blocking, range(n)))
    timer.stop()
    p.close()  # no more jobs: the workers finish and exit
    p.join()
    return total, n


def _disk_task(i):
    return workloads.write_then_checksum(_disk_files.path(i), _disk_files.contents[i])


def disk(n, workers, timer):
    global _disk_files
    with workloads.FileDir(n, "weft-disk-", write=False) as _disk_files:
        sums = _pool_map(_disk_task, range(n), workers, timer)
    return _disk_files.result(sums), n


def _echo_child(conn):
    while (v := conn.recv()) is not None:
        conn.send(v + 1)


def pingpong(n, workers, timer):
    del workers
    here, there = _ctx.Pipe()
    timer.start()
    echo = _ctx.Process(target=_echo_child, args=(there,))
    echo.start()
    v = 0
    for _ in range(n):
        here.send(v)
        v = here.recv()
    timer.stop()
    here.send(None)
    echo.join()
    return v, n


def cpusplit(n, workers, timer):
    chunk = functools.partial(_cpusplit_chunk, n)
    return sum(_pool_map(chunk, range(workloads.cpusplit_chunks(n)), workers, timer)), n


def _cpusplit_chunk(n, k):
    return workloads.cpusplit_chunk(k, n)


def fileio(n, workers, timer):
    with workloads.FileDir(n, "weft-fileio-", write=True) as files:
        sums = _pool_map(workloads.read_file_checksum, [files.path(i) for i in range(n)], workers, timer)
    return files.result(sums), n


def scale(n, workers, timer):
    del workers
    workloads.check_alive_limit(n, "processes")
    workloads.check_fd_limit(n, "processes")
    return os_tasks.scale(n, timer, _API)


def run(scenario, n, workers, addr, timer):
    """Runs one scenario; returns (result, ops)."""
    if scenario == "allofnet":
        return allofnet(n, workers, addr, timer)
    return globals()[scenario](n, workers, timer)
