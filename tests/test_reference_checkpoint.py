"""Reference PACGAN checkpoints: import reproduces the reference's outputs, export writes its layout, bad
files get clear messages, and an imported checkpoint works with the kit's inference."""

from __future__ import annotations

import collections
import json
import math
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import fake_images

from pacgan_lite.architecture import build_networks
from pacgan_lite.checkpoint import CheckpointError, sampling_point, save_checkpoint
from pacgan_lite.config import KitConfig
from pacgan_lite.errors import InputError
from pacgan_lite.inference import classify, generate, load_model
from pacgan_lite.reference_checkpoint import (
    export_reference,
    import_reference,
    reference_batch_stddev,
    set_stored_stddev,
)
from pacgan_lite.reference_config import read_reference_config
from pacgan_lite.sampling import critic_probabilities

FIXTURES = Path(__file__).parent / "data" / "reference-fixtures"
FIXTURE_SIDES = {"small-cpu": 32, "gpu-style": 64}  # folder -> its highest resolution
FADE_ALPHAS = (0.3, 1.0)

# Tolerances, relative to the largest magnitude of each expected tensor. The kit's networks compute the same
# function as the reference's in float32 but not in the same order (the He constant multiplies the weight
# instead of the input; PixelNorm is x * rsqrt(sum / C) instead of x / sqrt(mean); the fade-in upsamples
# after the 1x1 to-image layer), so rounding differs. Critic: measured at most 1.2e-6, so 1e-5 holds. The
# generator's error grows with depth (each PixelNorm over few channels amplifies it): measured up to 3.3e-5
# at 64 px. 1e-5 cannot hold for the generator: the fixtures' own float32 outputs are 1.35e-5 from the same
# function computed in float64 (both fixtures; pinned by the float64 test below), and computing in the
# reference's order (He constant on the input, its PixelNorm, its fade-in) still leaves 1.5e-5 and 3.1e-5,
# the convolution kernels' own rounding. So 1e-4 (of images in [-1, 1]) for the float32 generator, and the
# float64 generator must agree with the fixtures to within their own rounding, 2e-5.
CRITIC_TOLERANCE = 1e-5
GENERATOR_TOLERANCE = 1e-4
FIXTURE_ROUNDING = 2e-5

pytestmark = pytest.mark.usefixtures("single_thread")


def fixture_folder(name: str) -> Path:
    return FIXTURES / name / f"PACGAN_{FIXTURE_SIDES[name]}x{FIXTURE_SIDES[name]}"


def reference_state(name: str, network: str) -> dict:
    """The fixture's ``model_state_dict`` of ``network`` (generator or discriminator), keys as saved."""
    return torch.load(fixture_folder(name) / f"{network}_best.pt", weights_only=True)["model_state_dict"]


def without_prefix(state: dict) -> dict:
    return {key.removeprefix("module."): value for key, value in state.items()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, Path]:
    """Each fixture imported once, its critic's stored stddev estimated from generated images (the default)."""
    folder = tmp_path_factory.mktemp("imported")
    return {name: import_reference(FIXTURES / name, FIXTURES / name / "config.json", folder / f"{name}.pt")
            for name in FIXTURE_SIDES}


def assert_close_to(actual: torch.Tensor, expected: torch.Tensor, tolerance: float) -> None:
    torch.testing.assert_close(actual, expected, rtol=tolerance, atol=tolerance * expected.abs().max().item())


# ----------------------------------------------------------------------------- reproducing the reference


@pytest.mark.parametrize("name", FIXTURE_SIDES)
def test_imported_networks_reproduce_the_reference(imported, name):
    expected = torch.load(FIXTURES / name / "expected.pt", weights_only=True)
    model = load_model(imported[name])
    n_stages = len(expected["architecture"]["factors"])
    assert [(case["stage"], case["fade_alpha"]) for case in expected["cases"]] == [
        (stage, alpha) for stage in range(n_stages) for alpha in FADE_ALPHAS]
    assert (model.stage, model.fade_alpha) == (n_stages - 1, 1.0)
    # The reference's critic in training mode: its minibatch-stddev feature is the statistic of the batch of 5.
    with torch.no_grad(), reference_batch_stddev(model.discriminator):
        for case in expected["cases"]:
            stage, alpha = case["stage"], case["fade_alpha"]
            generated = model.generator(expected["z"], expected["labels"], stage, alpha)
            score, logits = model.discriminator(case["images"], stage, alpha)
            assert_close_to(generated, case["generated"], GENERATOR_TOLERANCE)
            assert_close_to(score, case["score"], CRITIC_TOLERANCE)
            assert_close_to(logits, case["logits"], CRITIC_TOLERANCE)


