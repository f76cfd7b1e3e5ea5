"""In-memory datasets and deterministic, resumable batch streams.

A :class:`Batches` stream is a pure function of ``(key, step)``: the batch at
global step ``s`` comes from epoch ``e = s // steps_per_epoch`` whose order is
``permutation(fold_in(key, e), n)``. The data position is therefore just the
step number, and a training run resumed at step ``s`` sees exactly the batches
an uninterrupted run would have seen.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from hepjax._core import check_positive_int, check_same_leading_dim


class ArrayDataset:
    """Named arrays that share a leading example axis.

    Example:
        ``ArrayDataset(x=x, mask=mask, y=labels)``; ``ds[idx]`` returns a dict
        of the rows ``idx`` of every field.
    """

    def __init__(self, arrays: Mapping[str, Any] | None = None, **fields: Any):
        merged = {**(dict(arrays) if arrays is not None else {}), **fields}
        if not merged:
            raise ValueError("ArrayDataset needs at least one field")
        self.arrays = {k: np.asarray(v) for k, v in merged.items()}
        self.num_examples = check_same_leading_dim("ArrayDataset", self.arrays)
        if self.num_examples == 0:
            raise ValueError("ArrayDataset fields are empty (leading dimension 0)")

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, index) -> dict[str, np.ndarray]:
        return {k: v[index] for k, v in self.arrays.items()}

    @property
    def fields(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Per-example shape and dtype of each field."""
        return {k: (v.shape[1:], v.dtype) for k, v in self.arrays.items()}

    def split(self, fraction: float, *, key: PRNGKeyArray) -> tuple["ArrayDataset", "ArrayDataset"]:
        """Randomly split into two datasets holding ``fraction`` and ``1 - fraction``."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
        order = np.asarray(jax.random.permutation(key, self.num_examples))
        cut = round(fraction * self.num_examples)
        if cut in (0, self.num_examples):
            raise ValueError(f"fraction={fraction} leaves one side of the split empty")
        return ArrayDataset(self[np.sort(order[:cut])]), ArrayDataset(self[np.sort(order[cut:])])

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={s}:{d}" for k, (s, d) in self.fields.items())
        return f"ArrayDataset(n={self.num_examples}, {inner})"


class Batches:
    """A deterministic, shuffled stream of fixed-size batches, indexed by step.

    Args:
        dataset: an :class:`ArrayDataset` (or a mapping of arrays).
        batch_size: examples per batch.
        key: PRNG key for the per-epoch shuffles.
        shuffle: reshuffle every epoch (``False`` keeps the file order).
        drop_remainder: drop the last partial batch of an epoch, so that every
            batch has the same shape and the step compiles once. Must be
            ``True`` unless ``batch_size`` divides the dataset.

    ``batches[step]`` is the batch at a global step; iterating yields batches
    forever from ``start``. Resuming is ``batches.iterate(start=step)``.
    """

    def __init__(
        self,
        dataset: ArrayDataset | Mapping[str, Any],
        batch_size: int,
        *,
        key: PRNGKeyArray,
        shuffle: bool = True,
        drop_remainder: bool = True,
    ):
        self.dataset = dataset if isinstance(dataset, ArrayDataset) else ArrayDataset(dataset)
        batch_size = check_positive_int("batch_size", batch_size)
        n = self.dataset.num_examples
        if batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the dataset ({n} examples)")
        if not drop_remainder and n % batch_size:
            raise ValueError(
                f"batch_size={batch_size} does not divide the dataset ({n} examples); "
                "use drop_remainder=True so that every batch has the same shape"
            )
        self.batch_size = int(batch_size)
        self.key = key
        self.shuffle = shuffle
        self.steps_per_epoch = n // self.batch_size
        self._order_cache: tuple[int, np.ndarray] | None = None

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.dataset.num_examples)
        if self._order_cache is None or self._order_cache[0] != epoch:
            perm = jax.random.permutation(jax.random.fold_in(self.key, epoch), len(self.dataset))
            self._order_cache = (epoch, np.asarray(perm))
        return self._order_cache[1]

    def indices(self, step: int) -> np.ndarray:
        """The dataset rows of the batch at global ``step``."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, within = divmod(int(step), self.steps_per_epoch)
        start = within * self.batch_size
        return self._order(epoch)[start : start + self.batch_size]

    def __getitem__(self, step: int) -> dict[str, np.ndarray]:
        return self.dataset[self.indices(step)]

    def epoch(self, step: int) -> int:
        """The epoch that global ``step`` belongs to."""
        return int(step) // self.steps_per_epoch

    def iterate(self, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Yield batches forever, starting at global step ``start``."""
        step = start
        while True:
            yield self[step]
            step += 1

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self.iterate(0)

    def fingerprint(self) -> dict[str, Any]:
        """What a checkpoint records to check that a resume sees the same stream."""
        key_data = jax.random.key_data(self.key) if _is_typed_key(self.key) else self.key
        return {
            "num_examples": self.dataset.num_examples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "key": np.asarray(key_data).ravel().tolist(),
        }


def _is_typed_key(key) -> bool:
    return jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key)
