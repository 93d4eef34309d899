"""The progressive schedule: a pure function of (stage, images_seen, n_train_images)."""

from __future__ import annotations

import pytest

from pacgan_lite import schedule as schedule_module
from pacgan_lite.config import TrainOptions
from pacgan_lite.schedule import Schedule, SchedulePoint, is_resolution, resolution, stage_of
from pacgan_lite.training.setup import schedule_for

PAPER = schedule_for(TrainOptions())  # the defaults are the paper's settings
N = 1000  # training images; a paper stage is 100 epochs = 100,000 images, faded in over 50,000


def test_paper_values():
    # The published protocol, pinned here against the defaults in config.py.
    assert PAPER.epochs_per_stage == (100,) * 7
    assert PAPER.batch_sizes == (32, 32, 32, 16, 16, 16, 16)
    assert PAPER.critic_iterations == (1, 1, 1, 1, 1, 2, 2)
    assert PAPER.fade_fraction == 0.5
    assert PAPER.n_stages == 7
    assert [resolution(s) for s in range(7)] == [4, 8, 16, 32, 64, 128, 256]


def test_docstring_table_shows_the_defaults():
    rows = [line.split() for line in schedule_module.__doc__.splitlines() if line[:1].isdigit()]
    assert [tuple(int(x) for x in row) for row in rows] == [
        (stage, resolution(stage), PAPER.epochs_per_stage[stage], PAPER.batch_sizes[stage],
         PAPER.critic_iterations[stage]) for stage in range(PAPER.n_stages)]


AT_CASES = [
    # stage, images_seen, n_train_images -> resolution, fade_alpha, batch_size, critic_iterations, epoch, stage_done
    ((0, 0, N), (4, 1.0, 32, 1, 0, False)),
    ((0, 37_123, N), (4, 1.0, 32, 1, 37, False)),
    ((0, 100_000, N), (4, 1.0, 32, 1, 100, True)),
    ((1, 0, N), (8, 0.0, 32, 1, 0, False)),
    ((1, 12_500, N), (8, 0.25, 32, 1, 12, False)),
    ((1, 25_000, N), (8, 0.5, 32, 1, 25, False)),
    ((1, 50_000, N), (8, 1.0, 32, 1, 50, False)),
    ((1, 75_500, N), (8, 1.0, 32, 1, 75, False)),
    ((3, 10_000, N), (32, 0.2, 16, 1, 10, False)),
    ((5, 0, N), (128, 0.0, 16, 2, 0, False)),
    ((6, 99_999, N), (256, 1.0, 16, 2, 99, False)),
    ((6, 100_000, N), (256, 1.0, 16, 2, 100, True)),
    ((6, 100_016, N), (256, 1.0, 16, 2, 100, True)),
    ((2, 999, 37), (16, 999 / 1850, 32, 1, 27, False)),
]


@pytest.mark.parametrize(("args", "expected"), AT_CASES)
def test_paper_schedule_points(args, expected):
    stage = args[0]
    point = PAPER.at(*args)
    assert point == SchedulePoint(stage, *expected)


CUSTOM_CASES = [
    # a 2-stage schedule of 10 epochs, faded in over the first 25% (100 of 400 images with N = 40)
    ((1, 0, 40), (8, 0.0, 4, 3, 0, False)),
    ((1, 50, 40), (8, 0.5, 4, 3, 1, False)),
    ((1, 100, 40), (8, 1.0, 4, 3, 2, False)),
    ((1, 400, 40), (8, 1.0, 4, 3, 10, True)),
    ((0, 399, 40), (4, 1.0, 8, 1, 9, False)),
]


@pytest.mark.parametrize(("args", "expected"), CUSTOM_CASES)
def test_custom_schedule_points(args, expected):
    schedule = Schedule(epochs_per_stage=(10, 10), batch_sizes=(8, 4), critic_iterations=(1, 3), fade_fraction=0.25)
    assert schedule.at(*args) == SchedulePoint(args[0], *expected)


