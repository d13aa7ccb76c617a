"""The scenarios that threading_model and multiprocessing_model write the
same way, one OS thread or one process per task: the multiprocessing API
mirrors threading's (Process for Thread, the same Semaphore and Event), so
each model passes in its own primitives as an Api and keeps the rest of
its code as its users would write it.

    spawn   n tasks, each writing its index into its slot of `slots` (a
            list for threads, shared memory for processes); join all.
    scale   n tasks alive at once, parked on an Event until all have
            started (a Semaphore counts them in), each then putting 1 on a
            queue that main drains; join all.

The tasks' bodies are module-level functions with their arguments passed
through args=, as a Process target is written (the 'fork' start method
would take a closure, the others would not).
"""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Api:
    """A model's primitives: task(target=, args=) makes a Thread or a
    Process (not started); start_all(tasks) starts them (the model's way of
    meeting a system limit); semaphore, event and queue make the model's
    own Semaphore, Event and queue (with put and get)."""

    task: Callable
    start_all: Callable
    semaphore: Callable
    event: Callable
    queue: Callable


def _store_index(slots, i):
    slots[i] = i


def spawn(n, timer, api, slots):
    """n tasks writing their index into slots[i], joined; the clock runs
    from before the first task is made to after the last join. Returns
    (tasks that wrote their slot, n)."""
    timer.start()
    tasks = [api.task(target=_store_index, args=(slots, i)) for i in range(n)]
    api.start_all(tasks)
    for t in tasks:
        t.join()
    timer.stop()
    return sum(1 for i in range(n) if slots[i] == i), n


def _scale_task(started, gate, done):
    started.release()
    gate.wait()
    done.put(1)


def scale(n, timer, api):
    """n tasks alive at once, released together once all have started;
    the clock stops when main has every task's 1. Returns (the sum, n).
    The caller checks the machine's limits first."""
    started = api.semaphore(0)
    gate = api.event()
    done = api.queue()
    timer.start()
    tasks = [api.task(target=_scale_task, args=(started, gate, done)) for _ in range(n)]
    api.start_all(tasks)
    for _ in range(n):
        started.acquire()
    gate.set()
    got = sum(done.get() for _ in range(n))
    timer.stop()
    for t in tasks:
        t.join()
    return got, n
