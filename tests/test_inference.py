"""Inference and evaluation of a tiny trained run: generate, classify, evaluate, their CLIs and bad inputs."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
from dataclasses import replace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from training_helpers import make_prepared, tiny_config

from pacgan_lite.architecture import build_networks
from pacgan_lite.checkpoint import load_checkpoint, save_checkpoint
from pacgan_lite.cli import main
from pacgan_lite.config import (
    POPULATION_SEED_OFFSET,
    EncoderOptions,
    EvaluationOptions,
    MetricOptions,
    load_profile,
)
from pacgan_lite.data.embedded import cohort_name
from pacgan_lite.errors import InputError
from pacgan_lite.evaluation import evaluate, find_run
from pacgan_lite.evaluation.figures import image_grid
from pacgan_lite.inference import (
    classify,
    generate,
    generate_medigan,
    generate_with_noise_off,
    interpolate_classes,
    load_model,
    noise_sides,
)
from pacgan_lite.metrics import list_metrics
from pacgan_lite.sampling import generate_balanced
from pacgan_lite.training import train

pytestmark = pytest.mark.usefixtures("single_thread")

FAST = EvaluationOptions(synthetic_per_class=12, batch_size=16, encoder=EncoderOptions(steps=10, batch_size=8),
                         metric=MetricOptions(ssim_pairs_per_class=40, bootstrap_resamples=50, kid_subsets=5))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished 3-stage (4..16 px) validation run on the tiny prepared set (8 val images)."""
    prepared = make_prepared(tmp_path_factory.mktemp("data"))
    runs = tmp_path_factory.mktemp("runs")
    return train(tiny_config(), prepared / "train", test_folder=prepared / "test", run_dir=runs / "00000-smoke-val",
                 echo=False).run_dir


@pytest.fixture(scope="module")
def generated(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "Generated16x16.nii.gz"
    return generate(run_dir / "stage2-best.pt", [5, 3], out, seed=4, batch_size=3, device="cpu")


def test_checkpoints_sample_at_the_stage_their_weights_were_selected(run_dir):
    model = load_model(run_dir / "stage2-best.pt")
    assert (model.stage, model.resolution, model.fade_alpha, model.class_names) == (2, 16, 1.0, ["CN", "AD"])
    assert load_model(run_dir / "stage0-best.pt").resolution == 4
    assert find_run("smoke", run_dir.parent) == run_dir and find_run("teaching", run_dir.parent) is None


def test_a_run_folder_stands_for_its_last_stages_selected_weights(run_dir, tmp_path):
    from_folder, from_file = load_model(run_dir), load_model(run_dir / "stage2-best.pt")
    assert from_folder.path == from_file.path and (from_folder.stage, from_folder.fade_alpha) == (2, 1.0)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run_dir / "options.json", unfinished / "options.json")
    with pytest.raises(InputError, match=r"unfinished: \(run folder\): the run is not complete"):
        load_model(unfinished)


def test_generate_writes_the_reference_layout_independent_of_the_batch(run_dir, generated):
    images = nib.load(generated.images).get_fdata(dtype=np.float32)
    assert images.shape == (16, 16, 1, 8) and images.min() >= -1 and images.max() <= 1
    labels = pd.read_csv(generated.labels)
    assert list(labels.columns) == ["ID", "Label"] and labels["Label"].tolist() == [0] * 5 + [1] * 3
    # Balanced counts give exactly the images of the training loop's generate_balanced for the same seed.
    balanced = generate(run_dir / "stage2-best.pt", [4], generated.images.parent / "b.nii.gz", seed=4, batch_size=8)
    model = load_model(run_dir / "stage2-best.pt")
    expected, _ = generate_balanced(model.generator, 4, 2, 1.0, 4, 3, torch.device("cpu"))
    written = nib.load(balanced.images).get_fdata(dtype=np.float32).transpose(3, 2, 1, 0)
    np.testing.assert_allclose(written, expected.numpy(), atol=1e-6)


