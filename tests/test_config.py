"""Profiles and overrides: layered, type-checked, never evaluated."""

from __future__ import annotations

import itertools

import pytest

from pacgan_lite.cohort import CohortParams
from pacgan_lite.config import (
    PROFILES,
    EncoderOptions,
    EvaluationOptions,
    KitConfig,
    MetricOptions,
    ModelOptions,
    TrainOptions,
    load_profile,
    path_options,
    profile_path,
    replace_options,
    validate_config,
)
from pacgan_lite.errors import ConfigError
from pacgan_lite.training.setup import schedule_for


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads(name):
    config = load_profile(name)
    assert isinstance(config, KitConfig) and config.profile == name
    assert config.to_dict()["cohort"]["size"] in (4, 8, 16, 32, 64, 128, 256)


def test_profiles_differ_where_they_should():
    smoke, teaching = load_profile("smoke"), load_profile("teaching")
    assert smoke.cohort.size < teaching.cohort.size == 256
    assert smoke.data.progress is False


@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        ({"cohort.n_subjects": 8}, ("cohort", "n_subjects"), 8),
        (["cohort.effect=0.5"], ("cohort", "effect"), 0.5),
        (["cohort.effect=1"], ("cohort", "effect"), 1.0),  # int accepted where a float is expected
        (["matching.enabled=false"], ("matching", "enabled"), False),
        (["data.source=/tmp/my data"], ("data", "source"), "/tmp/my data"),
        ({"split": {"seed": 7}}, ("split", "seed"), 7),
        # YAML 1.1 reads an exponent without a dot as text; the kit reads it as YAML 1.2 does, a float
        (["train.learning_rate=1e-5"], ("train", "learning_rate"), 1e-5),
        (["train.betas=[5E-1, 0.999]"], ("train", "betas"), (0.5, 0.999)),
        (["train.learning_rate=+2.5E-3"], ("train", "learning_rate"), 0.0025),
    ],
)
def test_overrides(overrides, path, expected):
    config = load_profile("smoke", overrides)
    section, key = path
    assert getattr(getattr(config, section), key) == expected


