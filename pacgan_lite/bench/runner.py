"""``pacgan-lite bench``: every case in its own process, then a JSON file and a markdown table.

Each timed window runs in a fresh spawned process so that its peak memory is its own and one case's caches
do not help the next; the two modes' windows alternate (:func:`combine_windows`). Results go to
``<out>/bench.json`` and ``<out>/bench.md`` (written atomically).
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_path, write_json
from ..devices import resolve_device
from ..schedule import MAX_STAGES
from ..training import setup
from . import machine
from .cases import MODES, Case, time_case, time_generation


@dataclass(frozen=True)
class BenchOptions:
    """What to time. ``seconds`` per case (at least one iteration each); stages as 0-based indices."""

    architectures: tuple[str, ...] = ("paper", "teaching")
    stages: tuple[int, ...] = tuple(range(MAX_STAGES))
    seconds: float = 10.0
    rounds: int = 2  # each case's seconds split into alternating windows (reference, kit, reference, kit)
    device: str = "auto"
    generation: bool = True
    preprocessing: bool = True  # seconds per volume of `preprocess_one` on synthetic raw heads
    peak_seconds: float = 2.0  # per dtype, for the matmul peak
    overrides: tuple[str, ...] = ()  # key=value options for the kit mode (the reference stays as it is)


def measure(function: Callable, *args):
    """``function(*args)`` in a fresh spawned process (one task per process)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1) as pool:
        return pool.submit(function, *args).result()


def run_bench(options: BenchOptions, out: str | Path, echo: Callable[[str], None] = print) -> dict:
    """Time every (architecture, stage, mode), the generator at 256 px and preprocessing; write the report."""
    device = resolve_device(options.device)
    precision = setup.precision_for(device)
    peaks = {"float32": machine.matmul_peak(device, torch.float32, seconds=options.peak_seconds)}
    if precision.autocast_dtype is not None:
        name = str(precision.autocast_dtype).removeprefix("torch.")
        peaks[name] = machine.matmul_peak(device, precision.autocast_dtype, seconds=options.peak_seconds)
    report = {"machine": machine.describe(device), "matmul_peak_flops": peaks, "kit_overrides": list(options.overrides),
              "training": [], "generation": []}
    echo(f"machine: {report['machine']}; matmul peak GFLOP/s: "
         + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in peaks.items()))
    for architecture in options.architectures:
        for stage in options.stages:
            windows = {mode: [] for mode in MODES}
            for window in range(options.rounds):
                for mode in MODES:
                    case = Case(architecture, stage, mode, options.device, options.overrides)
                    timer = functools.partial(time_case, count_flops=window == 0)
                    windows[mode].append(measure(timer, case, options.seconds / options.rounds))
            for mode in MODES:
                result = combine_windows(windows[mode])
                result["share_of_peak"] = (result["flops_per_image"] * result["images_per_second"]
                                           / peaks[result["autocast"]])
                report["training"].append(result)
                echo(f"{architecture:9s} {result['resolution']:4d} px {mode:9s} "
                     f"{result['images_per_second']:8.2f} img/s  {result['peak_memory_mib']:7.0f} MiB  (windows: "
                     + ", ".join(f"{rate:.2f}" for rate in result["window_images_per_second"]) + ")")
    if options.generation:
        for architecture in options.architectures:
            for mode in MODES:
                result = measure(time_generation, architecture, mode, options.device)
                report["generation"].append(result)
                echo(f"generation {architecture} {mode}: {result['images_per_second']:.1f} img/s at 256 px")
    if options.preprocessing:
        report["preprocessing"] = measure(_time_preprocessing)
        echo(f"preprocessing: {report['preprocessing']}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", report)
    with atomic_path(out / "bench.md") as tmp:
        tmp.write_text(markdown(report))
    echo(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    return report


def combine_windows(windows: Sequence[dict]) -> dict:
    """One case's result from its timed windows (each from :func:`.cases.time_case`, the first with FLOPs).

    A shared machine has slow and fast spells: the windows of the two modes alternate so that both modes
    meet them, and the rate is the total of images over the total of seconds. Peak memory is the largest."""
    first = windows[0]
    iterations = sum(w["iterations"] for w in windows)
    seconds = sum(w["seconds"] for w in windows)
    return {**first, "iterations": iterations, "seconds": seconds,
            "images_per_second": iterations * first["batch_size"] / seconds,
            "window_images_per_second": [w["images_per_second"] for w in windows],
            "peak_memory_mib": max(w["peak_memory_mib"] for w in windows)}


def _time_preprocessing() -> dict:
    from ..preprocess.bench import seconds_per_volume

    return seconds_per_volume()


def markdown(report: dict) -> str:
    """The report as markdown tables: training per stage with the kit/reference ratio, then generation."""
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores" + (f", {m['gpu']}" if m["gpu"] else "")
             + f"; torch {m['torch']}. Matmul peak: "
             + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in report["matmul_peak_flops"].items()) + "."
             + (f" Kit mode with {', '.join(report['kit_overrides'])}." if report.get("kit_overrides") else ""), "",
             "| architecture | px | batch | reference img/s | kit img/s | kit / reference | kit precision "
             "| GFLOP per image (ref / kit) | kit share of peak | kit peak memory (MiB) |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    rows = {(r["architecture"], r["stage"], r["mode"]): r for r in report["training"]}
    for (architecture, stage, mode), kit in rows.items():
        if mode != "kit" or (architecture, stage, "reference") not in rows:
            continue
        ref = rows[(architecture, stage, "reference")]
        precision = kit["autocast"] + (", channels_last" if kit["channels_last"] else "")
        lines.append(
            f"| {architecture} | {kit['resolution']} | {kit['batch_size']} | {ref['images_per_second']:.2f} "
            f"| {kit['images_per_second']:.2f} | {kit['images_per_second'] / ref['images_per_second']:.2f}x "
            f"| {precision} | {ref['flops_per_image'] / 1e9:.2f} / {kit['flops_per_image'] / 1e9:.2f} "
            f"| {kit['share_of_peak']:.1%} | {kit['peak_memory_mib']:.0f} |")
    if report["generation"]:
        lines += ["", "| architecture | generation at 256 px | img/s |", "|---|---|---:|"]
        lines += [f"| {g['architecture']} | {g['mode']} | {g['images_per_second']:.1f} |"
                  for g in report["generation"]]
    if "preprocessing" in report:
        p = report["preprocessing"]
        lines += ["", f"Preprocessing (registration to MNI152, 9 DOF): {p['seconds_per_volume']:.1f} s per "
                      f"volume over {p['volumes']} volumes."]
    return "\n".join(lines) + "\n"


def parse_stages(text: Sequence[str]) -> tuple[int, ...]:
    """Stages from CLI words such as ``0 1 2`` or ``0-6``."""
    stages = []
    for word in text:
        first, _, last = word.partition("-")
        stages += range(int(first), int(last or first) + 1)
    return tuple(stages)
