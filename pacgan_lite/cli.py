"""The ``pacgan-lite`` command line. Each subcommand parses its arguments and calls the package.

A relative path on the command line (a path argument, or a ``--set`` value of a path option) is relative to
the current directory, as with every command-line tool; the parser makes it absolute before the package
sees it (the package reads relative paths in profiles against the repository root).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import InputError

GRID_DIR = Path(__file__).resolve().parent / "grids"  # pacgan_lite.sweep.grid's, without importing torch

# Flags that set an option: command -> (section, {argparse dest: option within the section}). They default to
# None, so that the option's own default applies unless the flag is given: pacgan_lite.config's for cohort,
# the run's options for evaluate, the run's profile for utility.
OPTION_FLAGS = {
    "cohort": ("cohort", {"n_subjects": "n_subjects", "size": "size", "seed": "seed", "effect": "effect"}),
    "evaluate": ("evaluation", {"held_out": "held_out", "population_subjects": "population_subjects",
                                "synthetic_per_class": "synthetic_per_class",
                                "metrics": "metrics", "inception_weights": "inception_weights",
                                "seed": "metric.seed"}),
    "utility": ("utility", {"resolution": "resolution", "seeds": "seeds"}),
}


def _given_options(args: argparse.Namespace) -> dict:
    """``{option within the section: value}`` of the command's option flags that were given."""
    _, flags = OPTION_FLAGS[args.command]
    return {option: getattr(args, dest) for dest, option in flags.items() if getattr(args, dest) is not None}


def _cohort(args: argparse.Namespace) -> None:
    from .cohort import CohortParams, make_raw_heads
    from .config import replace_options
    from .data.embedded import write_cohort

    params = replace_options(CohortParams(), _given_options(args), "cohort")
    folder = write_cohort(params, args.out, workers=args.workers, progress=not args.no_progress,
                          overwrite=args.overwrite)
    print(f"cohort written to {folder}")
    if args.raw_heads:
        raw = Path(args.out) / "raw"
        poses = make_raw_heads(args.raw_heads, raw, seed=params.seed, progress=not args.no_progress)
        print(f"{len(poses)} raw head volumes written to {raw}")


def _check(args: argparse.Namespace) -> None:
    from .data import check_dataset

    info = check_dataset(args.folder)
    print(f"{info.folder}: {info.n_images} images, {info.channels} channel(s), sizes {list(info.sizes)}")
    print(f"classes: {info.class_counts}; subjects: {info.labels['Subject_ID'].nunique()}")


def _preprocess(args: argparse.Namespace) -> None:
    from .preprocess import preprocess

    result = preprocess(args.volumes, args.metadata, args.out, slice_index=args.slice, n_slices=args.n_slices,
                        skip_bad=args.skip_bad, workers=args.workers or None, progress=not args.no_progress,
                        overwrite=args.overwrite)
    print(f"{len(result.qc)} volumes registered ({result.seconds_per_volume:.1f} s of registration per volume); "
          f"training layout written to {result.folder}")
    if len(result.skipped):
        print(f"{len(result.skipped)} skipped or flagged, see {result.folder / 'skipped.csv'}:")
        print(result.skipped[["file", "field", "reason"]].to_string(index=False))


def _prepare(args: argparse.Namespace) -> None:
    from .config import load_profile
    from .data.prepare import prepare

    overrides = list(args.set)
    if args.data:
        overrides.append(f"data.source={json.dumps(args.data)}")
    prepared = prepare(load_profile(args.profile, overrides), out=args.out)
    print(f"prepared data in {prepared.folder}")
    print(prepared.summary.to_string())