def test_a_lower_size_uses_the_weights_selected_at_that_stage(run_dir, tmp_path):
    lower = generate(run_dir / "stage2-best.pt", [3], tmp_path / "low.nii.gz", size=8, seed=1)
    direct = generate(run_dir / "stage1-best.pt", [3], tmp_path / "direct.nii.gz", seed=1)
    np.testing.assert_array_equal(nib.load(lower.images).get_fdata(), nib.load(direct.images).get_fdata())
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(run_dir / "stage2-best.pt", alone / "stage2-best.pt")
    with pytest.raises(InputError, match=r"size: 8 px needs the weights selected at that stage \(stage1-best.pt\)"):
        generate(alone / "stage2-best.pt", [3], tmp_path / "x.nii.gz", size=8)


def test_medigan_style_generate(run_dir, tmp_path):
    images = generate_medigan(run_dir / "stage2-best.pt", num_samples=3, save_images=False, condition=1)
    assert len(images) == 3 and images[0].shape == (16, 16)
    made = generate_medigan(run_dir / "stage2-best.pt", num_samples=5, output_path=tmp_path)
    assert made.images.name == "Generated16x16.nii.gz"
    assert pd.read_csv(made.labels)["Label"].tolist() == [0, 0, 0, 1, 1]
    smaller = generate_medigan(run_dir / "stage2-best.pt", num_samples=2, output_path=tmp_path / "s", size=8)
    assert smaller.images.name == "Generated8x8.nii.gz"
    assert generate_medigan(run_dir / "stage2-best.pt", num_samples=2, save_images=False, size=8)[0].shape == (8, 8)


def test_classify_writes_probabilities_and_metrics_the_same_for_any_batch(run_dir, generated, tmp_path):
    result = classify(run_dir / "stage2-best.pt", generated.images, labels=generated.labels,
                      out=tmp_path / "predictions.csv", batch_size=1)
    table = pd.read_csv(tmp_path / "predictions.csv")
    assert list(table.columns) == ["ID", "p_CN", "p_AD", "Predicted", "Predicted_name", "Label"]
    np.testing.assert_allclose(table[["p_CN", "p_AD"]].sum(axis=1), 1.0, atol=1e-5)
    metrics = json.loads((tmp_path / "predictions.metrics.json").read_text())
    assert metrics["n_images"] == 8 and 0 <= metrics["auc"] <= 1 and metrics == {**metrics, **result.metrics}
    in_sevens = classify(run_dir / "stage2-best.pt", generated.images, batch_size=7).predictions
    np.testing.assert_allclose(in_sevens[["p_CN", "p_AD"]], table[["p_CN", "p_AD"]], atol=1e-5)


def test_class_interpolation_ends_at_the_two_classes(run_dir):
    model = load_model(run_dir / "stage2-best.pt")
    z = torch.randn(model.generator.z_dim, generator=torch.Generator().manual_seed(0))
    frames = interpolate_classes(model, z, 0, 1, steps=4)
    with torch.no_grad():
        ends = model.generator(z.repeat(2, 1), torch.tensor([0, 1]), model.stage, model.fade_alpha)
    assert frames.shape == (4, 1, 16, 16)
    torch.testing.assert_close(frames[[0, -1]], ends, atol=1e-4, rtol=1e-4)  # batch size changes rounding


def _with_noise_inputs(model):
    """``model`` with a fresh generator that adds noise at 8 and 16 px, its strengths made non-zero."""
    torch.manual_seed(0)
    generator = build_networks({**model.architecture, "noise_from": 8})[0].eval()
    for block in generator.blocks:
        block.noise_strength.data.uniform_(0.5, 1.0)
    return replace(model, generator=generator)


BLOCK_MAKING = {8: 0, 16: 1}  # the generator block that makes each side (px)