@pytest.mark.parametrize("name", FIXTURE_SIDES)
def test_the_imported_generator_in_float64_is_within_the_fixtures_own_rounding(imported, name):
    # float64 computes the function almost exactly, so what remains is the reference's float32 rounding: an
    # importer that mapped a weight or a scale wrongly would be off by far more.
    expected = torch.load(FIXTURES / name / "expected.pt", weights_only=True)
    generator = load_model(imported[name]).generator.double()
    with torch.no_grad():
        for case in expected["cases"]:
            generated = generator(expected["z"].double(), expected["labels"], case["stage"], case["fade_alpha"])
            assert_close_to(generated.float(), case["generated"], FIXTURE_ROUNDING)


def _copy_as_parent_of_two_resolutions(tmp_path: Path) -> Path:
    """A model folder with PACGAN_16x16 and PACGAN_32x32 (the same files): the importer takes 32 px."""
    for side in (16, 32):
        shutil.copytree(fixture_folder("small-cpu"), tmp_path / f"PACGAN_{side}x{side}")
    return tmp_path


CHECKPOINT_FORMS = [
    ("PACGAN-folder", lambda tmp_path: fixture_folder("small-cpu")),
    ("model-folder", _copy_as_parent_of_two_resolutions),
    ("two-files", lambda tmp_path: [fixture_folder("small-cpu") / "generator_best.pt",
                                    fixture_folder("small-cpu") / "discriminator_best.pt"]),
]


@pytest.mark.parametrize(("form", "checkpoints"), CHECKPOINT_FORMS, ids=[row[0] for row in CHECKPOINT_FORMS])
def test_checkpoints_are_found_in_every_form(tmp_path, imported, form, checkpoints):
    out = import_reference(checkpoints(tmp_path), FIXTURES / "small-cpu" / "config.json", tmp_path / "kit.pt")
    model, reference = load_model(out), load_model(imported["small-cpu"])
    assert (model.stage, model.resolution, model.class_names) == (3, 32, ["CN", "AD"])
    for name, tensor in reference.generator.state_dict().items():
        assert torch.equal(model.generator.state_dict()[name], tensor), name


# ---------------------------------------------------------------------------------------------- export


