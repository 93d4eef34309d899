"""The speed benchmark's machinery: cases, FLOP counting, the report (not speed itself: see make bench)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from pacgan_lite.bench import Case, Iteration, bench_config, markdown, time_case
from pacgan_lite.bench.cases import FlopCount
from pacgan_lite.bench.runner import combine_windows, parse_stages
from pacgan_lite.cli import main
from pacgan_lite.layers import EqualizedConv2d, EqualizedConvTranspose2d


@pytest.mark.parametrize(("batch", "c_in", "c_out", "side", "kernel"), [(2, 3, 5, 8, 3), (1, 4, 4, 16, 1)])
def test_flop_count_of_a_convolution(batch, c_in, c_out, side, kernel):
    images, weight = torch.randn(batch, c_in, side, side), torch.randn(c_out, c_in, kernel, kernel)
    with FlopCount() as counter:
        F.conv2d(images, weight, padding=kernel // 2)
    assert counter.total == 2 * batch * c_out * side * side * c_in * kernel * kernel


def test_flop_count_works_through_the_gradient_penalty():
    # torch's FlopCounterMode refuses autograd.grad (its module hooks); the benchmark's counter must not.
    layer = EqualizedConv2d(1, 2, 3, padding=1)
    images = torch.randn(2, 1, 8, 8, requires_grad=True)
    with FlopCount() as counter:
        (gradient,) = torch.autograd.grad(layer(images).sum(), images, create_graph=True)
        gradient.pow(2).sum().backward()
    assert counter.total > 2 * 2 * 2 * 64 * 9  # more than the forward alone


@pytest.mark.parametrize(("architecture", "factors", "batches"), [
    ("teaching", 7, 7), ("paper", 7, 7), ("smoke", 7, 7)])
def test_bench_config_covers_every_stage_up_to_256(architecture, factors, batches):
    config = bench_config(architecture)
    assert config.train.stages == 7
    assert len(config.model.channel_factors) == factors and len(config.train.batch_sizes) == batches


def test_bench_config_keeps_the_profile_where_it_has_values():
    paper = bench_config("paper")
    assert paper.model.channel_factors == (1.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)
    assert paper.train.critic_iterations == (1, 1, 1, 1, 1, 2, 2)


# The teaching profile too: its generator loss has a bounded mode-seeking term, which needs the step's z and
# real batch.
@pytest.mark.parametrize("architecture", ["smoke", "teaching"])
@pytest.mark.parametrize("mode", ["reference", "kit"])
def test_an_iteration_trains_both_networks(architecture, mode):
    iteration = Iteration(Case(architecture, 2, mode, "cpu"))
    before = [p.detach().clone() for p in iteration.generator.parameters()]
    iteration()
    changed = [not torch.equal(b, p) for b, p in zip(before, iteration.generator.parameters(), strict=True)]
    assert any(changed)
    assert iteration.real.shape == (bench_config(architecture).train.batch_sizes[2], 1, 16, 16)


def test_reference_mode_runs_float32_and_contiguous():
    reference, kit = Iteration(Case("smoke", 1, "reference", "cpu")), Iteration(Case("smoke", 1, "kit", "cpu"))
    assert reference.precision.autocast_dtype is None and not reference.precision.channels_last
    equalized = (EqualizedConv2d, EqualizedConvTranspose2d)
    x = torch.ones(1, 2, 1, 1)
    for network, scaled_input in ((reference.generator, True), (kit.generator, False)):
        layers = [layer for layer in network.modules() if isinstance(layer, equalized)]
        assert layers and all(torch.equal(layer.operands(x)[0], x * layer.scale if scaled_input else x)
                              for layer in layers)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        Iteration(Case("smoke", 0, "fast", "cpu"))


def test_time_case_reports_rates_flops_and_memory():
    result = time_case(Case("smoke", 1, "kit", "cpu"), seconds=0.0, warmup=1)
    assert result["iterations"] >= 1 and result["images_per_second"] > 0
    assert result["flops_per_image"] > 0 and result["peak_memory_mib"] > 0
    assert result["resolution"] == 8 and result["batch_size"] == 16


@pytest.mark.parametrize(("words", "stages"), [(["0-6"], (0, 1, 2, 3, 4, 5, 6)), (["2", "4"], (2, 4)),
                                               (["0-1", "5"], (0, 1, 5))])
def test_parse_stages(words, stages):
    assert parse_stages(words) == stages


def test_windows_combine_into_images_over_seconds():
    window = {"architecture": "paper", "mode": "kit", "batch_size": 16, "flops_per_image": 2e9}
    windows = [{**window, "iterations": 3, "seconds": 6.0, "images_per_second": 8.0, "peak_memory_mib": 900.0},
               {**window, "iterations": 1, "seconds": 4.0, "images_per_second": 4.0, "peak_memory_mib": 950.0,
                "flops_per_image": None}]
    result = combine_windows(windows)
    assert result["images_per_second"] == 4 * 16 / 10.0 and result["iterations"] == 4 and result["seconds"] == 10.0
    assert result["window_images_per_second"] == [8.0, 4.0]
    assert result["peak_memory_mib"] == 950.0 and result["flops_per_image"] == 2e9  # FLOPs of the first window


def test_time_case_can_skip_the_flop_count():
    assert time_case(Case("smoke", 0, "kit", "cpu"), seconds=0.0, warmup=1, count_flops=False)["flops_per_image"] is None


def test_markdown_gives_the_ratio_per_stage():
    row = {"architecture": "paper", "stage": 4, "resolution": 64, "batch_size": 16, "flops_per_image": 2e9,
           "peak_memory_mib": 900.0, "autocast": "float32", "channels_last": False, "share_of_peak": 0.1}
    report = {"machine": {"cpu": "x", "cores": 2, "gpu": None, "torch": "2"}, "matmul_peak_flops": {"float32": 1e11},
              "training": [{**row, "mode": "reference", "images_per_second": 2.0},
                           {**row, "mode": "kit", "images_per_second": 7.0, "autocast": "bfloat16",
                            "channels_last": True}],
              "generation": [{"architecture": "paper", "mode": "kit", "images_per_second": 40.0}]}
    text = markdown(report)
    assert "| paper | 64 | 16 | 2.00 | 7.00 | 3.50x | bfloat16, channels_last |" in text
    assert "| paper | kit | 40.0 |" in text


def test_overrides_reach_the_kit_mode():
    kit = Iteration(Case("smoke", 1, "kit", "cpu", ("train.gradient_penalty_interval=3",)))
    reference = Iteration(Case("smoke", 1, "reference", "cpu", ("train.gradient_penalty_interval=3",)))
    assert kit.penalty_cycle == 3 and reference.penalty_cycle == 1


def test_cli_writes_json_and_markdown(tmp_path):
    code = main(["bench", "--architectures", "smoke", "--stages", "0", "--seconds", "0", "--peak-seconds", "0.1",
                 "--device", "cpu",
                 "--no-generation", "--no-preprocessing", "--out", str(tmp_path),
                 "--set", "train.gradient_penalty_interval=2"])
    assert code == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert [r["mode"] for r in report["training"]] == ["reference", "kit"]
    assert all(len(r["window_images_per_second"]) == 2 for r in report["training"])  # --rounds 2, the default
    assert [r["overrides"] for r in report["training"]] == [["train.gradient_penalty_interval=2"]] * 2
    text = (tmp_path / "bench.md").read_text()
    assert "kit / reference" in text and "Kit mode with train.gradient_penalty_interval=2." in text
