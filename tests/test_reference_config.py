"""The reference config.json reader: the default values map to the paper profile; code is refused."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from training_helpers import TINY_TRAIN, make_prepared

from pacgan_lite import training
from pacgan_lite.cli import main
from pacgan_lite.config import load_profile
from pacgan_lite.errors import ConfigError
from pacgan_lite.reference_config import read_reference_config, reference_overrides

# The reference's defaults, strings where the reference eval()s them.
REFERENCE_DEFAULTS = {
    "DATA_TRAIN_DIRECTORY": "data/ADNI_train",
    "LABEL_TRAIN_DIRECTORY": "data/ADNI_train/labels.csv",
    "DEVICE": "'cuda' if torch.cuda.is_available() else 'cpu'",
    "GPUS_N": "[0]",
    "IMAGE_CHANNELS": 1,
    "CLASS_SIZE": 2,
    "IN_CHANNELS": 512,
    "FACTORS": "[1, 1, 1/2, 1/4, 1/8, 1/16, 1/32]",
    "LEARNING_RATE": 1e-3,
    "BATCH_SIZES": "[32, 32, 32, 16, 16, 16, 16]",
    "EMBEDDING_DIM": 3,
    "Z_DIM": 512,
    "CRITIC_ITERATIONS": "[1, 1, 1, 1, 1, 2, 2]",
    "LAMBDA_GP": 10,
    "LAMBDA_CLS_1": 4,
    "LAMBDA_CLS_2": "L_cls1/2",
    "PROGRESSIVE_EPOCHS": "[100] * len(factors)",
    "START_CHECK_AT": 0.6,
    "VALIDATE": "True",
    "TESTING": "False",
    "GENERATE": "True",
}

pytestmark = pytest.mark.usefixtures("single_thread")


def test_reference_defaults_give_the_paper_profile(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(REFERENCE_DEFAULTS))
    reference = read_reference_config(path)
    assert reference.overrides["train.loss.class_fake"] == 2.0
    assert reference.overrides["train.epochs_per_stage"] == [100] * 7
    assert reference.overrides["model.channel_factors"][2] == 0.5
    assert reference.data_checks == {"n_classes": 2, "image_channels": 1}
    assert "DEVICE" in reference.not_used and "torchrun" in reference.not_used["GPUS_N"]
    config = load_profile("paper", reference.overrides)
    assert config == load_profile("paper")


def test_expressions_follow_the_values_they_name():
    reference = reference_overrides({"LAMBDA_CLS_1": 6, "LAMBDA_CLS_2": "L_cls1 / 3 + 1",
                                     "FACTORS": "[1, 1, 1/2]", "PROGRESSIVE_EPOCHS": "[5] * len(factors)",
                                     "VALIDATE": False})
    assert reference.overrides["train.loss.class_fake"] == pytest.approx(3.0)
    assert reference.overrides["train.loss.class_real"] == reference.overrides["train.loss.class_generator"] == 6.0
    assert reference.overrides["train.epochs_per_stage"] == [5, 5, 5] and reference.overrides["train.stages"] == 3
    assert reference.overrides["train.validate"] is False


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch /tmp/pwned')",
    "open('/etc/passwd').read()",
    "factors.__class__",
    "[x for x in factors]",
    "L_cls1 ** 99",
    "lambda: 1",
    "[0] * 10**9",
    "len(factors, 1)",
    "'4'",
])
def test_code_in_strings_is_refused(payload):
    with pytest.raises(ConfigError, match=r"LAMBDA_CLS_2: (refused to evaluate|cannot parse)"):
        reference_overrides({"LAMBDA_CLS_2": payload})


def test_unknown_keys_and_wrong_types_are_reported():
    with pytest.raises(ConfigError, match="LAMBDA_CLS_3, SPEED: unknown reference option"):
        reference_overrides({"SPEED": 1, "LAMBDA_CLS_3": 1})
    assert reference_overrides({"SPEED": 1}, allow_unknown=True).unknown == ["SPEED"]
    with pytest.raises(ConfigError, match="BATCH_SIZES: expected a whole number"):
        reference_overrides({"BATCH_SIZES": "[32, 16.5]"})
    with pytest.raises(ConfigError, match="VALIDATE: expected true/false"):
        reference_overrides({"VALIDATE": 1})


def test_cli_train_takes_a_reference_config(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"LAMBDA_CLS_1": 3, "LAMBDA_CLS_2": "L_cls1/3", "GPUS_N": "[0, 1]"}))
    prepared = make_prepared(tmp_path)
    sets = [x for k, v in TINY_TRAIN.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    args = ["train", "--profile", "smoke", "--data", str(prepared), "--out", str(tmp_path / "run"),
            "--reference-config", str(tmp_path / "config.json"), *sets, "--set", "train.stages=1"]
    assert main(args) == 0
    loss = json.loads((tmp_path / "run" / "options.json").read_text())["config"]["train"]["loss"]
    assert (loss["class_real"], loss["class_fake"], loss["class_generator"]) == (3.0, 1.0, 3.0)
    assert "GPUS_N not used" in capsys.readouterr().out


@pytest.mark.parametrize("raw", [{"Z_DIM": float("nan")}, {"Z_DIM": float("inf")}, {"Z_DIM": "1e400"},
                                 {"BATCH_SIZES": "[32, 1e400]"}, {"LEARNING_RATE": float("-inf")},
                                 {"IN_CHANNELS": 10**400}])
def test_numbers_must_be_finite(raw):
    (key,) = raw
    with pytest.raises(ConfigError, match=rf"config\.json: {key}: expected a finite number"):
        reference_overrides(raw)


@pytest.fixture
def trained(monkeypatch):
    """The trainer replaced by a stand-in that records the configuration it was given."""
    seen = {}

    def fake_train(config, train_folder, **_):
        seen["config"] = config
        return SimpleNamespace(run_dir="run")

    monkeypatch.setattr(training, "train", fake_train)
    return seen


@pytest.mark.parametrize(("reference", "message"), [
    ({"LEARNING_RATE": 1e-5}, None),  # json.dumps writes 1e-05, which YAML 1.1 reads as text
    ({"Z_DIM": 0}, "{config}: Z_DIM (model.z_dim): must be at least 1"),
    ({"PROGRESSIVE_EPOCHS": "[1] * 9"}, "{config}: PROGRESSIVE_EPOCHS (train.stages): must be in 1..7"),
    ({"CLASS_SIZE": 3}, "{config}: CLASS_SIZE: is 3, the data in {data}/train have 2. Fix: set CLASS_SIZE to 2"),
    ({"IMAGE_CHANNELS": 3}, "{config}: IMAGE_CHANNELS: is 3, the data in {data}/train have 1"),
])
def test_cli_train_names_the_reference_config_and_its_key(tmp_path, trained, capsys, reference, message):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(reference))
    prepared = make_prepared(tmp_path)
    code = main(["train", "--profile", "smoke", "--data", str(prepared), "--reference-config", str(config)])
    if message is None:
        assert code == 0 and trained["config"].train.learning_rate == 1e-5
    else:
        assert code == 2 and "config" not in trained
        assert message.format(config=config, data=prepared) in capsys.readouterr().err
