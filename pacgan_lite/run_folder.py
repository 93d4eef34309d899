"""The run folder: the one place that knows its file names, writes them and reads them back.

Every training run gets its own folder (``runs/<5-digit id>-<profile>-<mode>/``)::

    options.json            resolved options (the whole KitConfig) and the run's inputs, of the latest
                            attempt (a resume may add stages); the earlier attempts' under "earlier"
    log.txt                 what was printed, with times
    stats.jsonl             one JSON object per epoch
    selection.json          the selected epoch of each stage (validation runs)
    test_metrics.json       the critic's test AUC per stage (final runs)
    failure.json            why the last attempt stopped with an error (gone once a resume starts)
    samples-stage<s>.png    fixed-z sample grid after each stage, one row per class
    latest.pt               the newest state (resume from it)
    stage<s>-final.pt       the last epoch of stage s
    stage<s>-best.pt        the selected epoch of stage s (the next stage starts from it)
    evaluation/metrics.json every metric of the evaluation, with its figures beside it
    utility/                does synthetic data help a plain classifier? (pacgan-lite utility)
        utility.json        every number, the options and the runs used
        runs.csv            one row per setting and seed: test AUC with its interval, balanced accuracy
        summary.csv         one row per setting: AUC over seeds with its interval, spread, ceiling
        comparisons.csv     each setting against the real training images: difference, interval, reading
        predictions.csv     every test image's probability of the positive class, per setting and seed
        roc.png, auc.png    ROC curves per group of settings; AUCs with intervals and the ceiling

:class:`RunFolder` writes these for the trainer and reads them for evaluation, inference, the notebooks and
a sweep over many runs: :meth:`RunFolder.status` says whether a run is complete, incomplete (resumable) or
failed, and why.

A run may skip its leading stages (0 epochs in ``train.epochs_per_stage``: no progressive growing up to
the first trained stage, see :mod:`pacgan_lite.schedule`). A skipped stage has no stats, checkpoints, sample
grid or ``selection.json`` record: :meth:`RunFolder.checkpoints` and :meth:`RunFolder.selections` leave
it out, :meth:`RunFolder.selected_epochs` gives it 0, and the run is complete once its last stage is.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .atomic import atomic_path, non_finite_as_null, write_json
from .errors import InputError
from .paths import resolve

OPTIONS_FILE = "options.json"
LOG_FILE = "log.txt"
STATS_FILE = "stats.jsonl"
SELECTION_FILE = "selection.json"
TEST_METRICS_FILE = "test_metrics.json"
FAILURE_FILE = "failure.json"
LATEST_CHECKPOINT = "latest.pt"
EVALUATION_DIR = "evaluation"
METRICS_FILE = "metrics.json"
UTILITY_DIR = "utility"
# What the utility study writes into UTILITY_DIR: key -> file name
UTILITY_FILES = {"record": "utility.json", "runs": "runs.csv", "summary": "summary.csv",
                 "comparisons": "comparisons.csv", "predictions": "predictions.csv",
                 "roc_figure": "roc.png", "auc_figure": "auc.png"}
CHECKPOINT_KINDS = ("best", "final")
_STAGE_FILE = re.compile(r"^stage(\d+)-(best|final)\.pt$")
_RUN_ID = re.compile(r"^(\d{5})-")

COMPLETE, INCOMPLETE, FAILED = "complete", "incomplete", "failed"


def checkpoint_name(stage: int, kind: str) -> str:
    """``stage<s>-best.pt`` (the selected epoch of stage s) or ``stage<s>-final.pt`` (its last epoch)."""
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"checkpoint kind must be one of {CHECKPOINT_KINDS}, got {kind!r}")
    return f"stage{stage}-{kind}.pt"


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands.

    Attributes:
        state: "complete" (every stage finished), "incomplete" (stopped or still running; resumable from
            ``resume_from`` when it is set, else not started) or "failed" (the last attempt raised).
        reason: one line saying why, for logs and tables.
        resume_from: the checkpoint to continue from, or None when there is none yet.
    """

    state: str
    reason: str
    resume_from: Path | None = None