def _train(args: argparse.Namespace) -> None:
    from .config import load_profile
    from .data import check_dataset
    from .data.layout import available_sizes
    from .data.prepare import prepare, prepared_options, refuse_options_unlike
    from .metrics import list_metrics
    from .reference_config import check_data, read_reference_config, reference_keys_in_errors
    from .training import train

    layers, reference = [], None
    if args.reference_config:  # before --set, which still wins
        reference = read_reference_config(args.reference_config)
        layers.append((args.reference_config, reference.overrides))
        for key, advice in reference.not_used.items():
            print(f"reference option {key} not used: {advice}")
    overrides = list(args.set)
    data = Path(args.data) if args.data else None
    is_prepared = data is not None and (data / "train").is_dir() and (data / "test").is_dir()
    made_with = prepared_options(data) if is_prepared else {}
    if is_prepared:
        layers.append((data, made_with))
    elif data is not None:
        overrides.append(f"data.source={json.dumps(str(data))}")
    naming = reference_keys_in_errors(reference, args.reference_config) if reference else contextlib.nullcontext()
    with naming:
        config = load_profile(args.profile, overrides, layers=layers, known_metrics=list_metrics())
    refuse_options_unlike(config, made_with, data, "override")
    if is_prepared:
        train_folder, test_folder = data / "train", data / "test"
    else:
        prepared = prepare(config)
        train_folder, test_folder = prepared.train, prepared.test
    if reference is not None:
        info = check_dataset(train_folder, sizes=available_sizes(train_folder)[:1])  # classes and channels only
        check_data(reference, args.reference_config, {"n_classes": len(info.class_names),
                                                      "image_channels": info.channels}, train_folder)
    result = train(config, train_folder, test_folder=test_folder, run_dir=args.out, resume=args.resume)
    print(f"run folder: {result.run_dir}")


def _generate(args: argparse.Namespace) -> None:
    from .inference import generate

    made = generate(args.checkpoint, args.per_class, args.out, size=args.size, seed=args.seed,
                    batch_size=args.batch_size, device=args.device)
    print(f"{made.n_images} images written to {made.images}, labels to {made.labels} "
          f"(Label: {', '.join(f'{k} = {name}' for k, name in enumerate(made.class_names))})")


def _classify(args: argparse.Namespace) -> None:
    from .inference import classify

    result = classify(args.checkpoint, args.images, labels=args.labels, out=args.out, batch_size=args.batch_size,
                      device=args.device)
    print(f"{len(result.predictions)} predictions written to {result.path}")
    if result.metrics is not None:
        m = result.metrics
        low, high = m["auc_95ci"] or (float("nan"), float("nan"))
        print(f"AUC {m['auc']:.3f} (95% CI {low:.3f}-{high:.3f}), accuracy {m['accuracy']:.3f}, "
              f"balanced accuracy {m['balanced_accuracy']:.3f}")


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate
    from .evaluation.evaluate import run_evaluation_options
    from .run_folder import RunFolder

    options = run_evaluation_options(RunFolder(args.run), _given_options(args))
    result = evaluate(args.run, checkpoint=args.checkpoint, options=options, out=args.out, device=args.device)
    for name, value in result.metrics.items():
        print(f"{name}: {'skipped (' + value['skipped'] + ')' if 'skipped' in value else 'done'}")
    print(f"metrics and figures written to {result.folder}")


def _utility(args: argparse.Namespace) -> None:
    from .run_folder import RunFolder
    from .utility import run_utility
    from .utility.options import utility_options
    from .utility.reading import plain_reading

    options = utility_options(RunFolder(args.run), args.profile, [*args.set, *(
        f"utility.{option}={json.dumps(list(value) if isinstance(value, list) else value)}"
        for option, value in _given_options(args).items())])
    result = run_utility(args.run, options, final_run=args.final_run, device=args.device, echo=not args.quiet)
    columns = ["group", "setting", "n_seeds", "auc", "auc_low", "auc_high", "auc_seed_std", "balanced_accuracy"]
    print(result.summary[columns].round(3).to_string(index=False))
    print(result.comparisons[["setting", "difference", "difference_low", "difference_high", "reading"]]
          .round(3).to_string(index=False))
    print(plain_reading(result.record))
    print(f"tables and figures written to {result.folder}")


def _import_reference(args: argparse.Namespace) -> None:
    from .reference_checkpoint import import_reference

    out = import_reference(args.checkpoints, args.config, args.out, class_names=args.class_names,
                           stddev=args.stddev, stddev_images=args.stddev_images, seed=args.seed,
                           device=args.device)
    print(f"kit checkpoint written to {out} (generate, classify and evaluate --checkpoint read it)")


def _export_reference(args: argparse.Namespace) -> None:
    from .reference_checkpoint import export_reference

    out = export_reference(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"reference checkpoints and config.json written to {out}")