@pytest.mark.parametrize("stage", range(7))
def test_fade_alpha_is_monotone_and_reaches_one_at_half_the_stage(stage):
    alphas = [PAPER.at(stage, images, N).fade_alpha for images in range(0, 100_001, 500)]
    assert alphas == sorted(alphas)
    assert all(0.0 <= a <= 1.0 for a in alphas)
    assert PAPER.at(stage, 50_000, N).fade_alpha == 1.0
    assert PAPER.at(stage, 0, N).fade_alpha == (1.0 if stage == 0 else 0.0)
    if stage > 0:
        assert PAPER.at(stage, 49_999, N).fade_alpha < 1.0


def test_recomputing_gives_identical_points():
    # Resume and sampling recompute the point; two equal schedules must agree, whatever was asked before.
    rebuilt = Schedule(list(PAPER.epochs_per_stage), list(PAPER.batch_sizes), list(PAPER.critic_iterations),
                       PAPER.fade_fraction)
    assert rebuilt == PAPER and hash(rebuilt) == hash(PAPER)
    probes = [(s, images, N) for s in range(7) for images in (0, 1, 33_333, 50_000, 100_000)]
    first = [PAPER.at(*probe) for probe in probes]
    assert [rebuilt.at(*probe) for probe in reversed(probes)] == first[::-1]
    assert [PAPER.at(*probe) for probe in probes] == first


def test_curve_covers_every_stage_in_order():
    rows = PAPER.curve(N, points_per_stage=11)
    assert len(rows) == 7 * 11
    assert rows[0]["progress"] == 0.0 and rows[-1]["progress"] == 7.0
    assert [row["total_images"] for row in rows] == sorted(row["total_images"] for row in rows)
    assert rows[-1]["total_images"] == 7 * 100_000
    assert {"stage", "resolution", "fade_alpha", "batch_size", "critic_iterations", "epoch", "stage_done",
            "images_seen", "total_images", "progress"} <= set(rows[0])
    stage_one = [row for row in rows if row["stage"] == 1]
    assert [row["fade_alpha"] for row in stage_one] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert {row["resolution"] for row in stage_one} == {8}


# Leading stages with 0 epochs are skipped (no progressive growing): 4 -> 64 px trained only at 64 px.
NO_GROWING = Schedule(epochs_per_stage=(0, 0, 0, 0, 150), batch_sizes=(32, 32, 32, 16, 16),
                      critic_iterations=(1,) * 5, fade_fraction=0.5)
NO_GROWING_CASES = [
    # stage, images_seen -> resolution, fade_alpha, batch_size, epoch, stage_done (N = 1000)
    ((4, 0), (64, 1.0, 16, 0, False)),  # the first trained stage: no fade-in, from its first image
    ((4, 1), (64, 1.0, 16, 0, False)),
    ((4, 74_999), (64, 1.0, 16, 74, False)),
    ((4, 150_000), (64, 1.0, 16, 150, True)),
    ((0, 0), (4, 1.0, 32, 0, True)),  # a skipped stage is done before it starts
    ((3, 0), (32, 1.0, 16, 0, True)),
]


@pytest.mark.parametrize(("args", "expected"), NO_GROWING_CASES)
def test_skipped_leading_stages_and_no_fade_in_at_the_first_trained_stage(args, expected):
    side, fade_alpha, batch_size, epoch, done = expected
    assert NO_GROWING.at(*args, N) == SchedulePoint(args[0], side, fade_alpha, batch_size, 1, epoch, done)


@pytest.mark.parametrize(("epochs", "first", "stage_images", "alphas_of_stage_2"), [
    ((0, 0, 0, 0, 150), 4, [0, 0, 0, 0, 150_000], None),
    ((0, 4, 4), 1, [0, 4000, 4000], [0.0, 0.25, 0.5, 0.75, 1.0]),  # the stage after the first trained one fades in
    ((4, 4, 4), 0, [4000] * 3, [0.0, 0.25, 0.5, 0.75, 1.0]),
])
def test_first_trained_stage_stage_images_and_curve(epochs, first, stage_images, alphas_of_stage_2):
    schedule = Schedule(epochs, (8,) * len(epochs), (1,) * len(epochs), 1.0)
    assert schedule.first_trained_stage == first
    assert [schedule.stage_images(stage, N) for stage in range(len(epochs))] == stage_images
    rows = schedule.curve(N, points_per_stage=5)  # a skipped stage has no points (and no division by zero)
    assert len(rows) == 5 * (len(epochs) - first)
    assert rows[0]["progress"] == first and rows[0]["fade_alpha"] == 1.0 and rows[0]["total_images"] == 0
    assert rows[-1]["progress"] == len(epochs) and rows[-1]["total_images"] == sum(stage_images)
    assert all(row["fade_alpha"] == 1.0 for row in rows if row["stage"] == first)
    if alphas_of_stage_2 is not None:
        assert [row["fade_alpha"] for row in rows if row["stage"] == 2] == alphas_of_stage_2


