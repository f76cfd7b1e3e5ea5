"""Campaigns: run independent shards of work on any ``concurrent.futures`` executor.

Data generation, detector-design iterations and scaling-law grids are all a
list of independent *tasks* (a shard of events, one design, one grid point),
each of which writes its own result. :func:`run_shards` runs them on an
existing engine rather than on home-made worker processes:

* by default, in this process (``workers=1``) or on a local
  :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` fresh
  interpreters (the ``spawn`` start method: no fork of a process that runs JAX
  threads);
* on any :class:`concurrent.futures.Executor` passed as ``executor=``, e.g.
  a Dask cluster's ``distributed.Client(...).get_executor()`` (the optional
  ``dask`` extra), which spreads the tasks over the cluster's workers.

The caller keeps the bookkeeping: ``on_done`` runs in the calling thread as
each task finishes, so a manifest can be updated shard by shard and a rerun can
skip finished shards. Tasks should make their output atomic (write a temporary
file, then rename), so that an interrupted campaign never leaves a
half-written result under its final name.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from hepjax._core import check_positive_int


def run_shards(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    executor: concurrent.futures.Executor | None = None,
    workers: int = 1,
    on_done: Callable[[int, Any], None] | None = None,
) -> list:
    """Run ``fn(task)`` for every task; return the results in task order.

    ::

        def one_design(task):  # a top-level function: it is pickled to the workers
            ...
            return {"loss": loss}

        results = run_shards(one_design, grid, workers=4)            # local processes
        results = run_shards(one_design, grid, executor=client.get_executor())  # Dask

    Args:
        fn: a function of one task. For a process pool or a cluster, ``fn``
            and the tasks must be picklable (a module-level function and
            plain data) and the script that calls ``run_shards`` needs the
            usual ``if __name__ == "__main__":`` guard (the ``spawn`` start
            method imports it in each worker).
        tasks: the tasks, in the order of the returned results.
        executor: where to run them; not shut down here. ``None``: this
            process if ``workers`` is 1 (or there is at most one task), else
            a local process pool of ``workers`` processes, shut down at the end.
        workers: size of the default process pool. Only with ``executor=None``.
        on_done: ``on_done(index, result)``, called in the calling thread as
            each task finishes (completion order).

    Returns:
        ``[fn(task) for task in tasks]``.

    Raises:
        ValueError: ``workers`` is not a positive int, or is given with ``executor``.
        TypeError: ``executor`` is not a ``concurrent.futures.Executor``.
        Exception: the first task that fails re-raises its exception (with a
            note naming the task's index) after the tasks not yet started are
            cancelled; the tasks finished before it have been reported.
    """
    workers = check_positive_int("workers", workers)
    if executor is not None:
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(
                "executor must be a concurrent.futures.Executor (e.g. a ProcessPoolExecutor "
                f"or a Dask client's get_executor()), got {type(executor).__name__}"
            )
        if workers != 1:
            raise ValueError(
                "give workers (the size of the default process pool) or executor, not both; "
                f"got workers={workers} and an executor"
            )
    tasks = list(tasks)
    results: list = [None] * len(tasks)
    if executor is None and (workers == 1 or len(tasks) <= 1):
        for index, task in enumerate(tasks):
            results[index] = _call(fn, task, index)
            if on_done is not None:
                on_done(index, results[index])
        return results
    if executor is not None:
        _run_on(executor, fn, tasks, results, on_done)
        return results
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn")
    )
    try:
        _run_on(pool, fn, tasks, results, on_done)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def _call(fn, task, index):
    try:
        return fn(task)
    except Exception as err:
        err.add_note(f"in task {index} of run_shards")
        raise


def _run_on(executor, fn, tasks, results, on_done) -> None:
    futures = {executor.submit(fn, task): index for index, task in enumerate(tasks)}
    try:
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as err:
                err.add_note(f"in task {index} of run_shards")
                raise
            if on_done is not None:
                on_done(index, results[index])
    except BaseException:
        for future in futures:
            future.cancel()
        raise