def test_override_text_is_never_evaluated():
    payload = "__import__('os').getcwd()"
    config = load_profile("smoke", [f"data.source={payload}"])
    assert config.data.source == payload


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cohort.n_subject=8"], "cohort.n_subject: unknown option. Fix: valid options here:"),
        (["colour.depth=8"], "colour: unknown option"),
        (["cohort.n_subjects=eight"], "cohort.n_subjects: expected int, got 'eight'"),
        (["cohort.n_subjects=8.5"], "expected int"),
        (["matching.enabled=1"], "matching.enabled: expected bool"),
        (["cohort=3"], "cohort: is a section"),
        (["cohort.size=48"], "cohort"),
        (["no-equals-sign"], "expected key=value"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", overrides)
    assert message in str(err.value)


def test_profile_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("cohort:\n  n_subjects: 10\n  sizes: 64\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: cohort.sizes: unknown option"):
        load_profile(bad)
    bad.write_text("cohort: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="no such profile"):
        load_profile("turbo")


def test_custom_profile_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("cohort:\n  n_subjects: 10\n")
    config = load_profile(path)
    assert config.profile == "mine" and config.cohort.n_subjects == 10


# ---------------------------------------------------------------------------------------------------- as a whole

ORDER_CASES = [
    ("teaching", ["train.epochs_per_stage=[30, 30, 30, 30]", "train.stages=4"]),
    ("smoke", ["train.stages=5", "train.epochs_per_stage=[1, 1, 1, 1, 1]", "train.batch_sizes=[8, 8, 8, 8, 8]",
               "train.critic_iterations=[1, 1, 1, 1, 2]", "model.channel_factors=[1, 1, 1, 1, 0.5]"]),
    ("smoke", ["train.final_mode=true", "train.selection_from=runs/validation"]),
    ("paper", ["cohort.size=16", "train.stages=3"]),
]


@pytest.mark.parametrize(("profile", "overrides"), ORDER_CASES)
def test_every_order_of_the_overrides_gives_the_same_config(profile, overrides):
    configs = {load_profile(profile, list(order)) for order in itertools.permutations(overrides)}
    assert len(configs) == 1


BAD_VALUES = [
    # overrides of the smoke profile (4 stages, 64 px cohort), the option named, the fix
    (["train.stages=5"], "train.epochs_per_stage", "give at least 5 entries (one per stage), or lower train.stages"),
    (["train.stages=0"], "train.stages", "choose 1 to 7 stages"),
    (["train.stages=8"], "train.stages", "choose 1 to 7 stages"),
    (["train.critic_iterations=[1, 0, 1, 1]"], "train.critic_iterations", "give 1 or more for each stage"),
    # leading stages may have 0 epochs (skipped: no progressive growing), later ones may not
    (["train.epochs_per_stage=[2, 0, 2, 2]"], "train.epochs_per_stage",
     "give stage 1 1 or more epochs; only leading stages may be 0 (e.g. [0, 0, 0, 0, 150] trains 4 -> 64 px"),
    (["train.epochs_per_stage=[0, 0, 0, 0, 2]"], "train.epochs_per_stage", "give the stages to train 1 or more"),
    (["train.epochs_per_stage=[0, -1, 2, 2]"], "train.epochs_per_stage", "give 0 (a skipped leading stage) or more"),
    (["model.channel_factors=[1, 1]"], "model.channel_factors", "give at least 4 factors (one per stage)"),
    (["train.final_mode=true"], "train.selection_from", "set it to the validation run's folder"),
    (["cohort.size=16"], "cohort.size", "raise it to 32 or more, or lower train.stages"),
    (["cohort.size=48"], "cohort.size", "choose one of 4, 8, 16, 32, 64, 128, 256"),
    (["cohort.n_subjects=1"], "cohort.n_subjects", "give at least 2 subjects"),
    (["train.device=gpu"], "train.device", "use auto, cpu, cuda or cuda:<index>"),
    (["train.precision=fp8"], "train.precision", "use one of auto, float32, bfloat16, float16"),
    (["train.selection_start=1.5"], "train.selection_start", "give the fraction of a stage's epochs"),
    (["train.fade_fraction=0"], "train.fade_fraction", "give a fraction of the stage above 0"),
    (["train.learning_rate=0"], "train.learning_rate", "give Adam's step size, above 0"),
    (["train.betas=[0.5]"], "train.betas", "give Adam's two decay rates"),
    (["train.loss.drift=-1"], "train.loss.drift", "give 0 (term off) or a positive weight"),
    (["train.eval_batch_size=0"], "train.eval_batch_size", "give 1 or more"),
    (["data.workers=-1"], "data.workers", "give 0 or more"),
    (["evaluation.held_out=train"], "evaluation.held_out", "use one of auto, val, test, population"),
    (["evaluation.population_subjects=10"], "evaluation.population_subjects", "give 20 or more"),
    (["evaluation.synthetic_per_class=1"], "evaluation.synthetic_per_class", "give 2 or more"),
    (["evaluation.metric.seed=-1"], "evaluation.metric.seed", "give 0 or more"),
    (["train.device=3"], "train.device", "give a str value"),
    (["matching.caliper_years=.nan"], "matching.caliper_years", "give the largest age difference of a matched pair"),
    (["matching.caliper_years=0"], "matching.caliper_years", "give the largest age difference of a matched pair"),
    (["matching.caliper_years=-1"], "matching.caliper_years", "give the largest age difference of a matched pair"),
    (["split.seed=-1"], "split.seed", "give 0 or more"),
    (["split.test_fraction=0"], "split.test_fraction", "use e.g. 0.2 (one fold of five)"),
    (["split.test_fraction=0.4"], "split.test_fraction", "use e.g. 0.2 (one fold of five)"),  # 2 folds: 0.5
    (["split.test_fraction=0.7"], "split.test_fraction", "use e.g. 0.2 (one fold of five)"),
    (["split.val_fraction=0.3"], "split.val_fraction", "use e.g. 0.2 (one fold of five) or 0"),  # 3 folds: 0.333
    (["split.val_fraction=0.9"], "split.val_fraction", "use e.g. 0.2 (one fold of five) or 0"),
    (["utility.minority_class=2"], "utility.minority_class", "give the label of the class made scarce"),
    (["utility.imbalance_ratio=0.004"], "utility.imbalance_ratio", "give the minority images per majority image"),
    (["utility.imbalance_ratio=0.996"], "utility.imbalance_ratio", "give the minority images per majority image"),
    (["evaluation.metric.kid_subset_size=1"], "evaluation.metric.kid_subset_size", "give 2 or more"),
    (["evaluation.metric.kid_subsets=0"], "evaluation.metric.kid_subsets", "give 1 or more"),
    (["evaluation.metric.ssim_pairs_per_class=0"], "evaluation.metric.ssim_pairs_per_class", "give 1 or more"),
    (["evaluation.metric.bootstrap_resamples=0"], "evaluation.metric.bootstrap_resamples", "give 10 or more"),
    (["evaluation.metric.nearest_neighbours=0"], "evaluation.metric.nearest_neighbours", "give 1 or more"),
    (["evaluation.metric.closest_pairs=0"], "evaluation.metric.closest_pairs", "give 1 or more"),
    (["evaluation.encoder.feature_dim=0"], "evaluation.encoder.feature_dim", "give 1 or more"),
    (["evaluation.encoder.width=0"], "evaluation.encoder.width", "give 1 or more"),
    (["evaluation.encoder.max_side=2"], "evaluation.encoder.max_side", "give e.g. 64"),
    (["evaluation.encoder.max_side=48"], "evaluation.encoder.max_side", "give e.g. 64"),
    (["evaluation.encoder.steps=0"], "evaluation.encoder.steps", "give 1 or more"),
    (["evaluation.encoder.batch_size=0"], "evaluation.encoder.batch_size", "give 1 or more"),
]


@pytest.mark.parametrize(("overrides", "option", "fix"), BAD_VALUES, ids=[case[1] for case in BAD_VALUES])
def test_a_bad_value_names_its_option_once_with_its_fix(overrides, option, fix):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", overrides)
    message = str(err.value)
    assert message.count(option) == 1, message
    assert f"{option}: " in message and f"Fix: {fix}" in message


@pytest.mark.parametrize(
    ("overrides", "source"),
    [
        (["cohort.size=48"], "override"),
        (["train.final_mode=true"], "override"),  # the option left at its default takes the one that needs it
        (["train.stages=5"], str(profile_path("smoke"))),  # the profile's 4-entry list is what falls short
    ],
)
def test_errors_name_the_source_of_the_option(overrides, source):
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", overrides)
    assert str(err.value).startswith(f"{source}: ")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (KitConfig(model=ModelOptions(channel_factors=(1.0, 1.0))), "options: model.channel_factors: has 2 entries"),
        (KitConfig(train=TrainOptions(stages="3")), "options: train.stages: expected int"),
        (KitConfig(train=TrainOptions(batch_sizes=(32, 32))), "options: train.batch_sizes: has 2 entries"),
        (KitConfig(train=TrainOptions(final_mode=True)), "options: train.selection_from: is not set"),
        (KitConfig(train=TrainOptions(stages=3, epochs_per_stage=(0, 0, 0, 0, 150, 100, 100))),
         r"options: train\.epochs_per_stage: trains no stage: all 3 entries are 0, got \[0, 0, 0\] \(the first 3 "
         r"entries: train\.stages = 3\)"),
        (KitConfig(evaluation=EvaluationOptions(metric=MetricOptions(seed=-2))), "options: evaluation.metric.seed"),
    ],
)
def test_a_config_built_in_python_is_checked_by_validate_config(config, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda known: load_profile("smoke", ["evaluation.metrics=[ssim, clasifier]"], known_metrics=known),
         "override: evaluation.metrics: unknown metric(s) 'clasifier'. Fix: use any of classifier, ssim, or leave "
         "it unset for all"),
        (lambda known: replace_options(EvaluationOptions(), {"metrics": ["fid"]}, "evaluation", "run.json",
                                       known_metrics=known), "run.json: evaluation.metrics: unknown metric(s) 'fid'"),
    ],
)
def test_metric_names_are_checked_against_the_names_given(call, message):
    with pytest.raises(ConfigError) as err:
        call(["classifier", "ssim"])
    assert str(err.value).startswith(message)


