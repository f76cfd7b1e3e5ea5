import json
import multiprocessing
import time

import pytest

from hepjax._core import file_lock, resume_manifest, write_json


def test_write_json_is_atomic_and_plain(tmp_path):
    import numpy as np

    path = write_json(tmp_path / "m.json", {"a": np.float32(1.5), "b": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1]}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_resume_manifest_refuses_other_settings(tmp_path):
    assert resume_manifest(tmp_path, {"n": 1}, {"fresh": True}) == {"fresh": True}
    write_json(tmp_path / "manifest.json", {"settings": {"n": 1}, "done": [0]})
    assert resume_manifest(tmp_path, {"n": 1}, {})["done"] == [0]
    with pytest.raises(ValueError, match="other settings"):
        resume_manifest(tmp_path, {"n": 2}, {})


def _hold(path, seconds, started):
    with file_lock(path):
        started.set()
        time.sleep(seconds)


def test_file_lock_makes_a_second_process_wait(tmp_path):
    target = tmp_path / "cache" / "entry.h5"
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    holder = context.Process(target=_hold, args=(target, 1.5, started))
    holder.start()
    assert started.wait(60)
    t0 = time.perf_counter()
    with file_lock(target):  # blocks until the other process lets go
        waited = time.perf_counter() - t0
    holder.join(60)
    assert holder.exitcode == 0
    assert waited > 0.5
    t0 = time.perf_counter()
    with file_lock(target):  # free now: no wait, the lock file is reused
        assert time.perf_counter() - t0 < 0.5
    assert (tmp_path / "cache" / "entry.h5.lock").exists()
