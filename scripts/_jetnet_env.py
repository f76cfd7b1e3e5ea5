"""Build (idempotently) the separate virtualenv that holds the ``jetnet`` package.

``jetnet`` cannot share hepjax's environment: through ``energyflow`` and
``wasserstein`` it forces ``numpy < 2`` (which breaks jax), and unpinned it pulls a
CUDA build of torch. The reference script ``scripts/jetnet_reference.py`` and the
jet-metrics benchmark ``scripts/_jet_metrics_bench.py`` run inside this venv.

Recipe (what works on the 2-core CPU machine): ``python3.11 -m venv``; the CPU
wheel ``torch==2.13.0+cpu`` (from pip's configured find-links or index);
``setuptools`` and ``wheel``;
``pip install --no-build-isolation wasserstein==1.0.1`` (its sdist needs numpy at
build time); then ``jetnet`` and ``energyflow``; finally wasserstein is rebuilt
against the numpy that jetnet's dependencies settled on (coffea moves it to
numpy 2; an extension compiled against numpy 1 then fails to import).

Usage: ``python scripts/_jetnet_env.py [--venv /work/jetnet-venv]``; prints the
venv's python. ``ensure_env()`` is the same from Python.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys

DEFAULT_VENV = pathlib.Path(os.environ.get("HEPJAX_JETNET_VENV", "/work/jetnet-venv"))
_CHECK = (
    "import jetnet, energyflow, numpy; from jetnet import evaluation; print(jetnet.__version__)"
)


def _python(venv: pathlib.Path) -> pathlib.Path:
    return venv / "bin" / "python"


def _ok(venv: pathlib.Path) -> bool:
    py = _python(venv)
    if not py.exists():
        return False
    r = subprocess.run([str(py), "-c", _CHECK], capture_output=True, text=True)
    return r.returncode == 0


def _pip(venv: pathlib.Path, *args: str) -> None:
    cmd = [str(_python(venv)), "-m", "pip", "install", "--quiet", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def ensure_env(venv: pathlib.Path = DEFAULT_VENV) -> pathlib.Path:
    """Create the jetnet venv if it is missing or broken; return its python."""
    venv = pathlib.Path(venv)
    if _ok(venv):
        return _python(venv)
    base = shutil.which("python3.11") or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    # CPU torch first so that jetnet's unpinned torch requirement is already met.
    _pip(venv, "torch==2.13.0+cpu")
    _pip(venv, "setuptools", "wheel", "numpy<2", "cython")
    _pip(venv, "--no-build-isolation", "wasserstein==1.0.1")
    _pip(venv, "jetnet", "energyflow")
    # jetnet's dependencies may move numpy to another major version than the one
    # wasserstein's extension was compiled against: rebuild it against the final numpy.
    _pip(
        venv,
        "--no-build-isolation",
        "--force-reinstall",
        "--no-deps",
        "--no-cache-dir",
        "wasserstein==1.0.1",
    )
    if not _ok(venv):
        raise RuntimeError(f"jetnet venv at {venv} does not import jetnet")
    return _python(venv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=pathlib.Path, default=DEFAULT_VENV)
    print(ensure_env(parser.parse_args().venv))


if __name__ == "__main__":
    main()
