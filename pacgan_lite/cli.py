"""The ``pacgan-lite`` command line. Each subcommand parses its arguments and calls the package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import InputError


def _cohort(args: argparse.Namespace) -> None:
    from .cohort import CohortParams, make_raw_heads
    from .data.embedded import write_cohort

    params = CohortParams(n_subjects=args.n_subjects, size=args.size, seed=args.seed, effect=args.effect)
    folder = write_cohort(params, args.out, workers=args.workers, progress=not args.no_progress,
                          overwrite=args.overwrite)
    print(f"cohort written to {folder}")
    if args.raw_heads:
        poses = make_raw_heads(args.raw_heads, Path(args.out) / "raw", seed=args.seed)
        print(f"{len(poses)} raw head volumes written to {Path(args.out) / 'raw'}")


def _check(args: argparse.Namespace) -> None:
    from .data import check_dataset

    info = check_dataset(args.folder)
    print(f"{info.folder}: {info.n_images} images, {info.channels} channel(s), sizes {list(info.sizes)}")
    print(f"classes: {info.class_counts}; subjects: {info.labels['Subject_ID'].nunique()}")


def _prepare(args: argparse.Namespace) -> None:
    from .config import load_profile
    from .data.prepare import prepare

    overrides = list(args.set)
    if args.data:
        overrides.append(f"data.source={args.data}")
    prepared = prepare(load_profile(args.profile, overrides), out=args.out)
    print(f"prepared data in {prepared.folder}")
    print(prepared.summary.to_string())


def _notebooks(args: argparse.Namespace) -> None:
    from .notebooks import run_all

    for path in run_all(args.profile, out_dir=args.out, only=args.only, timeout_s=args.timeout):
        print(f"executed {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacgan-lite", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pacgan-lite {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    cohort = commands.add_parser("cohort", help="make the embedded synthetic AD/CN cohort into a folder")
    cohort.add_argument("--n-subjects", type=int, default=200)
    cohort.add_argument("--size", type=int, default=256, help="top resolution (4..256, a power of two)")
    cohort.add_argument("--seed", type=int, default=0)
    cohort.add_argument("--effect", type=float, default=1.0, help="disease effect size (0 = no atrophy signal)")
    cohort.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    cohort.add_argument("--workers", type=int, default=0, help="processes (0 = all cores)")
    cohort.add_argument("--raw-heads", type=int, default=0, help="also write this many raw 3D head volumes to OUT/raw")
    cohort.add_argument("--no-progress", action="store_true")
    cohort.add_argument("--overwrite", action="store_true")
    cohort.set_defaults(func=_cohort)

    check = commands.add_parser("check", help="check a data set folder in the reference layout and describe it")
    check.add_argument("folder")
    check.set_defaults(func=_check)

    prepare = commands.add_parser("prepare", help="age/sex matching and grouped split into train/ and test/")
    prepare.add_argument("--profile", default="teaching")
    prepare.add_argument("--data", help="source folder in the reference layout (default: the embedded cohort)")
    prepare.add_argument("--out", help="output folder (default: data/prepared/<source>-<options hash>)")
    prepare.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an option")
    prepare.set_defaults(func=_prepare)

    notebooks = commands.add_parser("notebooks", help="execute the numbered notebooks headless with papermill")
    notebooks.add_argument("--profile", default="teaching")
    notebooks.add_argument("--only", nargs="*", help="notebook numbers, e.g. 01 02")
    notebooks.add_argument("--out", help="folder for executed copies (default runs/notebooks/<profile>)")
    notebooks.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    notebooks.set_defaults(func=_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (InputError, FileExistsError) as err:
        print(f"pacgan-lite {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
