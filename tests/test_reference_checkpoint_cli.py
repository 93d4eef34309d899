"""``pacgan-lite import-reference`` and ``export-reference``: the reference's checkpoints in and out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pacgan_lite.cli import main
from pacgan_lite.inference import load_model

FIXTURE = Path(__file__).parent / "data" / "reference-fixtures" / "small-cpu"

pytestmark = pytest.mark.usefixtures("single_thread")


def test_import_reference_then_generate(tmp_path, capsys):
    out = tmp_path / "pacgan.pt"
    assert main(["import-reference", "--checkpoints", str(FIXTURE), "--config", str(FIXTURE / "config.json"),
                 "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    model = load_model(out)
    assert (model.resolution, model.class_names) == (32, ["CN", "AD"])
    assert main(["generate", "--checkpoint", str(out), "--per-class", "2", "--out",
                 str(tmp_path / "Generated32x32.nii.gz"), "--device", "cpu"]) == 0


def test_import_reference_takes_two_files_names_and_a_stddev(tmp_path):
    folder, out = FIXTURE / "PACGAN_32x32", tmp_path / "pacgan.pt"
    assert main(["import-reference", "--checkpoints", str(folder / "generator_best.pt"),
                 str(folder / "discriminator_best.pt"), "--config", str(FIXTURE / "config.json"), "--out", str(out),
                 "--class-names", "HC", "AD", "--stddev", "0.3"]) == 0
    model = load_model(out)
    assert model.class_names == ["HC", "AD"]
    assert model.discriminator.final[0].running_stddev.item() == pytest.approx(0.3)


def test_import_reference_refuses_both_stddev_options(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["import-reference", "--checkpoints", str(FIXTURE), "--config", str(FIXTURE / "config.json"),
              "--out", str(tmp_path / "pacgan.pt"), "--stddev", "0.3", "--stddev-images", str(tmp_path / "x.nii")])
    assert "not allowed with argument" in capsys.readouterr().err


def test_import_reference_reports_a_bad_file(tmp_path, capsys):
    folder = FIXTURE / "PACGAN_32x32"
    assert main(["import-reference", "--checkpoints", str(folder / "discriminator_best.pt"),
                 str(folder / "generator_best.pt"), "--config", str(FIXTURE / "config.json"),
                 "--out", str(tmp_path / "pacgan.pt")]) == 2
    assert "pacgan-lite import-reference: error: " in capsys.readouterr().err
    assert not (tmp_path / "pacgan.pt").exists()


def test_export_reference_writes_the_reference_layout(tmp_path, capsys):
    kit = tmp_path / "pacgan.pt"
    assert main(["import-reference", "--checkpoints", str(FIXTURE), "--config", str(FIXTURE / "config.json"),
                 "--out", str(kit)]) == 0
    out = tmp_path / "exported"
    assert main(["export-reference", "--checkpoint", str(kit), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    for name in ("generator_best.pt", "discriminator_best.pt"):
        contents = torch.load(out / "PACGAN_32x32" / name, weights_only=True)
        assert set(contents) == {"epoch", "model_state_dict", "optimizer_state_dict"}
    assert json.loads((out / "config.json").read_text())["FACTORS"] == "[1.0, 1.0, 0.5, 0.25]"


def test_export_reference_replaces_files_only_with_overwrite(tmp_path, capsys):
    kit = tmp_path / "pacgan.pt"
    assert main(["import-reference", "--checkpoints", str(FIXTURE), "--config", str(FIXTURE / "config.json"),
                 "--out", str(kit)]) == 0
    out = tmp_path / "authors-models"
    (out / "PACGAN_32x32").mkdir(parents=True)
    (out / "PACGAN_32x32" / "generator_best.pt").write_bytes(b"the authors' weights")
    assert main(["export-reference", "--checkpoint", str(kit), "--out", str(out)]) == 2
    assert "generator_best.pt: (file): exists, and exporting would replace it" in capsys.readouterr().err
    assert (out / "PACGAN_32x32" / "generator_best.pt").read_bytes() == b"the authors' weights"
    assert not (out / "config.json").exists()
    assert main(["export-reference", "--checkpoint", str(kit), "--out", str(out), "--overwrite"]) == 0
    assert set(torch.load(out / "PACGAN_32x32" / "generator_best.pt", weights_only=True)) == {
        "epoch", "model_state_dict", "optimizer_state_dict"}