def test_named_sources_come_between_the_profile_and_the_overrides(tmp_path):
    reference = tmp_path / "config.json"
    config = load_profile("smoke", ["model.z_dim=16"], layers=[(reference, {"model.z_dim": 8, "model.aux_hidden": 4})])
    assert (config.model.z_dim, config.model.aux_hidden) == (16, 4)
    with pytest.raises(ConfigError) as err:
        load_profile("smoke", layers=[(reference, {"model.z_dim": 0})])
    assert str(err.value).startswith(f"{reference}: model.z_dim: must be at least 1")


def test_leading_stages_of_0_epochs_are_a_valid_schedule():
    config = load_profile("smoke", ["train.epochs_per_stage=[0, 0, 0, 8]"])
    assert config.train.epochs_per_stage == (0, 0, 0, 8)
    assert schedule_for(config.train).first_trained_stage == 3


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_passes_the_check(name):
    validate_config(load_profile(name))


# ---------------------------------------------------------------------------------------------------- evaluation


def test_the_evaluation_options_are_a_section_of_the_profile():
    config = load_profile("smoke", ["evaluation.metric.seed=3", "evaluation.metrics=[ssim]",
                                    "evaluation.encoder.steps=10"])
    assert config.evaluation.metric.seed == 3 and config.evaluation.metrics == ("ssim",)
    assert config.evaluation.encoder == EncoderOptions(steps=10)
    assert load_profile("teaching").evaluation == EvaluationOptions()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, EvaluationOptions()),
        ({"held_out": "test", "metric.seed": 2}, EvaluationOptions(held_out="test", metric=MetricOptions(seed=2))),
        ({"metrics": ["ssim", "classifier"]}, EvaluationOptions(metrics=("ssim", "classifier"))),
        ({"synthetic_per_class": 12, "inception_weights": "/w.pt"},
         EvaluationOptions(synthetic_per_class=12, inception_weights="/w.pt")),
    ],
)
def test_evaluation_options_apply_overrides(overrides, expected):
    assert replace_options(EvaluationOptions(), overrides, "evaluation") == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"held_out": "train"}, "override: evaluation.held_out: unknown split 'train'"),
        ({"metric.sed": 1}, "override: evaluation.metric.sed: unknown option"),
        ({"synthetic_per_class": "many"}, "override: evaluation.synthetic_per_class: expected int"),
        ({"metrics": "ssim"}, "override: evaluation.metrics: expected a list"),
    ],
)
def test_evaluation_options_check_overrides(overrides, message):
    with pytest.raises(ConfigError, match=message):
        replace_options(EvaluationOptions(), overrides, "evaluation")


def test_replace_options_names_a_cohort_option_once():
    assert replace_options(CohortParams(), {"size": 16}, "cohort") == CohortParams(size=16)
    with pytest.raises(ConfigError) as err:
        replace_options(CohortParams(), {"size": 48}, "cohort")
    assert str(err.value).count("size") == 1 and str(err.value).startswith("override: cohort.size: ")


def test_path_options_are_marked_in_the_dataclasses():
    assert path_options() == {"data.source": ("embedded",), "data.root": (), "train.selection_from": (),
                              "evaluation.inception_weights": ()}


def test_text_is_not_a_number_where_python_gives_the_value():
    with pytest.raises(ConfigError, match=r"train\.learning_rate: expected float, got '1e-5'"):
        load_profile("smoke", {"train.learning_rate": "1e-5"})
