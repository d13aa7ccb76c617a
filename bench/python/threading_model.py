"""pybench's threading model: one threading.Thread per task (1:1, under
the GIL), queue.Queue between them, time.sleep, blocking sockets and files.
A thread reports its result by writing its own slot of a list, then main
joins it: what Thread users write (Thread has no return value).

How each scenario maps (W, --workers, is only echoed):
    onetask     n times: start a thread computing i+1, join it, check.
    spawn       n threads writing their index into their slot; join all.
    allofcpu    n threads counting primes (the GIL runs one at a time).
    allofsleep  n threads in time.sleep(latency_ms(i)); all n are alive at
                once, so n past the machine's thread limit exits 3.
    allofnet    n threads, each a blocking socket.create_connection request.
    pool        8 threads reading queue.Queue(maxsize=64) jobs until a None
                per worker; results on an unbounded queue.Queue that main
                drains after feeding. Odd jobs time.sleep(0.001).
    disk        n threads, each writing, reading back and checksumming.
    pingpong    an echo thread and a driver thread over two
                queue.Queue(maxsize=1) (no unbuffered queue exists; the
                round trips alternate, so one slot is never exceeded).
    cpusplit    one thread per 10,000 numbers.
    fileio      one thread per prepared file.
    scale       n threads alive at once, parked on a threading.Event until
                all have started (past the thread limit: exit 3).
"""

import os
import queue
import sys
import threading
import time

import os_tasks
import workloads


def _start_all(threads):
    """Starts every thread; if the system refuses one (the thread limit),
    prints the not-expressible line and ends the process at once (the
    threads already started may be parked for good)."""
    for k, t in enumerate(threads):
        try:
            t.start()
        except RuntimeError as e:
            sys.stderr.write("not expressible: thread %d of %d could not start (%s)\n" % (k + 1, len(threads), e))
            sys.stderr.flush()
            os._exit(3)


# The primitives of the scenarios written as multiprocessing_model writes
# them (os_tasks).
_API = os_tasks.Api(task=threading.Thread, start_all=_start_all, semaphore=threading.Semaphore,
                    event=threading.Event, queue=queue.Queue)


def _each(n, timer, body):
    """The shape of most scenarios: n threads, thread i stores body(i) in
    slot i; the clock runs from before the first Thread is made to after
    the last join. Returns the slots."""
    slots = [None] * n

    def task(i):
        slots[i] = body(i)

    timer.start()
    threads = [threading.Thread(target=task, args=(i,)) for i in range(n)]
    _start_all(threads)
    for t in threads:
        t.join()
    timer.stop()
    return slots


def onetask(n, timer):
    slot = [None]

    def inc(x):
        slot[0] = x + 1

    ok = True
    timer.start()
    for i in range(n):
        t = threading.Thread(target=inc, args=(i,))
        t.start()
        t.join()
        ok = ok and slot[0] == i + 1
    timer.stop()
    return (n if ok else -1), n


def spawn(n, timer):
    return os_tasks.spawn(n, timer, _API, [None] * n)


def allofcpu(n, timer):
    return sum(_each(n, timer, workloads.allofcpu_task)), n


def allofsleep(n, timer):
    workloads.check_alive_limit(n, "threads")
    want = sum(workloads.latency_ms(i) for i in range(n))

    def task(i):
        ms = workloads.latency_ms(i)
        time.sleep(ms / 1000)
        return ms

    got = _each(n, timer, task)
    return (n if sum(got) == want else -1), n


def allofnet(n, addr, timer):
    host, port = addr
    return sum(_each(n, timer, lambda i: workloads.http_get_blocking(host, port))), n


def pool(n, timer):
    jobs = queue.Queue(maxsize=workloads.POOL_JOB_BUFFER)
    results = queue.Queue()

    def worker():
        while (k := jobs.get()) is not None:
            results.put(workloads.pool_job_blocking(k))

    timer.start()
    threads = [threading.Thread(target=worker) for _ in range(workloads.POOL_WORKERS)]
    _start_all(threads)
    for k in range(n):
        jobs.put(k)
    for _ in threads:
        jobs.put(None)  # close: each worker stops at its None
    total = 0
    for _ in range(n):
        total += results.get()
    timer.stop()
    for t in threads:
        t.join()
    return total, n


def disk(n, timer):
    with workloads.FileDir(n, "weft-disk-", write=False) as files:
        sums = _each(n, timer, lambda i: workloads.write_then_checksum(files.path(i), files.contents[i]))
    return files.result(sums), n


def pingpong(n, timer):
    ping = queue.Queue(maxsize=1)
    pong = queue.Queue(maxsize=1)
    final = [None]

    def echo():  # returns every value incremented, until None
        while (v := ping.get()) is not None:
            pong.put(v + 1)

    def driver():
        v = 0
        for _ in range(n):
            ping.put(v)
            v = pong.get()
        ping.put(None)
        final[0] = v

    timer.start()
    threads = [threading.Thread(target=echo), threading.Thread(target=driver)]
    _start_all(threads)
    threads[1].join()
    timer.stop()
    threads[0].join()
    return final[0], n


def cpusplit(n, timer):
    counts = _each(workloads.cpusplit_chunks(n), timer, lambda k: workloads.cpusplit_chunk(k, n))
    return sum(counts), n


def fileio(n, timer):
    with workloads.FileDir(n, "weft-fileio-", write=True) as files:
        sums = _each(n, timer, lambda i: workloads.read_file_checksum(files.path(i)))
    return files.result(sums), n


def scale(n, timer):
    workloads.check_alive_limit(n, "threads")
    return os_tasks.scale(n, timer, _API)


def run(scenario, n, workers, addr, timer):
    """Runs one scenario; returns (result, ops)."""
    del workers  # one thread per task
    if scenario == "allofnet":
        return allofnet(n, addr, timer)
    return globals()[scenario](n, timer)
