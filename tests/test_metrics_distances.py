"""Distribution metrics on features whose answer is known: FD, KID, halves, the encoder."""

from __future__ import annotations

import pytest
import torch

from pacgan_lite.config import EncoderOptions, MetricOptions
from pacgan_lite.evaluation import figures
from pacgan_lite.metrics import EvaluationContext, EvaluationSets, compute_metrics, list_metrics
from pacgan_lite.metrics.distribution import frechet_distance, kernel_distance, matched_fakes, split_halves
from pacgan_lite.metrics.encoder import cache_key, load_or_train_encoder

pytestmark = pytest.mark.usefixtures("single_thread")


def gaussian(n: int, dim: int = 4, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


@pytest.mark.parametrize(
    ("real", "fake", "low", "high"),
    [
        (gaussian(500), gaussian(500), -1e-9, 1e-9),  # the same set: 0 up to rounding (either sign)
        (gaussian(500, seed=0), gaussian(500, seed=1), 0.0, 0.15),  # two samples of one law: small
        (gaussian(500), gaussian(500, shift=2.0, seed=1), 3.6 * 4 * 0.9, 4 * 4 * 1.1),  # mean shift 2 in 4 dims: 16
    ],
    ids=["identical", "same-law", "shifted"],
)
def test_frechet_distance(real, fake, low, high):
    assert low <= frechet_distance(real, fake) <= high


def test_kernel_distance_grows_with_the_shift():
    same = kernel_distance(gaussian(200), gaussian(200, seed=1), subset_size=50, subsets=20, seed=0)
    shifted = kernel_distance(gaussian(200), gaussian(200, shift=1.0, seed=1), subset_size=50, subsets=20, seed=0)
    assert abs(same["mean"]) < 0.05 < shifted["mean"]
    assert same["subset_size"] == 50 and same["std"] >= 0
    again = kernel_distance(gaussian(200), gaussian(200, seed=1), subset_size=50, subsets=20, seed=0)
    assert again == same  # the subsets are seeded


def test_halves_are_disjoint_stratified_and_fakes_match_their_classes():
    labels = torch.tensor([0] * 7 + [1] * 4)
    rng = __import__("numpy").random.default_rng(0)
    half_a, half_b = split_halves(labels, rng)
    assert set(half_a).isdisjoint(half_b) and len(half_a) + len(half_b) == 11
    assert (labels[half_a] == 0).sum() == 4 and (labels[half_b] == 0).sum() == 3
    fakes = matched_fakes(torch.tensor([0] * 10 + [1] * 10), labels[half_b], rng)
    assert sorted(torch.tensor([0] * 10 + [1] * 10)[fakes].tolist()) == sorted(labels[half_b].tolist())


def _context(real_shift: float = 0.0, fake_shift: float = 0.0) -> EvaluationContext:
    """Sets of 16 x 16 images; the 'domain' extractor is the mean brightness plus noise, as 4 features."""

    def images(n, shift, seed):
        base = torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) * 0.2 - 0.5
        return (base + shift).clamp(-1, 1)

    labels = torch.arange(2).repeat(20)
    sets = EvaluationSets(images(40, 0.0, 0), labels, images(40, real_shift, 1), labels, images(40, fake_shift, 2),
                          labels, ["CN", "AD"])
    context = EvaluationContext(sets, MetricOptions(kid_subset_size=8, kid_subsets=10))
    context.extractors["domain"] = lambda x: x.flatten(1)[:, :4] * 10
    return context


def test_distances_on_a_context_compare_halves_and_classes():
    near = compute_metrics(_context(), ["fd_domain", "kid_domain"])
    far = compute_metrics(_context(fake_shift=0.8), ["fd_domain", "kid_domain"])
    for result in (near, far):
        assert set(result["fd_domain"]["per_class"]) == {"CN", "AD"}
        assert result["fd_domain"]["overall"]["n_real_a"] == 20 and result["fd_domain"]["overall"]["n_fake"] == 20
    assert far["fd_domain"]["overall"]["real_fake"] > 10 * max(near["fd_domain"]["overall"]["real_fake"], 1e-3)
    assert far["kid_domain"]["overall"]["real_fake"]["mean"] > far["kid_domain"]["overall"]["real_real"]["mean"]
    assert near["kid_domain"]["overall"]["real_fake"]["subset_size"] == 8