def _images_with_zeroed(model, z, labels, sides):
    """The images with the strengths of ``sides`` zeroed by hand, the strengths put back after."""
    strengths = [model.generator.blocks[BLOCK_MAKING[side]].noise_strength for side in sides]
    saved = [strength.detach().clone() for strength in strengths]
    for strength in strengths:
        strength.data.zero_()
    with torch.no_grad():
        images = model.generator(z, labels, model.stage, model.fade_alpha)
    for strength, value in zip(strengths, saved, strict=True):
        strength.data.copy_(value)
    return images


@pytest.mark.parametrize("sides", [None, [8], [16], [8, 16]])
def test_noise_off_zeroes_exactly_the_strengths_of_those_blocks(run_dir, sides):
    model = _with_noise_inputs(load_model(run_dir / "stage2-best.pt"))
    z, labels = torch.randn(4, model.generator.z_dim, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1] * 2)
    before = {name: p.detach().clone() for name, p in model.generator.named_parameters()}
    images = generate_with_noise_off(model, z, labels, sides)
    assert noise_sides(model) == [8, 16] and images.shape == (4, 1, 16, 16)
    torch.testing.assert_close(images, _images_with_zeroed(model, z, labels, sides or [8, 16]), atol=0, rtol=0)
    with torch.no_grad():
        assert (images - model.generator(z, labels, model.stage, model.fade_alpha)).abs().amax() > 1e-3
    assert all(torch.equal(p, before[name]) for name, p in model.generator.named_parameters())  # model unchanged


def test_noise_off_names_the_sides_that_have_noise(run_dir):
    plain = load_model(run_dir / "stage2-best.pt")
    z, labels = torch.zeros(1, plain.generator.z_dim), torch.tensor([0])
    assert noise_sides(plain) == []
    with pytest.raises(InputError, match=r"sides: .*\[8\] px add no noise.*model.noise_from 0.*Fix: train with"):
        generate_with_noise_off(plain, z, labels, [8])
    with pytest.raises(InputError, match=r"\[4, 32\] px add no noise .*\[8, 16\].*Fix: choose among \[8, 16\]"):
        generate_with_noise_off(_with_noise_inputs(plain), z, labels, [32, 4])


def test_an_image_grid_has_a_row_per_setting_and_checks_the_columns():
    images = torch.zeros(3, 1, 8, 8)
    figure = image_grid({"on": images, "off": images}, ["a", "b", "c"], "noise")
    assert len(figure.axes) == 6 and [ax.get_title() for ax in figure.axes[:4]] == ["a", "b", "c", ""]
    with pytest.raises(ValueError, match="row 'off' has 2 images for 3 columns"):
        image_grid({"on": images, "off": images[:2]}, ["a", "b", "c"])


def _other_class_count(run_dir, tmp_path):
    payload = load_checkpoint(run_dir / "stage2-best.pt")
    architecture = {**payload["architecture"], "n_classes": 3}
    generator, discriminator = build_networks(architecture)
    path = tmp_path / "three-classes.pt"
    save_checkpoint(path, {**payload, "architecture": architecture, "class_names": ["CN", "MCI", "AD"],
                           "generator": generator.state_dict(), "generator_ema": None,
                           "discriminator": discriminator.state_dict()})
    return path


def _write_nifti(path, images):
    nib.save(nib.Nifti1Image(images.astype(np.float32), np.eye(4)), path)
    return path


