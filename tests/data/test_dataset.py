import jax
import numpy as np
import pytest

import hepjax.data as hd


def _dataset(n=50):
    return hd.ArrayDataset(x=np.arange(n, dtype=np.float32)[:, None], y=np.arange(n))


def test_batches_cover_each_epoch_exactly_once(key):
    stream = hd.Batches(_dataset(50), 10, key=key)
    assert stream.steps_per_epoch == 5
    for epoch in range(3):
        seen = np.concatenate([stream[epoch * 5 + i]["y"] for i in range(5)])
        assert sorted(seen.tolist()) == list(range(50))
    assert not np.array_equal(stream[0]["y"], stream[5]["y"])  # reshuffled per epoch


def test_batches_are_a_pure_function_of_step(key):
    a, b = hd.Batches(_dataset(), 8, key=key), hd.Batches(_dataset(), 8, key=key)
    forward = [a[s]["y"] for s in range(20)]
    backward = [b[s]["y"] for s in reversed(range(20))][::-1]
    for f, g in zip(forward, backward, strict=True):
        np.testing.assert_array_equal(f, g)
    resumed = b.iterate(start=13)
    np.testing.assert_array_equal(next(resumed)["y"], forward[13])


def test_drop_remainder_and_no_shuffle(key):
    stream = hd.Batches(_dataset(10), 3, key=key, shuffle=False)
    np.testing.assert_array_equal(stream[0]["y"], [0, 1, 2])
    np.testing.assert_array_equal(stream[3]["y"], [0, 1, 2])  # 10th row dropped
    with pytest.raises(ValueError, match="does not divide the dataset"):
        hd.Batches(_dataset(10), 3, key=key, drop_remainder=False)


def test_bad_dataset_and_batch_arguments(key):
    with pytest.raises(ValueError, match="x has 3, y has 2"):
        hd.ArrayDataset(x=np.zeros(3), y=np.zeros(2))
    with pytest.raises(ValueError, match="at least one field"):
        hd.ArrayDataset()
    with pytest.raises(ValueError, match="larger than the dataset"):
        hd.Batches(_dataset(5), 8, key=key)
    with pytest.raises((TypeError, ValueError), match="batch_size"):
        hd.Batches(_dataset(5), 2.0, key=key)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        hd.Batches(_dataset(5), 0, key=key)


def test_split_is_a_partition(key):
    ds = _dataset(40)
    a, b = ds.split(0.25, key=key)
    assert len(a) == 10 and len(b) == 30
    assert sorted([*a.arrays["y"], *b.arrays["y"]]) == list(range(40))
    with pytest.raises(ValueError, match="fraction must be in"):
        ds.split(1.5, key=key)


def test_fingerprint_is_json_and_tracks_key():
    import json

    a = hd.Batches(_dataset(), 8, key=jax.random.key(1)).fingerprint()
    b = hd.Batches(_dataset(), 8, key=jax.random.key(2)).fingerprint()
    assert json.loads(json.dumps(a)) == a and a != b