def test_inception_metrics_say_why_they_are_skipped_and_unknown_names_are_refused():
    context = _context()
    context.missing_extractors["inception"] = "no local weights file"
    result = compute_metrics(context, ["fid_inception", "kid_inception"])
    assert result == {"fid_inception": {"skipped": "no local weights file"},
                      "kid_inception": {"skipped": "no local weights file"}}
    with pytest.raises(ValueError, match="fid: unknown metric"):
        compute_metrics(context, ["fid"])
    assert list_metrics()[:1] == ["classifier"] and "memorization" in list_metrics()


def test_domain_encoder_is_cached_by_data_and_options(tmp_path):
    images = torch.rand(24, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    options = EncoderOptions(steps=5, batch_size=8)
    first, record = load_or_train_encoder(images, tmp_path, options)
    second, record_again = load_or_train_encoder(images, tmp_path, options)
    assert not record["cached"] and record_again["cached"] and record["key"] == record_again["key"]
    torch.testing.assert_close(first(images[:3]), second(images[:3]))
    assert first(images[:3]).shape == (3, options.feature_dim)
    assert cache_key(images, options) != cache_key(images.flip(0), options)
    assert cache_key(images, options) != cache_key(images, EncoderOptions(steps=6, batch_size=8))
    assert len(list(tmp_path.glob("domain-encoder-*.pt"))) == 1


@pytest.mark.parametrize(
    ("n_real", "n_fake", "where", "reason"),
    [(3, 40, "overall", "4 or more held-out real images and 2 or more generated"),
     (40, 6, "per_class", "generated images to match the second real half")],
    ids=["too-few-real", "too-few-fakes"],
)
def test_distances_skip_rather_than_compare_unequal_or_tiny_sets(n_real, n_fake, where, reason):
    context = _context()
    sets = context.sets
    sets.real_images, sets.real_labels = sets.real_images[:n_real], sets.real_labels[:n_real]
    sets.fake_images, sets.fake_labels = sets.fake_images[:n_fake], sets.fake_labels[:n_fake]
    result = compute_metrics(context, ["fd_domain"])["fd_domain"]
    skipped = result.get("skipped") or result[where]["CN"]["skipped"]
    assert reason in skipped
    figures.distances_figure({"fd_domain": result})  # draws the reason instead of failing


def test_a_damaged_encoder_cache_is_trained_again(tmp_path):
    images = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    options = EncoderOptions(steps=3, batch_size=8)
    cache = tmp_path / f"domain-encoder-{cache_key(images, options)}.pt"
    cache.write_bytes(b"truncated")
    _, record = load_or_train_encoder(images, tmp_path, options)
    _, again = load_or_train_encoder(images, tmp_path, options)
    assert not record["cached"] and again["cached"]


def test_kid_of_two_whole_sets_reports_no_spread():
    context = _context()
    context.options = MetricOptions(kid_subset_size=50, kid_subsets=10)  # larger than the 20-image halves
    result = compute_metrics(context, ["kid_domain"])["kid_domain"]["overall"]
    assert result["real_real"]["std"] is None and result["real_real"]["subset_size"] == 20


@pytest.mark.parametrize(("draw", "message"), [
    (figures.distances_figure, "no distance was computed"),
    (figures.nearest_neighbours_figure, "no nearest-neighbour metric was computed"),
])
def test_a_figure_with_nothing_computed_says_so(draw, message):
    import matplotlib.pyplot as plt

    figure = draw({"fd_domain": {"skipped": "too few images"}})
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert message in texts and not any(ax.axison for ax in figure.axes)
    plt.close(figure)


@pytest.mark.parametrize("side", [4, 8, 64])
def test_the_domain_encoder_trains_and_encodes_at_every_side(tmp_path, side):
    images = torch.rand(12, 1, side, side, generator=torch.Generator().manual_seed(2)) * 2 - 1
    options = EncoderOptions(steps=2, batch_size=4)
    encoder, _ = load_or_train_encoder(images, tmp_path, options)
    assert encoder(images[:3]).shape == (3, options.feature_dim)

