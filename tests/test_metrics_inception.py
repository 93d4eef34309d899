"""The Inception-v3 FID path: only from a local weights file, which the test writes itself."""

from __future__ import annotations

import pytest
import torch

from pacgan_lite.config import EvaluationOptions
from pacgan_lite.errors import InputError
from pacgan_lite.evaluation.evaluate import NO_INCEPTION, build_context
from pacgan_lite.metrics import EvaluationSets
from pacgan_lite.metrics.encoder import DomainEncoder
from pacgan_lite.metrics.inception import FIDInceptionV3, load_inception

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The state dict of a randomly initialized FID Inception-v3 (the real file has the same keys)."""
    path = tmp_path_factory.mktemp("weights") / "pt_inception-random.pth"
    torch.manual_seed(0)
    torch.save(FIDInceptionV3().state_dict(), path)
    return path


def test_features_from_a_local_weights_file(weights):
    network = load_inception(weights)
    images = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    features = network(images)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    torch.testing.assert_close(network(images.expand(-1, 3, -1, -1)), features)  # grey = three equal channels


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.pth", "inception_weights: no such file"),
        (lambda tmp: torch.save(DomainEncoder(1, 16).state_dict(), tmp / "other.pth") or tmp / "other.pth",
         "does not fit the FID Inception-v3"),
        (lambda tmp: (tmp / "text.pth").write_text("not weights") and tmp / "text.pth", "not a weights-only state dict"),
    ],
    ids=["missing", "another network", "not a torch file"],
)
def test_bad_weights_files_are_refused_clearly(tmp_path, make, message):
    with pytest.raises(InputError, match="Fix: give the FID Inception-v3 state dict") as error:
        load_inception(make(tmp_path))
    assert message in str(error.value)


def test_the_evaluation_uses_inception_only_when_a_file_is_given(weights):
    images, labels = torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    sets = EvaluationSets(images, labels, images, labels, images, labels, ["CN", "AD"])
    without = build_context(sets, EvaluationOptions(), cache_dir=None)
    assert "inception" not in without.extractors and without.missing_extractors["inception"] == NO_INCEPTION
    assert "never downloads" in NO_INCEPTION
    with_file = build_context(sets, EvaluationOptions(inception_weights=str(weights)), cache_dir=None)
    assert with_file.features("inception", "real").shape == (4, 2048)