def _truncated(generated, tmp_path):
    data = gzip.decompress(generated.images.read_bytes())
    path = tmp_path / "truncated.nii.gz"
    path.write_bytes(gzip.compress(data[: len(data) // 2]))
    return path


BAD_INPUTS = {
    "another size": (lambda g, r, t: {"images": _write_nifti(t / "small.nii.gz", np.zeros((8, 8, 1, 4)))},
                     "images are 8x8 with 1 channel(s), but the checkpoint classifies 16x16 images"),
    "a corrupt file": (lambda g, r, t: {"images": _truncated(g, t)}, "cannot be read"),
    "a NaN in a later batch": (lambda g, r, t: {"images": _write_nifti(t / "nan.nii.gz", np.pad(
        np.zeros((16, 16, 1, 7)), ((0, 0), (0, 0), (0, 0), (0, 1)), constant_values=np.nan))},
        "NaN or Inf in images [7]"),  # batch_size 3 reads images 6..7 last: the index is the file's
    "no images": (lambda g, r, t: {"images": _write_nifti(t / "empty.nii.gz", np.zeros((16, 16, 1, 0)))},
                  "expected 4 dimensions [W, H, C, N] with N >= 1"),
    "not a NIfTI": (lambda g, r, t: {"images": (t / "x.nii.gz").write_text("hello") and t / "x.nii.gz"},
                    "cannot be read as NIfTI"),
    "labels of another class count": (
        lambda g, r, t: {"labels": pd.DataFrame({"ID": range(8), "Label": [0, 1, 2] * 2 + [0, 1]}).to_csv(
            t / "l.csv", index=False) or t / "l.csv"}, "labels [2] do not exist in the checkpoint, which has 2 classes"),
    "a foreign pickle": (lambda g, r, t: {"checkpoint": t / "f.pt", "_": pickle.dump({"x": 1}, (t / "f.pt").open("wb"))},
                         "(file): is not a PyTorch checkpoint"),
    "a plain state dict": (lambda g, r, t: {"checkpoint": t / "s.pt", "_": torch.save({"w": torch.zeros(1)}, t / "s.pt")},
                           "format: not a pacgan-lite checkpoint"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error(case, run_dir, generated, tmp_path):
    make, message = BAD_INPUTS[case]
    arguments = {"checkpoint": run_dir / "stage2-best.pt", "images": generated.images, "labels": None,
                 "batch_size": 3, **make(generated, run_dir, tmp_path)}
    arguments.pop("_", None)
    with pytest.raises(InputError, match="Fix: ") as error:
        classify(**arguments)
    assert message in str(error.value)


def test_checkpoint_of_another_class_count_or_size_is_refused(run_dir, tmp_path):
    with pytest.raises(InputError, match=r"n_classes: checkpoint 3, expected 2"):
        evaluate(run_dir, checkpoint=_other_class_count(run_dir, tmp_path), options=FAST, out=tmp_path / "e")
    with pytest.raises(InputError, match=r"size: 32 px is not a resolution this checkpoint was trained for"):
        generate(run_dir / "stage2-best.pt", [2], tmp_path / "g.nii.gz", size=32)
    with pytest.raises(InputError, match=r"per_class: expected one count or 2"):
        generate(run_dir / "stage2-best.pt", [1, 2, 3], tmp_path / "g.nii.gz")


def test_evaluate_writes_every_metric_and_figure(run_dir, tmp_path):
    result = evaluate(run_dir, options=FAST, encoder_cache=tmp_path / "cache")
    record = json.loads((run_dir / "evaluation" / "metrics.json").read_text())
    assert list(record["metrics"]) == list_metrics()
    assert record["held_out"] == "val" and record["sets"] == {"train": 16, "real": 8, "fake": 24}
    assert record["resolution"] == 16 and record["encoder"]["options"]["steps"] == 10
    assert "skipped" in record["metrics"]["fid_inception"] and "never downloads" in record["metrics"]["fid_inception"]["skipped"]
    for name in ("classifier", "fd_domain", "kid_domain", "fd_efficientnet", "kid_efficientnet", "ssim",
                 "ms_ssim_fake", "class_fidelity", "memorization", "precision_recall_domain",
                 "precision_recall_efficientnet", "density_coverage_domain", "density_coverage_efficientnet",
                 "power_spectrum"):
        assert "skipped" not in record["metrics"][name], name
    # the real reference of the fidelity ratios is every real image: the 16 training and 8 held-out ones
    for name in ("class_fidelity", "power_spectrum"):
        assert record["metrics"][name]["real_reference_images"]["sets"] == {"train": 16, "val": 8}, name
    assert set(record["metrics"]["class_fidelity"]["spread_ratio_per_class"]) == {"CN", "AD"}
    assert record["metrics"]["density_coverage_efficientnet"]["overall"]["n_fake"] == 8
    # the critic's AUC on the held-out images is the one the training loop's selection computes
    assert record["metrics"]["classifier"]["n_images"] == 8
    pngs = sorted(p.name for p in result.folder.glob("*.png"))
    assert pngs == ["class_fidelity.png", "classifier.png", "distances.png", "memorization.png", "power_spectrum.png",
                    "precision_recall_density_coverage.png", "real_vs_synthetic.png", "ssim.png"]


def test_the_population_held_out_is_every_slice_of_a_fresh_cohort(run_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PACGAN_LITE_DATA", str(tmp_path / "data"))
    options = replace(FAST, held_out="population", population_subjects=20, metrics=("classifier", "class_fidelity"))
    result = evaluate(run_dir, options=options, out=tmp_path / "e", save_figures=False)
    # the run's cohort options (the smoke profile's: 64 px, seed 0) with 20 subjects and seed 0 + 1000
    assert [path.name for path in (tmp_path / "data" / "cohorts").iterdir()] == [
        cohort_name(replace(load_profile("smoke").cohort, n_subjects=20, seed=POPULATION_SEED_OFFSET))]
    (prepared,) = (tmp_path / "data" / "prepared").iterdir()
    kept = pd.read_csv(prepared / "split.csv")  # every split of it, as matched
    assert result.record["held_out"] == "population" and result.record["sets"]["real"] == len(kept)
    classifier = result.metrics["classifier"]
    assert classifier["n_images"] == len(kept) and "population_note" in classifier
    assert classifier["n_per_class"] == {"CN": int((kept["Label"] == 0).sum()), "AD": int((kept["Label"] == 1).sum())}
    assert 0 <= result.metrics["class_fidelity"]["ceiling_auc_from_hidden_severity"] <= 1


def test_the_population_held_out_needs_a_run_on_the_embedded_cohort(run_dir, tmp_path):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    record = json.loads((copy / "options.json").read_text())
    record["config"]["data"]["source"] = str(tmp_path / "my-data")
    (copy / "options.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"options\.json: data\.source: held_out=population draws fresh subjects of "
                                         r"the embedded cohort.*Fix: evaluate it on its own held-out images"):
        evaluate(copy, options=replace(FAST, held_out="population"), out=tmp_path / "e", save_figures=False)


def test_cli_generate_classify_evaluate(run_dir, tmp_path, capsys):
    checkpoint = str(run_dir / "stage2-best.pt")
    out = tmp_path / "Generated16x16.nii.gz"
    assert main(["generate", "--checkpoint", checkpoint, "--per-class", "3", "2", "--out", str(out)]) == 0
    assert "5 images written" in capsys.readouterr().out
    assert main(["classify", "--checkpoint", checkpoint, "--images", str(out), "--labels",
                 str(tmp_path / "labels_syn.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert "AUC " in capsys.readouterr().out and (tmp_path / "p.metrics.json").is_file()
    assert main(["evaluate", "--run", str(run_dir), "--synthetic-per-class", "6", "--metrics", "classifier",
                 "class_fidelity", "--out", str(tmp_path / "evaluation")]) == 0
    assert "classifier: done" in capsys.readouterr().out
    assert main(["classify", "--checkpoint", str(tmp_path / "p.csv"), "--images", str(out), "--out",
                 str(tmp_path / "q.csv")]) == 2
    assert "p.csv: (file): is not a PyTorch checkpoint" in capsys.readouterr().err