def _notebooks(args: argparse.Namespace) -> None:
    from .notebooks import run_all

    for path in run_all(args.profile, out_dir=args.out, only=args.only, timeout_s=args.timeout):
        print(f"executed {path}")


def _sweep(args: argparse.Namespace) -> None:
    from .config import parse_override
    from .sweep import default_out, read_grid, report, sweep

    overrides = dict(parse_override(text) for text in args.set)
    grid = read_grid(args.grid, overrides)
    if args.collect:
        out = args.out or default_out(grid)
        made = report(grid, out)
    else:
        result = sweep(grid, out=args.out, overrides=overrides, executor=args.executor,
                       retry_failed=args.retry_failed, progress=not args.no_progress,
                       submitit_parameters=dict(parse_override(text) for text in args.submitit))
        out, made = result.out, result.report
    results = made.table.results
    print(results[["run", "state", "reason"]].to_string(index=False))
    print(f"table of {len(results)} runs in {out} (results.csv, summary.csv, differences.csv, figures/)")
    failed = results.loc[results["state"] == "failed", "run"]
    if len(failed):
        print(f"failed: {', '.join(failed)} (their run folders record why; --retry-failed runs them again)")
        raise SystemExit(1)


def _bench(args: argparse.Namespace) -> None:
    from .bench import BenchOptions, run_bench
    from .bench.runner import parse_stages
    from .paths import runs_root

    options = BenchOptions(architectures=tuple(args.architectures), stages=parse_stages(args.stages),
                           seconds=args.seconds, rounds=args.rounds, peak_seconds=args.peak_seconds,
                           device=args.device,
                           generation=not args.no_generation, preprocessing=not args.no_preprocessing,
                           overrides=tuple(args.set))
    run_bench(options, args.out or runs_root() / "bench")


def _absolute(text: str) -> str:
    """An argparse type: the path made absolute against the current directory."""
    return os.path.abspath(os.path.expanduser(text))


_absolute.__name__ = "path"


