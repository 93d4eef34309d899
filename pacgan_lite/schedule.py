"""The progressive schedule as a pure function of progress (PGGAN style).

Everything a trainer needs at a given moment (resolution, fade-in weight, batch size, critic iterations,
epoch) follows from ``(stage, images_seen, n_train_images)``, so a resumed run or a sampling notebook
recomputes it instead of storing it.

The paper's schedule (the defaults of :class:`~pacgan_lite.config.TrainOptions`, as in the reference's
``config.json``; ``training.setup.schedule_for(TrainOptions())`` builds it):

============  ==========  ======  ==========  =================
stage         resolution  epochs  batch size  critic iterations
============  ==========  ======  ==========  =================
0             4           100     32          1
1             8           100     32          1
2             16          100     32          1
3             32          100     16          1
4             64          100     16          1
5             128         100     16          2
6             256         100     16          2
============  ==========  ======  ==========  =================

``fade_alpha`` rises linearly from 0 at the start of each stage after the first trained one to 1 after
``fade_fraction`` of the stage's epochs, counted in images seen, then stays 1. The reference starts at 1e-5
instead of 0 and adds ``batch / (0.5 * epochs * N)`` after each generator step, which is the same line.

Leading stages may have 0 epochs: they are skipped, and training starts at the first stage with epochs
(:attr:`Schedule.first_trained_stage`), which has no fade-in (``fade_alpha`` is 1 from its start: there is
no trained lower resolution to fade from). ``epochs_per_stage = (0, 0, 0, 0, 150)`` trains 4 -> 64 px
without progressive growing, only at 64 px, for as many images as ``(30, 30, 30, 30, 30)``. A stage with 0
epochs after a trained one is refused: the next stage would fade in from a resolution that never trained.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass

MAX_STAGES = 7  # 4 .. 256 pixels
PER_STAGE_FIELDS = ("epochs_per_stage", "batch_sizes", "critic_iterations")


def resolution(stage: int) -> int:
    """Image side at ``stage``: ``4 * 2**stage``."""
    return 4 * 2 ** operator.index(stage)


def is_resolution(side: int) -> bool:
    """Whether ``side`` is the image side of some stage: a power of two, at least 4."""
    return side >= 4 and side & (side - 1) == 0


def stage_of(side: int) -> int:
    """The stage whose images have ``side`` px: the inverse of :func:`resolution`."""
    if not is_resolution(side):
        raise ValueError(f"no stage has images of side {side} px (a power of two, at least 4)")
    return side.bit_length() - 3


@dataclass(frozen=True)
class SchedulePoint:
    """Where training stands within a stage.

    Attributes:
        stage: 0-based stage index.
        resolution: image side, ``4 * 2**stage``.
        fade_alpha: weight of the newest block, in [0, 1]; 1 at the first trained stage (stage 0 unless
            leading stages are skipped).
        batch_size: images per batch in this stage.
        critic_iterations: critic updates per generator update in this stage.
        epoch: completed passes over the training set in this stage, ``images_seen // n_train_images``.
        stage_done: whether the stage's epochs have all been seen.
    """

    stage: int
    resolution: int
    fade_alpha: float
    batch_size: int
    critic_iterations: int
    epoch: int
    stage_done: bool


@dataclass(frozen=True)
class Schedule:
    """Per-stage epochs, batch sizes and critic iterations, and the fade-in length.

    Args:
        epochs_per_stage: epochs of each stage; its length is the number of stages (1..7). Leading stages
            may have 0 epochs (skipped, see the module docstring); every stage from the first trained one on
            has 1 or more.
        batch_sizes: batch size of each stage.
        critic_iterations: critic updates per generator update, per stage.
        fade_fraction: fraction of a stage's epochs over which ``fade_alpha`` goes from 0 to 1, in (0, 1].

    Lists are accepted and stored as tuples, so a schedule read from YAML compares equal to one built in code.
    """

    epochs_per_stage: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    critic_iterations: tuple[int, ...]
    fade_fraction: float

    def __post_init__(self):
        for name in PER_STAGE_FIELDS:
            values = tuple(getattr(self, name))
            least = 0 if name == "epochs_per_stage" else 1
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= least for v in values):
                raise ValueError(f"{name} must hold {'integers >= 0' if least == 0 else 'positive integers'}, "
                                 f"got {values}")
            object.__setattr__(self, name, values)
        n_stages = len(self.epochs_per_stage)
        if not 1 <= n_stages <= MAX_STAGES:
            raise ValueError(f"a schedule has 1..{MAX_STAGES} stages (4..{resolution(MAX_STAGES - 1)} px), "
                             f"got {n_stages} in epochs_per_stage")
        lengths = {name: len(getattr(self, name)) for name in PER_STAGE_FIELDS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"epochs_per_stage, batch_sizes and critic_iterations need one entry per stage, "
                             f"got lengths {lengths}")
        if bad := skip_problem(self.epochs_per_stage):
            raise ValueError(f"epochs_per_stage {bad[0]}; {bad[1]}")
        if not 0.0 < self.fade_fraction <= 1.0:
            raise ValueError(f"fade_fraction must be in (0, 1], got {self.fade_fraction}")

    @property
    def n_stages(self) -> int:
        return len(self.epochs_per_stage)

    @property
    def first_trained_stage(self) -> int:
        """The stage training starts at: the first with epochs (0 unless leading stages are skipped)."""
        return next(stage for stage, epochs in enumerate(self.epochs_per_stage) if epochs > 0)

    def stage_images(self, stage: int, n_train_images: int) -> int:
        """Images the whole of ``stage`` shows: ``epochs_per_stage[stage] * n_train_images``."""
        return self.epochs_per_stage[self._check_stage(stage)] * _check_n_train_images(n_train_images)

    def at(self, stage: int, images_seen: int, n_train_images: int) -> SchedulePoint:
        """The schedule after ``images_seen`` real images of ``stage`` (counted from the stage's start).

        ``fade_alpha`` is 1 at the first trained stage (stage 0 unless leading stages are skipped) and at
        any skipped stage before it; a skipped stage is ``stage_done`` from its start (it shows 0 images).

        Args:
            stage: 0..n_stages-1.
            images_seen: real images shown so far in this stage, >= 0 (may exceed the stage's total, which
                then reads as ``stage_done``).
            n_train_images: size of the training set.
        """
        stage = self._check_stage(stage)
        stage_images = self.stage_images(stage, n_train_images)
        if images_seen < 0:
            raise ValueError(f"images_seen must be >= 0, got {images_seen}")
        if stage <= self.first_trained_stage:  # nothing trained below it to fade in from
            fade_alpha = 1.0
        else:
            fade_alpha = min(1.0, images_seen / (self.fade_fraction * stage_images))
        return SchedulePoint(
            stage=stage,
            resolution=resolution(stage),
            fade_alpha=fade_alpha,
            batch_size=self.batch_sizes[stage],
            critic_iterations=self.critic_iterations[stage],
            epoch=images_seen // n_train_images,
            stage_done=images_seen >= stage_images,
        )

    def curve(self, n_train_images: int, points_per_stage: int = 50) -> list[dict]:
        """The whole schedule sampled for a plot, one dict per point.

        Each trained stage gives ``points_per_stage`` points evenly spaced from its start to its end (both
        included); a skipped stage (0 epochs) gives none, so the curve starts at the first trained stage.
        Keys: every :class:`SchedulePoint` field, plus ``images_seen`` (in the stage), ``total_images``
        (since the start of training) and ``progress`` (``stage + fraction of the stage``, a convenient x
        axis).
        """
        if points_per_stage < 2:
            raise ValueError(f"points_per_stage must be >= 2, got {points_per_stage}")
        rows, images_before = [], 0
        for stage in range(self.first_trained_stage, self.n_stages):
            stage_images = self.stage_images(stage, n_train_images)
            for k in range(points_per_stage):
                images_seen = stage_images * k // (points_per_stage - 1)
                point = self.at(stage, images_seen, n_train_images)
                rows.append({
                    **dataclasses.asdict(point),
                    "images_seen": images_seen,
                    "total_images": images_before + images_seen,
                    "progress": stage + images_seen / stage_images,
                })
            images_before += stage_images
        return rows

    def _check_stage(self, stage: int) -> int:
        stage = operator.index(stage)
        if not 0 <= stage < self.n_stages:
            raise ValueError(f"stage must be in 0..{self.n_stages - 1} for this schedule, got {stage}")
        return stage


def skip_problem(epochs_per_stage) -> tuple[str, str] | None:
    """``(problem, fix)`` if the zeros of ``epochs_per_stage`` (one entry per stage, each >= 0) are not a
    schedule, else None: only leading stages may have 0 epochs, and at least one stage must train."""
    epochs = list(epochs_per_stage)
    example = "e.g. [0, 0, 0, 0, 150] trains 4 -> 64 px only at 64 px, without progressive growing"
    if not any(epochs):
        return (f"trains no stage: all {len(epochs)} entries are 0, got {epochs}",
                f"give the stages to train 1 or more epochs; only leading stages may be 0 ({example})")
    first = next(stage for stage, value in enumerate(epochs) if value > 0)
    later = next((stage for stage in range(first, len(epochs)) if epochs[stage] == 0), None)
    if later is not None:
        return (f"has 0 epochs at stage {later}, after the trained stage {first}, got {epochs}: training starts "
                "at the first stage with epochs and grows through every later one",
                f"give stage {later} 1 or more epochs; only leading stages may be 0 ({example})")
    return None


def _check_n_train_images(n_train_images: int) -> int:
    if n_train_images < 1:
        raise ValueError(f"n_train_images must be >= 1, got {n_train_images}")
    return n_train_images
