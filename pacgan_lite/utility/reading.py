"""The study's result in plain words, computed from its record (never written by hand)."""

from __future__ import annotations

import math

from ..metrics.fidelity import CLASS_EFFECT_RATIO_TARGET, SPREAD_RATIO_TARGET
from .report import CANNOT_TELL, HELPS, HURTS
from .settings import CRITIC_FINAL, CRITIC_VALIDATION, OVERSAMPLING_REMEDY, REFERENCE, SYNTHETIC_REMEDY


def _auc(row: dict) -> str:
    return f"{row['auc']:.3f} (95% CI {row['auc_low']:.3f}-{row['auc_high']:.3f})"


def _difference(row: dict) -> str:
    return f"{row['difference']:+.3f} ({row['difference_low']:+.3f} to {row['difference_high']:+.3f})"


def _fidelity_sentence(fidelity: dict | None) -> str:
    if fidelity is None:
        return ("The generator's fidelity is not known here: evaluate the run first (pacgan-lite evaluate, or "
                "notebook 03) to relate these numbers to its coverage and class-effect ratio.")
    parts = []
    effect = next(iter((fidelity.get("class_effect_ratio") or {}).values()), None)
    if effect is not None and math.isfinite(effect):
        low, high = CLASS_EFFECT_RATIO_TARGET
        verdict = "within" if low <= effect <= high else "outside"
        parts.append(f"its class-effect ratio is {effect:.2f} ({verdict} the target {low:g}-{high:g}: "
                     + ("the generated class difference is exaggerated" if effect > high else
                        "the generated class difference is too weak" if effect < low else "about the real size")
                     + ")")
    spreads = fidelity.get("spread_ratio_per_class") or {}
    low_spread = [name for name, value in spreads.items() if value is not None and value < SPREAD_RATIO_TARGET]
    if spreads:
        parts.append("its within-class spread is below half the real one in " + ", ".join(low_spread)
                     if low_spread else "its within-class spread is at least half the real one")
    coverage = fidelity.get("coverage_domain")
    if coverage is not None:
        parts.append(f"its images cover {coverage:.0%} of the real images' neighbourhoods (a second real sample: "
                     f"{fidelity['coverage_expected_for_one_distribution']:.0%})")
    return (f"The generator (evaluated at {fidelity['evaluated_at_px']} px on the {fidelity['held_out']} images): "
            + "; ".join(parts) + ".") if parts else ""


def plain_reading(record: dict) -> str:
    """A few sentences on what the study found: each group against the real training images, the critic
    against the plain classifier, the ceiling and the generator's fidelity."""
    summary = {row["setting"]: row for row in record["summary"]}
    comparisons = {row["setting"]: row for row in record["comparisons"]}
    reference = summary[REFERENCE]
    lines = [f"Trained on the real images, the classifier reaches AUC {_auc(reference)} on "
             f"{record['n_images']['test']} real test images, mean of {reference['n_seeds']} seeds "
             f"(seed spread {reference['auc_seed_min']:.3f}-{reference['auc_seed_max']:.3f})."]
    top = record.get("ceiling_from_hidden_severity")
    if top:
        lines.append(f"The hidden severity, the best any classifier of these labels can do, gives {top['auc']:.3f} "
                     f"on the same images: the real-image classifier is {top['auc'] - reference['auc']:.3f} below it.")
    verdicts = {HELPS: [], HURTS: [], CANNOT_TELL: []}
    for name, row in comparisons.items():
        if name not in (CRITIC_FINAL, CRITIC_VALIDATION):
            verdicts[row["reading"]].append(f"{name} {_difference(row)}")
    lines.append("Each setting against the real training images (AUC difference, 95% CI): " + " ".join(
        f"{verdict}: {'; '.join(verdicts[verdict])}." for verdict in (HELPS, HURTS, CANNOT_TELL) if verdicts[verdict]))
    remedies = record.get("synthetic_vs_oversampling")
    if remedies:
        alone, synthetic, oversampled = (summary[name] for name in ("imbalanced", SYNTHETIC_REMEDY, OVERSAMPLING_REMEDY))
        lines.append(f"With one minority image for every {1 / record['options']['imbalance_ratio']:g} of the other "
                     f"class, the classifier reaches {alone['auc']:.3f}; synthetic minority images bring it to "
                     f"{synthetic['auc']:.3f}, oversampling with augmentation to {oversampled['auc']:.3f} (balanced "
                     f"accuracy {alone['balanced_accuracy']:.3f} / {synthetic['balanced_accuracy']:.3f} / "
                     f"{oversampled['balanced_accuracy']:.3f}). Synthetic against oversampling: "
                     f"{_difference(remedies)}, "
                     + {HELPS: "synthetic images do better than the classical remedy.",
                        HURTS: "synthetic images do worse than the classical remedy.",
                        CANNOT_TELL: "cannot tell which remedy is better."}[remedies["reading"]])
    if CRITIC_FINAL in summary:
        critic = comparisons[CRITIC_FINAL]
        lines.append(f"The critic of the final-protocol run, the paper's classifier, reaches AUC "
                     f"{_auc(summary[CRITIC_FINAL])} against the plain classifier's {reference['auc']:.3f}: "
                     f"difference {_difference(critic)}, {critic['reading']}"
                     + {HELPS: " (the critic is better).", HURTS: " (the plain classifier is better).",
                        CANNOT_TELL: "."}[critic["reading"]]
                     + f" The validation run's critic (training images only) reaches {summary[CRITIC_VALIDATION]['auc']:.3f}.")
    fidelity = _fidelity_sentence(record.get("fidelity"))
    if fidelity:
        lines.append(fidelity)
    return "\n".join(lines)