BAD_SCHEDULES = [
    ({"epochs_per_stage": (1, 1), "batch_sizes": (8,), "critic_iterations": (1, 1)}, "one entry per stage"),
    ({"epochs_per_stage": (), "batch_sizes": (), "critic_iterations": ()}, "1..7 stages"),
    ({"epochs_per_stage": (1,) * 8, "batch_sizes": (8,) * 8, "critic_iterations": (1,) * 8}, "1..7 stages"),
    ({"epochs_per_stage": (1, -1), "batch_sizes": (8, 8), "critic_iterations": (1, 1)}, "epochs_per_stage must hold"),
    ({"epochs_per_stage": (0, 0), "batch_sizes": (8, 8), "critic_iterations": (1, 1)},
     r"epochs_per_stage trains no stage: all 2 entries are 0, got \[0, 0\]; give the stages to train 1 or more"),
    ({"epochs_per_stage": (2, 0, 2), "batch_sizes": (8,) * 3, "critic_iterations": (1,) * 3},
     r"has 0 epochs at stage 1, after the trained stage 0, got \[2, 0, 2\].*give stage 1 1 or more epochs; "
     r"only leading stages may be 0"),
    ({"epochs_per_stage": (0, 2, 0), "batch_sizes": (8,) * 3, "critic_iterations": (1,) * 3},
     r"has 0 epochs at stage 2, after the trained stage 1"),
    ({"epochs_per_stage": (1, 1), "batch_sizes": (8, -8), "critic_iterations": (1, 1)}, "batch_sizes must hold"),
    ({"epochs_per_stage": (1, 1.5), "batch_sizes": (8, 8), "critic_iterations": (1, 1)}, "epochs_per_stage must hold"),
    ({"epochs_per_stage": (1, 1), "batch_sizes": (8, 8), "critic_iterations": (1, True)}, "critic_iterations must"),
    ({"epochs_per_stage": (1,), "batch_sizes": (8,), "critic_iterations": (1,), "fade_fraction": 0.0}, "fade_fraction"),
    ({"epochs_per_stage": (1,), "batch_sizes": (8,), "critic_iterations": (1,), "fade_fraction": 1.5}, "fade_fraction"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_SCHEDULES)
def test_bad_schedules_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Schedule(**{"fade_fraction": 0.5, **kwargs})


@pytest.mark.parametrize(
    ("args", "match"),
    [((7, 0, N), r"stage must be in 0..6"), ((-1, 0, N), r"stage must be in 0..6"), ((1, -1, N), "images_seen"),
     ((1, 0, 0), "n_train_images")],
)
def test_bad_progress_raises(args, match):
    with pytest.raises(ValueError, match=match):
        PAPER.at(*args)


def test_curve_needs_two_points_per_stage():
    with pytest.raises(ValueError, match="points_per_stage"):
        PAPER.curve(N, points_per_stage=1)


@pytest.mark.parametrize(("side", "expected"), [
    (4, True), (8, True), (256, True), (1024, True),  # the sides of stages 0, 1, 6 and 8
    (0, False), (1, False), (2, False), (-4, False),  # below the first stage's side
    (3, False), (12, False), (24, False), (255, False),  # not a power of two
])
def test_is_resolution_accepts_exactly_the_sides_of_stages(side, expected):
    assert is_resolution(side) is expected
    assert expected == any(resolution(stage) == side for stage in range(9))


@pytest.mark.parametrize("stage", range(9))
def test_stage_of_inverts_resolution(stage):
    assert stage_of(resolution(stage)) == stage


@pytest.mark.parametrize("side", [0, 2, 12, -8])
def test_stage_of_refuses_a_side_no_stage_has(side):
    with pytest.raises(ValueError, match=f"no stage has images of side {side} px"):
        stage_of(side)
