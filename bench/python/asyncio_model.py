"""pybench's asyncio model: one event loop, started by asyncio.run outside
the timed span; a task is asyncio.create_task of a coroutine.

How each scenario maps (W, --workers, is only echoed: the loop is one
thread):
    onetask     n times: await asyncio.create_task(inc(i)), check i+1.
    spawn       n tasks writing their index into their slot, then gather.
    allofcpu    n tasks counting primes, gather: they run one after another
                on the loop (no await inside), as naive asyncio code does.
    allofsleep  n tasks awaiting asyncio.sleep(latency_ms(i)), gather.
    allofnet    n tasks over asyncio.open_connection, gather.
    pool        8 worker tasks reading asyncio.Queue(maxsize=64) jobs until
                a None per worker (asyncio.Queue has no close before 3.13);
                results on an unbounded asyncio.Queue that main drains after
                feeding. Odd jobs await asyncio.sleep(0.001).
    disk        n tasks; each writes and reads its file with
                loop.run_in_executor(None, ...) (the default executor,
                min(32, cpus + 4) threads) and checksums on the loop.
    pingpong    an echo task and a driver task over two
                asyncio.Queue(maxsize=1) (asyncio has no unbuffered queue;
                the round trips alternate, so one slot is never exceeded).
    cpusplit    one task per 10,000 numbers, gather (serial, like allofcpu).
    fileio      one task per prepared file, each reading it through
                run_in_executor and checksumming on the loop.
    scale       n tasks alive at once, parked on an asyncio.Event until all
                have started; then gather.
"""

import asyncio

import workloads


async def _timed_gather(timer, aws):
    """await asyncio.gather(*aws) inside the timed span: the clock starts
    before the first awaitable is made (aws is a generator) and stops when
    the last result is in. Returns the results, in order."""
    timer.start()
    results = await asyncio.gather(*aws)
    timer.stop()
    return results


async def _inc(x):
    return x + 1


async def onetask(n, timer):
    timer.start()
    ok = True
    for i in range(n):
        v = await asyncio.create_task(_inc(i))
        ok = ok and v == i + 1
    timer.stop()
    return (n if ok else -1), n


async def spawn(n, timer):
    slots = [None] * n

    async def task(i):
        slots[i] = i

    await _timed_gather(timer, (asyncio.create_task(task(i)) for i in range(n)))
    return sum(1 for i, v in enumerate(slots) if v == i), n


async def allofcpu(n, timer):
    async def task(k):
        return workloads.allofcpu_task(k)

    return sum(await _timed_gather(timer, (task(k) for k in range(n)))), n


async def allofsleep(n, timer):
    want = sum(workloads.latency_ms(i) for i in range(n))

    async def task(i):
        ms = workloads.latency_ms(i)
        await asyncio.sleep(ms / 1000)
        return ms

    got = await _timed_gather(timer, (task(i) for i in range(n)))
    return (n if sum(got) == want else -1), n


async def _http_get(host, port):
    """One allofnet request: 1 for a complete 200 response, else 0 (a
    failed connect included: no retry)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return 0
    try:
        writer.write(workloads.HTTP_REQUEST)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        parsed = workloads.parse_http_head(head[:-4])
        if parsed is None:
            return 0
        status, length = parsed
        body = await reader.readexactly(length)
        return 1 if status == 200 and len(body) == length else 0
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return 0
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def allofnet(n, addr, timer):
    host, port = addr
    return sum(await _timed_gather(timer, (_http_get(host, port) for _ in range(n)))), n


async def pool(n, timer):
    jobs = asyncio.Queue(maxsize=workloads.POOL_JOB_BUFFER)
    results = asyncio.Queue()

    async def worker():
        while (k := await jobs.get()) is not None:
            if k % 2 == 0:
                r = workloads.pool_cpu_job(k)
            else:
                await asyncio.sleep(workloads.POOL_IO_SECONDS)
                r = 1
            await results.put(r)

    timer.start()
    workers = [asyncio.create_task(worker()) for _ in range(workloads.POOL_WORKERS)]
    for k in range(n):
        await jobs.put(k)
    for _ in workers:
        await jobs.put(None)  # close: each worker stops at its None
    total = 0
    for _ in range(n):
        total += await results.get()
    timer.stop()
    await asyncio.gather(*workers)
    return total, n


async def disk(n, timer):
    loop = asyncio.get_running_loop()
    with workloads.FileDir(n, "weft-disk-", write=False) as files:

        async def task(i):
            path = files.path(i)
            await loop.run_in_executor(None, workloads.write_file, path, files.contents[i])
            return workloads.file_checksum(await loop.run_in_executor(None, workloads.read_file, path))

        sums = await _timed_gather(timer, (task(i) for i in range(n)))
    return files.result(sums), n


async def pingpong(n, timer):
    ping = asyncio.Queue(maxsize=1)
    pong = asyncio.Queue(maxsize=1)

    async def echo():  # returns every value incremented, until None
        while (v := await ping.get()) is not None:
            await pong.put(v + 1)

    async def driver():
        v = 0
        for _ in range(n):
            await ping.put(v)
            v = await pong.get()
        await ping.put(None)
        return v

    timer.start()
    echo_task = asyncio.create_task(echo())
    v = await asyncio.create_task(driver())
    timer.stop()
    await echo_task
    return v, n


async def cpusplit(n, timer):
    async def task(k):
        return workloads.cpusplit_chunk(k, n)

    return sum(await _timed_gather(timer, (task(k) for k in range(workloads.cpusplit_chunks(n))))), n


async def fileio(n, timer):
    loop = asyncio.get_running_loop()
    with workloads.FileDir(n, "weft-fileio-", write=True) as files:

        async def task(i):
            try:
                data = await loop.run_in_executor(None, workloads.read_file, files.path(i))
            except OSError:
                return 0
            return workloads.file_checksum(data)

        sums = await _timed_gather(timer, (task(i) for i in range(n)))
    return files.result(sums), n


async def scale(n, timer):
    gate = asyncio.Event()
    all_started = asyncio.Event()
    started = 0

    async def task():
        nonlocal started
        started += 1
        if started == n:
            all_started.set()
        await gate.wait()
        return 1

    timer.start()
    tasks = [asyncio.create_task(task()) for _ in range(n)]
    await all_started.wait()
    gate.set()
    got = sum(await asyncio.gather(*tasks))
    timer.stop()
    return got, n


def run(scenario, n, workers, addr, timer):
    """Runs one scenario under asyncio.run; returns (result, ops)."""
    del workers  # one event loop
    if scenario == "allofnet":
        return asyncio.run(allofnet(n, addr, timer))
    return asyncio.run(globals()[scenario](n, timer))