class RunFolder:
    """One run's folder: file names, writing (for the trainer) and reading (for everyone else).

    Nothing is created or read until a method asks for it, so a ``RunFolder`` of a folder that does not
    exist yet is fine (:meth:`status` says it is incomplete, with nothing to resume from).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --------------------------------------------------------------------------------------- finding

    @classmethod
    def create(cls, root: str | Path, description: str) -> RunFolder:
        """A new folder ``root/<next free 5-digit id>-<description>``."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        ids = [int(match.group(1)) for child in root.iterdir() if (match := _RUN_ID.match(child.name))]
        path = root / f"{max(ids, default=-1) + 1:05d}-{description}"
        path.mkdir()
        return cls(path)

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> RunFolder:
        """The run folder a checkpoint file lies in."""
        return cls(Path(checkpoint).resolve().parent)

    @classmethod
    def for_training(cls, path: str | Path | None, resume: str | Path | None, root: str | Path,
                     description: str) -> RunFolder:
        """``path`` (created if needed), else the folder of the ``resume`` checkpoint, else a new folder."""
        if path is not None:
            Path(path).mkdir(parents=True, exist_ok=True)
            return cls(path)
        if resume is not None:
            return cls.of_checkpoint(resume)
        return cls.create(root, description)

    @classmethod
    def of_selection(cls, source: str | Path) -> RunFolder:
        """The validation run that ``train.selection_from`` names: its folder, or a file in it (a relative path
        is relative to the repository root, as every path option: :func:`pacgan_lite.paths.resolve`)."""
        path = resolve(source)
        return cls(path if path.is_dir() else path.parent)

    @staticmethod
    def newest_complete(root: str | Path, profile: str, final_mode: bool | None = None) -> RunFolder | None:
        """The newest complete run of ``profile`` under ``root`` (folders named ``<id>-<profile>-<mode>``); with
        ``final_mode`` True or False, the newest final or non-final one."""
        candidates = sorted(Path(root).glob(f"[0-9][0-9][0-9][0-9][0-9]-{profile}-*"), reverse=True)
        return next((run for path in candidates if (run := RunFolder(path)).status().state == COMPLETE
                     and (final_mode is None or run.is_final_mode == final_mode)), None)

    # ------------------------------------------------------------------------------------------ names

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def latest(self) -> Path:
        return self.path / LATEST_CHECKPOINT

    def checkpoint(self, stage: int, kind: str = "best") -> Path:
        """The path of stage ``stage``'s ``kind`` ("best" or "final") checkpoint (it may not exist yet)."""
        return self.path / checkpoint_name(stage, kind)

    def samples(self, stage: int) -> Path:
        """The fixed-z sample grid written at the end of stage ``stage``."""
        return self.path / f"samples-stage{stage}.png"

    @property
    def evaluation_dir(self) -> Path:
        return self.path / EVALUATION_DIR

    @property
    def utility_dir(self) -> Path:
        return self.path / UTILITY_DIR

    def utility_file(self, key: str) -> Path:
        """The path of one output of the utility study: a key of ``UTILITY_FILES`` ("record", "runs",
        "summary", "comparisons", "predictions", "roc_figure", "auc_figure")."""
        if key not in UTILITY_FILES:
            raise ValueError(f"utility file key must be one of {', '.join(UTILITY_FILES)}, got {key!r}")
        return self.utility_dir / UTILITY_FILES[key]

    # ---------------------------------------------------------------------------------------- reading

    def options(self) -> dict:
        """``options.json``: ``config`` (the resolved options), the data folders, the architecture, the
        epochs per stage and the versions, of the latest attempt; ``earlier``: those of the attempts before it
        (a resume's may plan more stages), oldest first.

        Raises:
            InputError: the folder has no options.json (not a run folder, or training never started).
        """
        path = self.file(OPTIONS_FILE)
        if not path.is_file():
            raise InputError(self.path, OPTIONS_FILE, "not found: this is not a run folder, or its training "
                             "never started", "give the folder that pacgan-lite train (or notebook 02) wrote")
        return json.loads(path.read_text())

    def config(self) -> dict:
        """The resolved options of the run (the ``config`` entry of options.json), as plain data."""
        return self.options()["config"]

    @property
    def n_stages(self) -> int:
        """How many stages the run trains (its last stage is ``n_stages - 1``)."""
        return len(self.options()["epochs_per_stage"])

    @property
    def skipped_stages(self) -> list[int]:
        """The leading stages the run skipped (0 epochs in its schedule): they left no files."""
        return [stage for stage, epochs in enumerate(self.options()["epochs_per_stage"]) if epochs == 0]

    @property
    def is_final_mode(self) -> bool:
        return bool(self.config()["train"]["final_mode"])

    def stats(self) -> pd.DataFrame:
        """``stats.jsonl`` as a table, one row per epoch, with a running ``epoch_index`` over the stages."""
        path = self.file(STATS_FILE)
        lines = path.read_text().splitlines() if path.is_file() else []
        stats = pd.DataFrame([json.loads(line) for line in lines if line.strip()])
        stats["epoch_index"] = range(1, len(stats) + 1)
        return stats

    def selections(self) -> list[dict]:
        """Per finished stage of a validation run: ``{stage, resolution, selected_epoch, epochs, score,
        criterion, components}`` (the last two since ``train.selection`` exists), sorted by stage (empty before
        the first stage ends or for runs without validation; a skipped stage has no record)."""
        path = self.file(SELECTION_FILE)
        if not path.is_file():
            return []
        return sorted(json.loads(path.read_text())["stages"], key=lambda record: record["stage"])

    def selected_epochs(self) -> list[int]:
        """The 1-based selected epoch of each finished stage, indexed by stage: 0 for a leading stage the run
        skipped (the stages before its first record)."""
        records = self.selections()
        skipped = int(records[0]["stage"]) if records else 0
        return [0] * skipped + [int(record["selected_epoch"]) for record in records]

    def checkpoints(self) -> dict[int, dict[str, Path]]:
        """Per stage, the checkpoints on disk: ``{stage: {"best": path, "final": path}}`` (a skipped stage has
        none)."""
        found: dict[int, dict[str, Path]] = {}
        for path in sorted(self.path.glob("stage*-*.pt")):
            if match := _STAGE_FILE.match(path.name):
                found.setdefault(int(match.group(1)), {})[match.group(2)] = path
        return dict(sorted(found.items()))

    def final_checkpoint(self) -> Path:
        """The selected weights of the last stage: what evaluation and inference use by default.

        Raises:
            InputError: the run has not finished its last stage.
        """
        status = self.status()
        if status.state != COMPLETE:
            raise InputError(self.path, "(run folder)", f"the run is not complete ({status.reason})",
                             "finish training (pacgan-lite train --resume <its latest checkpoint>), or pass a "
                             "checkpoint")
        return self.checkpoint(self.n_stages - 1)

    def test_metrics(self) -> list[dict]:
        """Per stage of a final run, the critic's test AUC (empty when there is none)."""
        path = self.file(TEST_METRICS_FILE)
        return json.loads(path.read_text())["stages"] if path.is_file() else []

    def metrics(self, folder: str | Path | None = None) -> dict | None:
        """The evaluation record (``evaluation/metrics.json``, or in ``folder``), None before evaluation."""
        path = self.metrics_path(folder)
        return json.loads(path.read_text()) if path.is_file() else None

    def metrics_path(self, folder: str | Path | None = None) -> Path:
        return (Path(folder) if folder else self.evaluation_dir) / METRICS_FILE

    def utility_record(self) -> dict | None:
        """The utility study's record (``utility/utility.json``), None before it ran."""
        path = self.utility_file("record")
        return json.loads(path.read_text()) if path.is_file() else None

    def utility_table(self, key: str) -> pd.DataFrame | None:
        """One table of the utility study ("runs", "summary", "comparisons" or "predictions"), None before it
        ran."""
        path = self.utility_file(key)
        if path.suffix != ".csv":
            raise ValueError(f"{key!r} is not a table of the utility study")
        return pd.read_csv(path) if path.is_file() else None

    def final_runs(self) -> list[RunFolder]:
        """The final-mode runs beside this (validation) run whose ``train.selection_from`` names it, newest
        first: the runs that retrained its selected epochs on train + validation."""
        runs = [RunFolder(path) for path in sorted(self.path.parent.glob("[0-9][0-9][0-9][0-9][0-9]-*"), reverse=True)
                if path != self.path]
        return [run for run in runs if run.file(OPTIONS_FILE).is_file() and run.is_final_run_of(self)]

    def is_final_run_of(self, validation: RunFolder) -> bool:
        """Whether this is a final-mode run whose ``train.selection_from`` names ``validation``."""
        train = self.config()["train"]
        return bool(train["final_mode"] and train["selection_from"]) and (
            RunFolder.of_selection(train["selection_from"]).path.resolve() == validation.path.resolve())

    def failure(self) -> dict | None:
        path = self.file(FAILURE_FILE)
        return json.loads(path.read_text()) if path.is_file() else None

    def status(self) -> RunStatus:
        """Complete, incomplete (resumable from ``resume_from``) or failed, and why; see :class:`RunStatus`."""
        resume_from = self.latest if self.latest.is_file() else None
        failure = self.failure()
        if failure is not None:
            return RunStatus(FAILED, failure["error"], resume_from)
        if not self.file(OPTIONS_FILE).is_file():
            return RunStatus(INCOMPLETE, "not started (no options.json)", None)
        if self.checkpoint(self.n_stages - 1).is_file():
            skipped = self.skipped_stages
            return RunStatus(COMPLETE, f"all {self.n_stages} stages finished"
                             + (f" (stages {skipped} skipped: 0 epochs)" if skipped else ""),
                             resume_from)
        if resume_from is None:
            return RunStatus(INCOMPLETE, "started, no checkpoint yet", None)
        stats = self.stats()
        where = ("" if stats.empty else
                 f" after stage {int(stats['stage'].iloc[-1])}, epoch {int(stats['epoch'].iloc[-1])}")
        return RunStatus(INCOMPLETE, f"stopped{where} of {self.n_stages} stages", resume_from)

    # ---------------------------------------------------------------------------------------- writing

    def write_options(self, options: dict) -> None:
        """Write ``options.json``: the options of the attempt that trains now. A resume may plan stages the
        earlier attempts did not (its check keeps the begun ones), and the file must say how many the run has;
        the earlier attempts' options stay under ``earlier``, oldest first."""
        path = self.file(OPTIONS_FILE)
        earlier = []
        if path.is_file():
            previous = json.loads(path.read_text())
            earlier = [*previous.pop("earlier", []), previous]
        write_json(path, {**options, "earlier": earlier})

    def append_log(self, line: str) -> None:
        with open(self.file(LOG_FILE), "a") as file:
            file.write(line + "\n")

    def append_stats(self, record: dict) -> None:
        """One epoch's record as a line of ``stats.jsonl`` (non-finite numbers as null, in lists too)."""
        with open(self.file(STATS_FILE), "a") as file:
            file.write(json.dumps(non_finite_as_null(record), allow_nan=False) + "\n")

    def keep_stats_until(self, stage: int, epoch: int) -> None:
        """Keep the rows of ``stats.jsonl`` up to epoch ``epoch`` (1-based; 0: none) of stage ``stage`` and
        rewrite it atomically: training that starts there trains the later epochs again and appends their rows
        anew. A line that does not parse, torn by a crash while it was written, goes too."""
        path = self.file(STATS_FILE)
        if not path.is_file():
            return
        lines = path.read_text().splitlines()
        kept = [line for line in lines
                if (row := _parsed(line)) is not None and (row["stage"], row["epoch"]) <= (stage, epoch)]
        if len(kept) < len(lines):
            with atomic_path(path) as tmp:
                tmp.write_text("".join(f"{line}\n" for line in kept))

    def write_selections(self, records: list[dict]) -> None:
        write_json(self.file(SELECTION_FILE), {"stages": records})

    def write_test_metrics(self, records: list[dict]) -> None:
        write_json(self.file(TEST_METRICS_FILE), {"stages": records})

    def write_failure(self, error: str, stage: int, epoch: int) -> None:
        write_json(self.file(FAILURE_FILE), {"error": error, "stage": stage, "epoch": epoch,
                                             "time": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def clear_failure(self) -> None:
        self.file(FAILURE_FILE).unlink(missing_ok=True)

    def write_samples(self, stage: int, images: torch.Tensor, rows: int) -> Path:
        """Stage ``stage``'s sample grid (see :func:`save_image_grid`)."""
        return save_image_grid(images, rows, self.samples(stage))


class RunLog:
    """Appends lines to a run's ``log.txt`` (and prints them) and epoch records to ``stats.jsonl``.

    With ``run=None`` (DDP ranks other than 0) nothing is written or printed.
    """

    def __init__(self, run: RunFolder | None, echo: bool = True):
        self.run, self.echo = run, echo
        self.start = time.time()

    def log(self, message: str) -> None:
        if self.run is None:
            return
        line = f"[{time.time() - self.start:8.1f}s] {message}"
        if self.echo:
            print(line, flush=True)
        self.run.append_log(line)

    def stats(self, record: dict) -> None:
        if self.run is not None:
            self.run.append_stats(record)


def _parsed(line: str) -> dict | None:
    """A ``stats.jsonl`` line's record, None for a line that does not parse."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def save_image_grid(images: torch.Tensor, rows: int, path: str | Path) -> Path:
    """Write ``images [rows * cols, C, s, s]`` in [-1, 1] as one PNG, row-major (one row per class).

    One channel gives a grey PNG, three an RGB one; images are separated by a 2-pixel black border. Each
    image is flipped vertically so that anterior is up, as in the kit's figures (row 0 is posterior).
    """
    count, channels, side, _ = images.shape
    cols = count // rows
    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    pad = 2
    canvas = np.zeros((rows * (side + pad) + pad, cols * (side + pad) + pad, channels), dtype=np.uint8)
    for index in range(rows * cols):
        row, col = divmod(index, cols)
        top, left = pad + row * (side + pad), pad + col * (side + pad)
        canvas[top:top + side, left:left + side] = pixels[index].transpose(1, 2, 0)[::-1]
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(canvas[..., 0] if channels == 1 else canvas).save(tmp, format="PNG")
    return path
