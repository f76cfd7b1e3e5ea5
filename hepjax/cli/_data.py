"""``hepjax data make|plot``: generate collider data sets with Pythia 8 + FastJet, and plot them.

Examples::

    hepjax data make jetnet --n 20000 --out data/jetnet --workers 2 --types t,q
    hepjax data make jetnet --n 20000 --out data/jetnet150 --particles 150
    hepjax data make lhco --n 100000 --out data/lhco
    hepjax data make jetnet --n 1000000 --out /shared/jetnet --dask tcp://scheduler:8786
    hepjax data make bricks --events 100000 --out data/bricks
    hepjax data plot data/jetnet
"""

import argparse
import pathlib
import sys


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def cmd_data_make(args: argparse.Namespace) -> int:
    import functools

    if args.dataset == "bricks":
        return cmd_data_make_bricks(args)
    if args.n is None:
        print(
            f"hepjax: error: data make {args.dataset} needs --n (rows per class)", file=sys.stderr
        )
        return 2

    from hepjax.data.collider import make_dataset

    make = functools.partial(
        make_dataset,
        args.dataset,
        args.out,
        n=args.n,
        types=args.types,
        seed=args.seed,
        particles=args.particles,
        shard_size=args.shard_size,
        extra_settings=tuple(args.pythia or ()),
        progress=not args.quiet,
    )
    if args.dask is None:
        files = make(workers=args.workers)
    else:
        try:
            from distributed import Client
        except ImportError as err:
            raise ImportError("--dask needs the dask extra: pip install 'hepjax[dask]'") from err
        with Client(args.dask) as client:
            files = make(executor=client.get_executor())
    for name, path in files.items():
        print(f"{name}: {path}")
    print(f"manifest: {pathlib.Path(args.out) / 'manifest.json'}")
    return 0


def cmd_data_make_bricks(args: argparse.Namespace) -> int:
    """``hepjax data make bricks --events N --out DIR``: single-cube transport-MC interactions."""
    from hepjax.radiation import make_bricks

    events = args.events if args.events is not None else args.n
    if events is None:
        print("hepjax: error: data make bricks needs --events N", file=sys.stderr)
        return 2
    kwargs = {"events": events, "seed": args.seed, "shard_size": args.shard_size}
    kwargs["progress"] = not args.quiet
    if args.dask is None:
        files = make_bricks(args.out, workers=args.workers, **kwargs)
    else:
        try:
            from distributed import Client
        except ImportError as err:
            raise ImportError("--dask needs the dask extra: pip install 'hepjax[dask]'") from err
        with Client(args.dask) as client:
            files = make_bricks(args.out, executor=client.get_executor(), **kwargs)
    print(f"{len(files)} shards in {args.out}")
    print(f"manifest: {pathlib.Path(args.out) / 'manifest.json'}")
    return 0


def cmd_data_plot(args: argparse.Namespace) -> int:
    from hepjax.data.collider import plot_dataset

    for path in plot_dataset(args.dir, args.out):
        print(f"wrote {path}")
    return 0


# The classes of hepjax.data.collider.DATASETS, repeated here so that building the
# parser does not import JAX (tests/cli checks that they agree).
DATASETS = {
    "jetnet": ("g", "q", "t", "w", "z"),
    "jetclass": ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"),
    "lhco": ("background", "signal"),
    "hh4b": ("qcd", "hh4b"),
    "hh4b_constituents": ("qcd", "hh4b"),
}


def add_data_parser(sub) -> None:
    """Add ``data make`` and ``data plot`` to the ``hepjax`` subcommands."""
    data = sub.add_parser("data", help="generate (Pythia 8 + FastJet) or plot data sets")
    data_sub = data.add_subparsers(dest="action", required=True)
    make = data_sub.add_parser(
        "make",
        help="generate a JetNet-, JetClass-, LHCO- or HH->4b-style data set, or the "
        "BRICKS single-cube interactions (transport MC)",
        description="Generate a data set with Pythia 8 and FastJet (needs pip install "
        "'hepjax[hep]'). Resumable: run the same command again to continue.",
    )
    make.add_argument("dataset", choices=[*DATASETS, "bricks"])
    make.add_argument("--n", type=_positive_int, default=None, help="rows per class")
    make.add_argument(
        "--events",
        type=_positive_int,
        default=None,
        help="bricks: single-cube transport-MC interactions to generate",
    )
    make.add_argument("--out", type=pathlib.Path, required=True, help="output folder")
    where = make.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, default=1, help="local worker processes")
    where.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run the shards on the Dask cluster of this scheduler address (needs "
        "pip install 'hepjax[dask]'; the workers must see --out at the same path)",
    )
    make.add_argument(
        "--types",
        default=None,
        help="comma-separated classes (default: all), e.g. "
        + "; ".join(f"{k}: {','.join(v)}" for k, v in DATASETS.items()),
    )
    make.add_argument(
        "--particles", type=_positive_int, default=30, help="JetNet slots (30 or 150)"
    )
    make.add_argument("--seed", type=int, default=0, help="base random seed")
    make.add_argument(
        "--shard-size",
        type=_positive_int,
        default=None,
        help="rows per shard (default: min(n, 1000))",
    )
    make.add_argument(
        "--pythia",
        action="append",
        metavar="SETTING",
        help="extra Pythia setting, e.g. --pythia 'PartonLevel:MPI = off' (repeatable)",
    )
    make.add_argument("--quiet", action="store_true", help="no progress bar")
    make.set_defaults(fn=lambda a: run_guarded(cmd_data_make, a))
    plot = data_sub.add_parser("plot", help="histograms per class of a generated folder")
    plot.add_argument("dir", type=pathlib.Path)
    plot.add_argument("--out", type=pathlib.Path, default=None, help="default: DIR/plots")
    plot.set_defaults(fn=lambda a: run_guarded(cmd_data_plot, a))


def run_guarded(fn, args: argparse.Namespace) -> int:
    """Run a data command; print missing-dependency and permission errors cleanly."""
    try:
        return fn(args)
    except (ImportError, PermissionError, RuntimeError) as err:
        print(f"hepjax: error: {err}", file=sys.stderr)
        return 2