def _kit_checkpoint(path: Path, name: str) -> Path:
    """A kit checkpoint with the fixture's architecture and the kit's own random weights, as after training."""
    architecture = torch.load(FIXTURES / name / "expected.pt", weights_only=True)["architecture"]
    arch = {"n_classes": 2, "image_channels": 1, "z_dim": architecture["z_dim"],
            "embedding_dim": architecture["embedding_dim"], "base_channels": architecture["in_channels"],
            "channel_factors": architecture["factors"], "aux_hidden": 150}
    torch.manual_seed(0)
    generator, discriminator = build_networks(arch)
    for parameter in [*generator.parameters(), *discriminator.parameters()]:
        torch.nn.init.normal_(parameter)  # every tensor random, biases too
    set_stored_stddev(discriminator, 0.5, 1)
    stage = len(arch["channel_factors"]) - 1
    return save_checkpoint(path, {"architecture": arch, "class_names": ["CN", "AD"],
                                  "options": KitConfig().to_dict(),
                                  "sampling": sampling_point(stage, 4 * 2**stage, 1.0),
                                  "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                                  "generator_ema": None})


def _outputs(model, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(4, model.generator.z_dim, generator=generator)
    images = torch.rand(4, 1, model.resolution, model.resolution, generator=generator) * 2 - 1
    with torch.no_grad():
        return [model.generator(z, torch.tensor([0, 1, 0, 1]), model.stage, 1.0),
                *model.discriminator(images, model.stage, 1.0)]


@pytest.mark.parametrize("name", FIXTURE_SIDES)
def test_export_then_import_gives_identical_networks(tmp_path, name):
    original = _kit_checkpoint(tmp_path / "kit.pt", name)
    folder = export_reference(original, tmp_path / "exported")
    again = import_reference(folder, folder / "config.json", tmp_path / "again.pt", stddev=0.5)
    before, after = load_model(original), load_model(again)
    for network in ("generator", "discriminator"):
        states = getattr(before, network).state_dict(), getattr(after, network).state_dict()
        assert states[0].keys() == states[1].keys()
        for key, tensor in states[0].items():
            if key != "initial.1.weight":
                assert torch.equal(states[1][key], tensor), key
    # The first layer's stored weight is the applied weight divided by the He constant; the applied weights,
    # which decide every output, are identical.
    assert torch.equal(after.generator.initial[1].scaled_weight(), before.generator.initial[1].scaled_weight())
    for output_after, output_before in zip(_outputs(after), _outputs(before), strict=True):
        assert torch.equal(output_after, output_before)


@pytest.mark.parametrize("name", FIXTURE_SIDES)
def test_exported_files_have_the_reference_layout(tmp_path, imported, name):
    folder = export_reference(imported[name], tmp_path / "exported")
    side = FIXTURE_SIDES[name]
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()) == [
        f"PACGAN_{side}x{side}/discriminator_best.pt", f"PACGAN_{side}x{side}/generator_best.pt", "config.json"]
    for network in ("generator", "discriminator"):
        exported = torch.load(folder / f"PACGAN_{side}x{side}" / f"{network}_best.pt", weights_only=True)
        reference = torch.load(fixture_folder(name) / f"{network}_best.pt", weights_only=True)
        assert set(exported) == {"epoch", "model_state_dict", "optimizer_state_dict"}
        assert exported["epoch"] == reference["epoch"]
        expected_state = without_prefix(reference["model_state_dict"])
        assert [(key, value.shape, value.dtype) for key, value in exported["model_state_dict"].items()] == [
            (key, value.shape, value.dtype) for key, value in expected_state.items()]
        assert exported["optimizer_state_dict"]["param_groups"][0]["params"] == (
            reference["optimizer_state_dict"]["param_groups"][0]["params"])
        for key, value in expected_state.items():
            if key == "initial_block.1.weight":
                # The kit stores this plain layer's weight divided by its He constant: where no float32 value
                # times the constant gives the reference's exactly, the nearest does (1 unit in the last place).
                torch.testing.assert_close(exported["model_state_dict"][key], value, rtol=2**-23, atol=0)
            else:
                assert torch.equal(exported["model_state_dict"][key], value), key
    config_values = read_reference_config(folder / "config.json").overrides
    fixture_values = read_reference_config(FIXTURES / name / "config.json").overrides
    assert config_values == fixture_values


# ------------------------------------------------------------------------------------------ bad inputs


def _copy_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """A writable copy of the small-cpu fixture: (its PACGAN_32x32 folder, its config.json)."""
    shutil.copytree(FIXTURES / "small-cpu", tmp_path / "small-cpu")
    return tmp_path / "small-cpu" / "PACGAN_32x32", tmp_path / "small-cpu" / "config.json"


def _edit_config(tmp_path: Path, **values) -> tuple[Path, Path]:
    folder, config = _copy_fixture(tmp_path)
    config.write_text(json.dumps({**json.loads(config.read_text()), **values}))
    return folder, config


def _edit_generator_state(tmp_path: Path, edit) -> tuple[Path, Path]:
    folder, config = _copy_fixture(tmp_path)
    path = folder / "generator_best.pt"
    contents = torch.load(path, weights_only=True)
    edit(contents["model_state_dict"])
    torch.save(contents, path)
    return folder, config


def _swapped(tmp_path: Path) -> tuple[list[Path], Path]:
    folder, config = _copy_fixture(tmp_path)
    return [folder / "discriminator_best.pt", folder / "generator_best.pt"], config


def _truncated(tmp_path: Path) -> tuple[Path, Path]:
    folder, config = _copy_fixture(tmp_path)
    path = folder / "generator_best.pt"
    path.write_bytes(path.read_bytes()[:5000])
    return folder, config


def _pickled_code(tmp_path: Path) -> tuple[Path, Path]:
    folder, config = _copy_fixture(tmp_path)
    path = folder / "discriminator_best.pt"
    torch.save({**torch.load(path, weights_only=True), "hook": print, "counts": collections.Counter(a=1)}, path)
    return folder, config


def _duplicate_differs(state: dict) -> None:
    state["initial_layer.bias"] = state["initial_layer.bias"] + 1.0


# (name, make the inputs in tmp_path -> (checkpoints, config), message pattern)
BAD_INPUTS = [
    ("discriminator-as-generator", _swapped,
     r"discriminator_best\.pt: model_state_dict: holds a discriminator \(it has adv_layer\.bias\), but was given "
     r"as the generator\. Fix: give generator_best\.pt as the generator"),
    ("truncated", _truncated, r"generator_best\.pt: \(file\): is truncated or damaged.*Fix: give the reference's own"),
    ("pickled-code", _pickled_code,
     r"discriminator_best\.pt: \(file\): holds pickled code \((builtins\.)?print\), which the safe loader refuses"),
    ("factors-disagree", lambda tmp_path: _edit_config(tmp_path, FACTORS="[1, 1, 0.5, 0.5]"),
     r"generator_best\.pt: model_state_dict: shapes do not fit the architecture \(.*"
     r"prog_blocks\.2\.conv1\.conv\.weight is \[8, 16, 3, 3\], expected \[16, 16, 3, 3\].*"
     r"FACTORS=\[1\.0, 1\.0, 0\.5, 0\.5\]"),
    ("factors-fewer-stages", lambda tmp_path: _edit_config(tmp_path, FACTORS="[1, 1, 0.5]"),
     r"PACGAN_32x32: resolution: the folder is for 32 px, but FACTORS in .*config\.json gives 3 stages"),
    ("z-dim-disagrees", lambda tmp_path: _edit_config(tmp_path, Z_DIM=17),
     r"generator_best\.pt: model_state_dict: shapes do not fit the architecture \(initial_block\.1\.weight is "
     r"\[19, 32, 4, 4\], expected \[20, 32, 4, 4\]\).*Z_DIM=17.*Fix: give the config\.json these weights"),
    ("key-missing", lambda tmp_path: _edit_generator_state(tmp_path, lambda state: state.pop("last_layer.2.bias")),
     r"generator_best\.pt: model_state_dict: keys do not fit the architecture \(missing: last_layer\.2\.bias\)"),
    ("key-unexpected",
     lambda tmp_path: _edit_generator_state(tmp_path, lambda state: state.update(extra=torch.zeros(1))),
     r"generator_best\.pt: model_state_dict: keys do not fit the architecture \(unexpected: extra\)"),
    ("duplicate-differs", lambda tmp_path: _edit_generator_state(tmp_path, _duplicate_differs),
     r"generator_best\.pt: last_layer\.0\.bias: differs from initial_layer\.bias, which is the same layer"),
    ("z-dim-zero", lambda tmp_path: _edit_config(tmp_path, Z_DIM=0),
     r"config\.json: Z_DIM \(model\.z_dim\): must be at least 1, got 0"),
    ("three-classes", lambda tmp_path: _edit_config(tmp_path, CLASS_SIZE=3),
     r"config\.json: CLASS_SIZE: is 3; the reference's class head always has 2 outputs"),
    ("no-such-folder", lambda tmp_path: (tmp_path / "models", FIXTURES / "small-cpu" / "config.json"),
     r"models: checkpoints: no such file or folder"),
    ("one-file", lambda tmp_path: (FIXTURES / "small-cpu" / "PACGAN_32x32" / "generator_best.pt",
                                   FIXTURES / "small-cpu" / "config.json"),
     r"generator_best\.pt: checkpoints: is one file; the generator and the critic are needed"),
]


@pytest.mark.parametrize(("name", "make", "message"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_inputs_get_clear_messages(tmp_path, name, make, message):
    checkpoints, config = make(tmp_path)
    with pytest.raises(InputError, match=message) as raised:
        import_reference(checkpoints, config, tmp_path / "kit.pt")
    assert "weights_only=False" not in str(raised.value)
    assert not (tmp_path / "kit.pt").exists()


def test_export_refuses_what_the_reference_cannot_hold(tmp_path):
    path = _kit_checkpoint(tmp_path / "kit.pt", "small-cpu")
    payload = torch.load(path, weights_only=True)
    payload["architecture"]["n_classes"] = 3
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"kit\.pt: architecture\.n_classes: is 3; the reference's class head "
                                              r"has 2 outputs"):
        export_reference(path, tmp_path / "exported")


# --------------------------------------------------------------------------------------------- inference


def test_imported_checkpoint_generates_and_classifies(tmp_path, imported):
    made = generate(imported["small-cpu"], per_class=[3, 2], out=tmp_path / "Generated32x32.nii.gz", device="cpu")
    assert made.n_images == 5 and made.class_names == ["CN", "AD"]
    assert nib.load(made.images).shape == (32, 32, 1, 5)
    one = classify(imported["small-cpu"], made.images, labels=made.labels, batch_size=1, device="cpu")
    five = classify(imported["small-cpu"], made.images, labels=made.labels, batch_size=5, device="cpu")
    columns = ["p_CN", "p_AD"]
    # The stored stddev makes the probabilities batch-independent; only the convolutions' float32 summation
    # order may change with the batch size.
    np.testing.assert_allclose(one.predictions[columns].to_numpy(), five.predictions[columns].to_numpy(),
                               rtol=0, atol=1e-6)
    assert one.metrics is not None and 0.0 <= one.metrics["auc"] <= 1.0


def test_reference_batch_mode_depends_on_the_batch(imported):
    """What the stored value avoids: in the reference's mode, a probability changes with the batch."""
    model = load_model(imported["small-cpu"])
    images = torch.rand(10, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with reference_batch_stddev(model.discriminator) as values:
        by_five = critic_probabilities(model.discriminator, images, model.stage, 1.0, 5, model.device)
        by_ten = critic_probabilities(model.discriminator, images, model.stage, 1.0, 10, model.device)
    assert len(values) == 3 and (by_five - by_ten).abs().max() > 1e-4


def _nifti_of_images(tmp_path: Path) -> Path:
    path = tmp_path / "Real32x32.nii.gz"
    nib.save(nib.Nifti1Image(fake_images(12, size=32), np.eye(4)), path)
    return path


# (name, import keyword arguments made in tmp_path, the recorded source, batches averaged)
STDDEV_CHOICES = [
    ("generated", lambda tmp_path: {}, "generated", 8),
    ("images", lambda tmp_path: {"stddev_images": _nifti_of_images(tmp_path)}, "images", 2),  # 12 = 8 + 4
    ("given", lambda tmp_path: {"stddev": 0.25}, "given", 1),
]


@pytest.mark.parametrize(("name", "options", "source", "batches"), STDDEV_CHOICES,
                         ids=[row[0] for row in STDDEV_CHOICES])
def test_the_stored_stddev_records_how_it_was_set(tmp_path, name, options, source, batches):
    out = import_reference(FIXTURES / "small-cpu", FIXTURES / "small-cpu" / "config.json", tmp_path / "kit.pt",
                           **options(tmp_path))
    record = torch.load(out, weights_only=True)["imported_from"]["stddev"]
    stored = load_model(out).discriminator.final[0]
    assert (record["source"], record["batches"]) == (source, batches)
    assert math.isfinite(record["value"]) and record["value"] > 0
    assert stored.running_stddev.item() == pytest.approx(record["value"], rel=1e-6)
    assert stored.num_batches_tracked.item() == batches
    if name == "given":
        assert record["value"] == 0.25


def test_an_imported_model_is_not_a_training_state(tmp_path, imported):
    from training_helpers import make_prepared, tiny_config

    from pacgan_lite.training import train

    prepared = make_prepared(tmp_path)
    with pytest.raises(CheckpointError, match=r"small-cpu\.pt: position: holds weights only.*Fix: start a new run"):
        train(tiny_config(model__z_dim=16, model__embedding_dim=3, model__base_channels=32, model__aux_hidden=150,
                          model__channel_factors=[1, 1, 0.5, 0.25]),
              prepared / "train", run_dir=tmp_path / "run", resume=imported["small-cpu"], echo=False)