def _set_option(text: str) -> str:
    """An argparse type for ``--set KEY=VALUE``: a relative path given to a path option
    (:func:`pacgan_lite.config.path_options`) is made absolute against the current directory."""
    from .config import parse_override, path_options

    try:
        key, value = parse_override(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    not_paths = path_options().get(key)
    if not_paths is None or not isinstance(value, str) or not value or value in not_paths:
        return text
    return f"{key}={json.dumps(_absolute(value))}"


_set_option.__name__ = "KEY=VALUE"


def _showing_option_defaults(command: str) -> type[argparse.HelpFormatter]:
    """A help formatter that appends each option flag's default, read from the options when help is shown."""
    section, flags = OPTION_FLAGS[command]

    class Formatter(argparse.HelpFormatter):
        def _get_help_string(self, action: argparse.Action) -> str | None:
            if action.dest not in flags:
                return action.help
            from .config import KitConfig

            default = functools.reduce(getattr, [section, *flags[action.dest].split(".")], KitConfig())
            if default is None:
                return action.help
            shown = f"default {default}".replace("%", "%%")  # help strings are %-formatted
            return f"{action.help} ({shown})" if action.help else shown

    return Formatter


def _at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum`` (argparse names the option in its error)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse shows this name when int() fails
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacgan-lite", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pacgan-lite {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    cohort = commands.add_parser("cohort", help="make the embedded synthetic AD/CN cohort into a folder",
                                 formatter_class=_showing_option_defaults("cohort"))
    cohort.add_argument("--n-subjects", type=_at_least(1), help="subjects, half CN and half AD")
    cohort.add_argument("--size", type=int, help="top resolution (4..256, a power of two)")
    cohort.add_argument("--seed", type=_at_least(0), help="the cohort is a function of its options and this seed")
    cohort.add_argument("--effect", type=float, help="disease effect size (0 = no atrophy signal)")
    cohort.add_argument("--out", type=_absolute, required=True,
                        help="output folder (must not exist unless --overwrite)")
    cohort.add_argument("--workers", type=_at_least(0), default=0, help="processes (0 = all cores)")
    cohort.add_argument("--raw-heads", type=_at_least(0), default=0,
                        help="also write this many raw 3D head volumes to OUT/raw")
    cohort.add_argument("--no-progress", action="store_true")
    cohort.add_argument("--overwrite", action="store_true")
    cohort.set_defaults(func=_cohort)

    check = commands.add_parser("check", help="check a data set folder in the reference layout and describe it")
    check.add_argument("folder", type=_absolute)
    check.set_defaults(func=_check)

    preprocess = commands.add_parser("preprocess", help="register raw T1 volumes to MNI152 (9 DOF), take axial "
                                     "slice 127 and write the training layout")
    preprocess.add_argument("--volumes", type=_absolute, required=True,
                            help="folder of T1 volumes (.nii or .nii.gz)")
    preprocess.add_argument("--metadata", type=_absolute, required=True,
                            help="ADNI collection CSV (Image Data ID, Subject, Group, Sex, Age) "
                                 "or file,subject,label,age,sex")
    preprocess.add_argument("--out", type=_absolute, required=True,
                            help="output data set folder (must not exist unless --overwrite)")
    preprocess.add_argument("--slice", type=int, default=127, help="axial index in the 256 cube (127 = MNI z +18 mm)")
    preprocess.add_argument("--n-slices", type=int, default=1, help="slices per volume, centred on --slice")
    preprocess.add_argument("--skip-bad", action="store_true",
                            help="go on without bad inputs; list them in skipped.csv")
    preprocess.add_argument("--workers", type=_at_least(0), default=0, help="processes (0 = all cores)")
    preprocess.add_argument("--no-progress", action="store_true")
    preprocess.add_argument("--overwrite", action="store_true")
    preprocess.set_defaults(func=_preprocess)

    prepare = commands.add_parser("prepare", help="age/sex matching and grouped split into train/ and test/")
    prepare.add_argument("--profile", default="teaching")
    prepare.add_argument("--data", type=_absolute,
                         help="source folder in the reference layout (default: the embedded cohort)")
    prepare.add_argument("--out", type=_absolute,
                         help="output folder (default: data/prepared/<source>-<options hash>)")
    prepare.add_argument("--set", type=_set_option, action="append", default=[], metavar="KEY=VALUE",
                         help="override an option")
    prepare.set_defaults(func=_prepare)

    train = commands.add_parser("train", help="train PACGAN stage by stage into a run folder")
    train.add_argument("--profile", default="teaching")
    train.add_argument("--data", type=_absolute,
                       help="a prepared folder (with train/ and test/) or a source data set "
                            "(default: the embedded cohort, prepared on the fly)")
    train.add_argument("--out", type=_absolute,
                       help="run folder (default: runs/<id>-<profile>-<mode>, or the --resume folder)")
    train.add_argument("--resume", type=_absolute,
                       help="checkpoint to continue from exactly (a run's latest one, or a stage's best); the "
                            "stages it has not begun may take new epochs, batch sizes and critic iterations")
    train.add_argument("--reference-config", type=_absolute,
                       help="the reference's config.json: its values as overrides")
    train.add_argument("--set", type=_set_option, action="append", default=[], metavar="KEY=VALUE",
                       help="override an option, e.g. train.stages=3")
    train.set_defaults(func=_train)

    generate = commands.add_parser("generate", help="write generated images (NIfTI [W,H,C,N]) and labels_syn.csv")
    generate.add_argument("--checkpoint", type=_absolute, required=True,
                          help="a checkpoint, or a run folder (its last stage's selected weights)")
    generate.add_argument("--per-class", type=_at_least(0), nargs="+", required=True, metavar="N",
                          help="images per class: one number for every class, or one per class")
    generate.add_argument("--size", type=int, help="side in px (default: the checkpoint's resolution)")
    generate.add_argument("--out", type=_absolute, required=True,
                          help="NIfTI file, e.g. synthetic/Generated256x256.nii.gz")
    generate.add_argument("--seed", type=_at_least(0), default=0)
    generate.add_argument("--batch-size", type=_at_least(1), default=64)
    generate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    generate.set_defaults(func=_generate)

    classify = commands.add_parser("classify", help="class probabilities of the critic for a NIfTI of images")
    classify.add_argument("--checkpoint", type=_absolute, required=True)
    classify.add_argument("--images", type=_absolute, required=True,
                          help="NIfTI [W,H,C,N] in [-1, 1] at the checkpoint's size")
    classify.add_argument("--labels", type=_absolute,
                          help="CSV with ID and Label: adds the metrics (<out>.metrics.json)")
    classify.add_argument("--out", type=_absolute, required=True, help="predictions CSV")
    classify.add_argument("--batch-size", type=_at_least(1), default=64)
    classify.add_argument("--device", default="auto")
    classify.set_defaults(func=_classify)

    evaluate = commands.add_parser("evaluate", help="every metric of a trained run into <run>/evaluation/",
                                   description="Every metric of a trained run into <run>/evaluation/. An option "
                                   "not given is the run's own (the evaluation options it was trained with).")
    evaluate.add_argument("--run", type=_absolute, required=True, help="the run folder")
    evaluate.add_argument("--checkpoint", type=_absolute, help="default: the last stage's selected weights")
    # config.HELD_OUT_SPLITS, written out so that parsing imports no torch; a test keeps the two equal
    evaluate.add_argument("--held-out", choices=["auto", "val", "test", "population"],
                          help="real images to compare with (auto: val for validation runs, test for final runs; "
                               "population: a fresh cohort of the embedded cohort's population)")
    evaluate.add_argument("--population-subjects", type=int,
                          help="subjects of the fresh cohort of --held-out population")
    evaluate.add_argument("--synthetic-per-class", type=_at_least(2), help="generated images per class")
    evaluate.add_argument("--metrics", nargs="+", help="compute only these (metric names)")
    evaluate.add_argument("--inception-weights", type=_absolute,
                          help="local FID Inception-v3 weights (no file: FID/KID skipped)")
    evaluate.add_argument("--out", type=_absolute, help="output folder (default <run>/evaluation)")
    evaluate.add_argument("--seed", type=_at_least(0), help="seed of the generated images and the metrics")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=_evaluate)

    utility = commands.add_parser("utility", help="does synthetic data help? a plain classifier trained on real, "
                                  "synthetic, mixed and imbalanced sets, and the critic, on the real test images; "
                                  "writes <run>/utility/")
    utility.add_argument("--run", type=_absolute, required=True, help="a complete validation run folder")
    utility.add_argument("--final-run", type=_absolute, help="its final-protocol run (train.final_mode, "
                         "train.selection_from = the run) for setting e; default: found beside the run, or trained")
    utility.add_argument("--profile", help="take the utility options of this profile (default: the run's own "
                         "profile)")
    utility.add_argument("--resolution", type=_at_least(4),
                         help="side of the classifier's images (default: the run's profile, or --profile)")
    utility.add_argument("--seeds", type=_at_least(0), nargs="+",
                         help="one classifier per setting and seed (default: the run's profile, or --profile)")
    utility.add_argument("--set", type=_set_option, action="append", default=[], metavar="KEY=VALUE",
                         help="an option of the study, e.g. utility.synthetic_amounts=[1,2]")
    utility.add_argument("--device", default="cpu", help="where the generator and the critics run")
    utility.add_argument("--quiet", action="store_true", help="no line per trained classifier")
    utility.set_defaults(func=_utility)

    import_ref = commands.add_parser("import-reference", help="convert the reference PACGAN's generator_best.pt "
                                     "and discriminator_best.pt into a kit checkpoint")
    import_ref.add_argument("--checkpoints", type=_absolute, nargs="+", required=True, metavar="DIR_OR_FILES",
                            help="a PACGAN_{s}x{s} folder, the folder holding those (the highest resolution is "
                            "taken), or generator_best.pt then discriminator_best.pt")
    import_ref.add_argument("--config", type=_absolute, required=True,
                            help="the reference's config.json these weights were trained with")
    import_ref.add_argument("--out", type=_absolute, required=True, help="the kit checkpoint to write (.pt)")
    import_ref.add_argument("--class-names", nargs=2, default=["CN", "AD"], metavar=("NAME0", "NAME1"),
                            help="names of labels 0 and 1 (default: CN AD, the reference's)")
    stddev = import_ref.add_mutually_exclusive_group()
    stddev.add_argument("--stddev-images", type=_absolute, help="NIfTI [W,H,C,N] of real images at the checkpoint's "
                        "size: the critic's minibatch-stddev value is estimated from them (default: from generated "
                        "images)")
    stddev.add_argument("--stddev", type=float, help="the critic's minibatch-stddev value, used as it is")
    import_ref.add_argument("--seed", type=_at_least(0), default=0, help="seeds the batches of the estimate")
    import_ref.add_argument("--device", default="auto", help="where the estimate runs: auto, cpu or cuda")
    import_ref.set_defaults(func=_import_reference)

    export_ref = commands.add_parser("export-reference", help="write a kit checkpoint in the reference's layout: "
                                     "PACGAN_{s}x{s}/generator_best.pt, discriminator_best.pt, config.json")
    export_ref.add_argument("--checkpoint", type=_absolute, required=True,
                            help="a kit checkpoint or a run folder (its last stage's selected weights)")
    export_ref.add_argument("--out", type=_absolute, required=True, help="folder for config.json and PACGAN_{s}x{s}/")
    export_ref.add_argument("--overwrite", action="store_true", help="replace exported files already there")
    export_ref.set_defaults(func=_export_reference)

    notebooks = commands.add_parser("notebooks", help="execute the numbered notebooks headless with papermill")
    notebooks.add_argument("--profile", default="teaching")
    notebooks.add_argument("--only", nargs="*", help="notebook numbers, e.g. 01 02")
    notebooks.add_argument("--out", type=_absolute,
                           help="folder for executed copies (default runs/notebooks/<profile>)")
    notebooks.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    notebooks.set_defaults(func=_notebooks)

    sweep = commands.add_parser("sweep", help="run a grid of variants and seeds (ablations), one papermill run "
                                "of the per-run notebook each, then the table; skips finished runs, resumes "
                                "stopped ones")
    grids = ", ".join(sorted(path.stem for path in GRID_DIR.glob("*.yaml")))
    sweep.add_argument("grid", help=f"a grid name (pacgan_lite/grids: {grids}) or a grid YAML file")
    sweep.add_argument("--out", type=_absolute, help="sweep folder (default runs/sweeps/<grid name>)")
    sweep.add_argument("--collect", action="store_true",
                       help="only rebuild the table and figures from the run folders; run nothing")
    sweep.add_argument("--retry-failed", action="store_true", help="run failed runs again (from their latest checkpoint)")
    sweep.add_argument("--executor", choices=["pool", "slurm", "submitit-local"], default="pool",
                       help="pool: this machine, one run per GPU (one at a time on a CPU); slurm: submitit jobs; "
                            "submitit-local: submitit's local executor")
    sweep.add_argument("--submitit", action="append", default=[], metavar="KEY=VALUE",
                       help="a submitit parameter, e.g. slurm_partition=gpu or timeout_min=720")
    sweep.add_argument("--set", type=_set_option, action="append", default=[], metavar="KEY=VALUE",
                       help="an option of every run (the variants' own still win)")
    sweep.add_argument("--no-progress", action="store_true")
    sweep.set_defaults(func=_sweep)

    bench = commands.add_parser("bench", help="time training iterations per stage: the kit against the "
                                              "reference's computation; writes OUT/bench.json and bench.md")
    bench.add_argument("--architectures", nargs="+", default=["paper", "teaching"], help="profile names")
    bench.add_argument("--stages", nargs="+", default=["0-6"], help="0-based stages, e.g. 0-6 or 2 4")
    bench.add_argument("--seconds", type=float, default=10.0, help="timed seconds per case (at least 1 iteration)")
    bench.add_argument("--rounds", type=_at_least(1), default=2,
                       help="split each case's seconds into this many windows, alternating the two modes")
    bench.add_argument("--peak-seconds", type=float, default=2.0, help="seconds of the matmul peak per dtype")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--out", type=_absolute, help="folder for bench.json and bench.md (default runs/bench)")
    bench.add_argument("--no-generation", action="store_true", help="skip the generator timing at 256 px")
    bench.add_argument("--no-preprocessing", action="store_true", help="skip the registration timing")
    bench.add_argument("--set", type=_set_option, action="append", default=[], metavar="KEY=VALUE",
                       help="change an option of the kit mode, e.g. train.gradient_penalty_interval=4")
    bench.set_defaults(func=_bench)
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
