"""Data-parallel training over several virtual CPU devices.

XLA_FLAGS must be set before JAX starts, so each case runs in a subprocess.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

HERE = pathlib.Path(__file__).parent

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {here!r})
    import jax, numpy as np, optax
    import hepjax.train as ht
    import toy

    assert len(jax.devices()) == {devices}, jax.devices()
    report = {{"diffs": [], "replicated": True}}
    run = dict(optimizer=toy.optimizer(), steps=40, key=jax.random.key(3), ema_decay=0.9)
    single = ht.fit(toy.model(), toy.noisy_loss, data=toy.batches(32), devices=jax.devices()[:1],
                    **run)
    for _ in range({repeats}):
        sharded = ht.fit(toy.model(), toy.noisy_loss, data=toy.batches(32), **run)
        diff = max(float(np.max(np.abs(a - b))) for a, b in
                   zip(toy.leaves(sharded.model), toy.leaves(single.model), strict=True))
        report["diffs"].append(diff)
        for leaf in jax.tree.leaves(sharded.model):
            if hasattr(leaf, "sharding"):
                report["replicated"] &= leaf.sharding.is_fully_replicated
                report["ndev"] = len(leaf.sharding.device_set)
    try:
        ht.fit(toy.model(), toy.noisy_loss, data=toy.batches(31), **run)
    except ValueError as err:
        report["error"] = str(err)
    print("REPORT" + json.dumps(report))
    """
)


@pytest.mark.parametrize("devices", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_data_parallel_matches_single_device(tmp_path, devices):
    repeats = 3
    script = tmp_path / "shard.py"
    script.write_text(SCRIPT.format(here=str(HERE), devices=devices, repeats=repeats))
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT"))
    report = json.loads(line[len("REPORT") :])
    assert len(report["diffs"]) == repeats
    # Sharded gradients are summed in another order: equal up to float32 rounding.
    assert max(report["diffs"]) < 1e-4, report
    assert report["replicated"] and report["ndev"] == devices
    assert f"does not divide evenly over {devices} devices" in report["error"]
