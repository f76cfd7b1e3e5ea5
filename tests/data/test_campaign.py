"""run_shards: the same results in this process, on a process pool and on any executor."""

import concurrent.futures
import operator

import pytest

from hepjax.data import run_shards

TASKS = [3, -1, 4, -1, 5, -9]


def test_in_process_order_and_callback():
    seen = []
    out = run_shards(operator.neg, TASKS, on_done=lambda i, r: seen.append((i, r)))
    assert out == [-t for t in TASKS]
    assert seen == [(i, -t) for i, t in enumerate(TASKS)]  # in order, in this process


def test_process_pool_and_executor_give_the_same_results():
    seen = {}
    pool = run_shards(abs, TASKS, workers=2, on_done=seen.__setitem__)
    assert pool == [abs(t) for t in TASKS]
    assert seen == dict(enumerate(pool))
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        assert run_shards(abs, TASKS, executor=ex) == pool
        assert run_shards(abs, [], executor=ex) == []


def _fail_on_negative(x):
    if x < 0:
        raise ArithmeticError(f"negative {x}")
    return x


def test_failure_names_the_task_and_keeps_earlier_results():
    done = []
    with pytest.raises(ArithmeticError, match="negative -1") as info:
        run_shards(_fail_on_negative, [2, -1, 7], on_done=lambda i, r: done.append(i))
    assert "in task 1 of run_shards" in info.value.__notes__
    assert done == [0]  # the task before the failure was reported; the one after never ran
    with (
        concurrent.futures.ThreadPoolExecutor(1) as ex,
        pytest.raises(ArithmeticError, match="negative -1"),
    ):
        run_shards(_fail_on_negative, [2, -1, 7], executor=ex)


def test_bad_arguments():
    with pytest.raises(ValueError, match="workers must be a positive int, got 0"):
        run_shards(abs, TASKS, workers=0)
    with pytest.raises(TypeError, match="executor"):
        run_shards(abs, TASKS, executor="dask")
    with (
        concurrent.futures.ThreadPoolExecutor(1) as ex,
        pytest.raises(ValueError, match="workers .* or executor, not both"),
    ):
        run_shards(abs, TASKS, executor=ex, workers=2)


def test_dask_executor():
    distributed = pytest.importorskip(
        "distributed", reason="the Dask executor needs the dask extra: pip install 'hepjax[dask]'"
    )
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        seen = {}
        out = run_shards(abs, TASKS, executor=client.get_executor(), on_done=seen.__setitem__)
    assert out == [abs(t) for t in TASKS]
    assert seen == dict(enumerate(out))
