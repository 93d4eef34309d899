"""The headline numbers of an evaluation as a table, and a short reading of them in plain words."""

from __future__ import annotations

import math

import pandas as pd


def _value(results: dict, *path: str):
    node = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def headline_table(record: dict) -> pd.DataFrame:
    """One row per headline number of an evaluation ``record`` (as written to its metrics file; missing or skipped metrics are left out)."""
    m = record["metrics"]
    rows = [
        ("critic AUC, real held-out", _value(m, "classifier", "auc")),
        ("critic AUC 95% CI low", (_value(m, "classifier", "auc_95ci") or [None, None])[0]),
        ("critic AUC 95% CI high", (_value(m, "classifier", "auc_95ci") or [None, None])[1]),
        ("critic balanced accuracy", _value(m, "classifier", "balanced_accuracy")),
        ("critic sensitivity", _value(m, "classifier", "sensitivity")),
        ("critic specificity", _value(m, "classifier", "specificity")),
        ("ceiling AUC (hidden severity)", _value(m, "class_fidelity", "ceiling_auc_from_hidden_severity")),
        ("FD_domain real-real", _value(m, "fd_domain", "overall", "real_real")),
        ("FD_domain real-fake", _value(m, "fd_domain", "overall", "real_fake")),
        ("KID_domain real-real", _value(m, "kid_domain", "overall", "real_real", "mean")),
        ("KID_domain real-fake", _value(m, "kid_domain", "overall", "real_fake", "mean")),
        ("FD_efficientnet real-real", _value(m, "fd_efficientnet", "overall", "real_real")),
        ("FD_efficientnet real-fake", _value(m, "fd_efficientnet", "overall", "real_fake")),
        ("FID (Inception) real-fake", _value(m, "fid_inception", "overall", "real_fake")),
        ("SSIM real-real", _value(m, "ssim", "real_real", "overall", "mean")),
        ("SSIM real-fake", _value(m, "ssim", "real_fake", "overall", "mean")),
        ("SSIM fake-fake", _value(m, "ssim", "fake_fake", "overall", "mean")),
        ("MS-SSIM among generated", _value(m, "ms_ssim_fake", "overall", "mean")),
        ("precision (domain)", _value(m, "precision_recall_domain", "overall", "precision")),
        ("recall (domain)", _value(m, "precision_recall_domain", "overall", "recall")),
        ("density (domain)", _value(m, "density_coverage_domain", "overall", "density")),
        ("coverage (domain)", _value(m, "density_coverage_domain", "overall", "coverage")),
        ("precision (EfficientNet)", _value(m, "precision_recall_efficientnet", "overall", "precision")),
        ("recall (EfficientNet)", _value(m, "precision_recall_efficientnet", "overall", "recall")),
        ("density (EfficientNet)", _value(m, "density_coverage_efficientnet", "overall", "density")),
        ("coverage (EfficientNet)", _value(m, "density_coverage_efficientnet", "overall", "coverage")),
        ("high-frequency power ratio, generated / real", _value(m, "power_spectrum", "high_frequency_ratio", "overall")),
        ("axis streak ratio, generated / real", _value(m, "power_spectrum", "axis_streak_ratio", "overall")),
        ("generated with tissue at the image border", _value(m, "margin", "touching_frame", "overall", "fake")),
        ("real with tissue at the image border", _value(m, "margin", "touching_frame", "overall", "real")),
        ("generated with a bright corner", _value(m, "margin", "bright_corner", "overall", "fake")),
        ("real with a bright corner", _value(m, "margin", "bright_corner", "overall", "real")),
        ("generated closer to training than any real (pixels)",
         _value(m, "memorization", "pixels_rms", "fraction_fake_closer_than_any_real")),
    ]
    for name, values in (_value(m, "class_fidelity", "per_class") or {}).items():
        rows.append((f"ventricle area {name}, real (mm²)", values["real_mean_mm2"]))
        rows.append((f"ventricle area {name}, generated (mm²)", values["fake_mean_mm2"]))
        rows.append((f"Cohen's d generated vs real, {name}", values["cohens_d_fake_vs_real"]))
    for contrast, value in (_value(m, "class_fidelity", "class_effect_ratio") or {}).items():
        rows.append((f"class-effect ratio {contrast}, generated / real d", value))
    for name, value in (_value(m, "class_fidelity", "spread_ratio_per_class") or {}).items():
        rows.append((f"spread ratio {name}, generated / real std", value))
    table = pd.DataFrame([(name, value) for name, value in rows if value is not None], columns=["metric", "value"])
    return table.set_index("metric")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _fidelity_ratio_lines(m: dict) -> list[str]:
    """The class-effect and spread ratios of the biomarker against their targets."""
    fidelity = _value(m, "class_fidelity")
    if not fidelity or "class_effect_ratio" not in fidelity:
        return []
    reference = fidelity["real_reference_images"]
    where = " and ".join(f"{count} {name}" for name, count in reference["sets"].items())
    low, high = fidelity["targets"]["class_effect_ratio"]
    lines = []
    for contrast, value in fidelity["class_effect_ratio"].items():
        if not _is_number(value):
            continue
        verdict = "within" if low <= value <= high else "outside"
        fake_d, real_d = (fidelity["class_effect_cohens_d"][contrast]["fake"],
                          fidelity["class_effect_cohens_d_real_reference"][contrast])
        lines.append(f"The generated class effect ({contrast}, ventricle area) is {value:.2f} times the real one "
                     f"(d = {fake_d:.2f} against {real_d:.2f} in all {reference['n']} real images: {where}); "
                     f"{verdict} the target of {low:g} to {high:g}.")
    spreads = {name: value for name, value in fidelity["spread_ratio_per_class"].items() if _is_number(value)}
    if spreads:
        floor = fidelity["targets"]["spread_ratio_at_least"]
        below = [name for name, value in spreads.items() if value < floor]
        listed = ", ".join(f"{name} {value:.2f}" for name, value in spreads.items())
        lines.append(f"Within a class, generated ventricle areas spread {listed} times as much as real ones "
                     f"(target at least {floor:g}): "
                     + (f"too little variety in {', '.join(below)}." if below else "the variety is reproduced."))
    return lines


def plain_reading(record: dict) -> str:
    """A few sentences saying what the numbers of an evaluation ``record`` mean for this run."""
    m, lines = record["metrics"], []
    auc = _value(m, "classifier", "auc")
    if auc is not None and not math.isnan(auc):
        low, high = m["classifier"]["auc_95ci"]
        lines.append(f"The critic, used as a classifier on {m['classifier']['n_images']} real {record['held_out']} "
                     f"images, reaches an AUC of {auc:.2f} (95% interval {low:.2f} to {high:.2f}); 0.5 is chance, "
                     "the paper reports 0.813 on ADNI. With few images the interval is wide: read it before the AUC.")
        ceiling = _value(m, "class_fidelity", "ceiling_auc_from_hidden_severity")
        if ceiling is not None:
            lines.append(f"The hidden disease severity of the same images separates the labels with an AUC of "
                         f"{ceiling:.2f}: no classifier can be expected to do better on them.")
    for metric, space, name in (("fd_domain", "the domain encoder's", "FD_domain"),
                                ("fd_efficientnet", "the ImageNet EfficientNet-Lite0's", "FD_efficientnet")):
        fd = _value(m, metric, "overall")
        if fd and "skipped" not in fd:
            ratio = fd["real_fake"] / max(fd["real_real"], 1e-12)
            lines.append(f"In {space} features, generated images are {ratio:.1f} times as far from real ones "
                         f"({name} {fd['real_fake']:.3g}) as two halves of the real images are from each other "
                         f"({fd['real_real']:.3g}); 1 would mean indistinguishable sets.")
    ssim = _value(m, "ssim")
    if ssim and "skipped" not in ssim:
        rr, ff = ssim["real_real"]["overall"]["mean"], ssim["fake_fake"]["overall"]["mean"]
        lines.append(f"Two generated images of a class are {'more' if ff > rr else 'less'} alike (SSIM {ff:.2f}) "
                     f"than two real ones ({rr:.2f}); much more alike would mean too little variety.")
    fidelity = _value(m, "class_fidelity", "class_effect_cohens_d")
    if fidelity:
        for contrast, effect in fidelity.items():
            lines.append(f"Ventricle area, {contrast}: effect size d = {effect['real']:.2f} in real and "
                         f"{effect['fake']:.2f} in generated images; a generator that learned the class "
                         "difference shows a similar effect.")
    lines += _fidelity_ratio_lines(m)
    coverage = _value(m, "density_coverage_domain", "overall")
    if coverage and "skipped" not in coverage:
        lines.append(f"Coverage: {100 * coverage['coverage']:.0f}% of the real held-out images have a generated image "
                     "among their nearest neighbours (domain features); two samples of one distribution would give "
                     f"about {100 * coverage['coverage_expected_for_one_distribution']:.0f}%. Density "
                     f"{coverage['density']:.2f}: about 1 when generated images are spread as the real ones are, "
                     "above 1 when they crowd into the commonest look.")
    spectrum = _value(m, "power_spectrum")
    if spectrum and "skipped" not in spectrum and _is_number(spectrum["high_frequency_ratio"]["overall"]):
        low = spectrum["high_frequency_band_cycles_per_pixel"][0]
        lines.append(f"At the finest detail (spatial frequencies above {low:g} cycles per pixel) generated images "
                     f"carry {spectrum['high_frequency_ratio']['overall']:.2f} times the power of real ones: well "
                     "above 1 points to up-sampling grid patterns or noise, well below 1 to images smoother than "
                     "real slices.")
        if _is_number(spectrum.get("axis_streak_ratio", {}).get("overall")):
            lines.append(f"Of that fine detail, generated images put {spectrum['axis_streak_ratio']['overall']:.2f} "
                         "times the real share on the horizontal and vertical frequencies: about 1 as real slices, "
                         "well above 1 for row and column streaks, the grid pattern of up-sampling.")
    margin = _value(m, "margin")
    if margin and "skipped" not in margin and _is_number(margin["touching_frame"]["overall"]["fake"]):
        frame, corner = margin["touching_frame"]["overall"], margin["bright_corner"]["overall"]
        lines.append(f"{100 * frame['fake']:.0f}% of the generated images have tissue in the outer "
                     f"{margin['frame_pixels']}-pixel frame and {100 * corner['fake']:.0f}% a bright pixel in a "
                     f"corner (real: {100 * frame['real']:.0f}% and {100 * corner['real']:.0f}%): heads cut by the "
                     "image border, and specks that zero-padded convolutions leave where they meet the border.")
    pixels = _value(m, "memorization", "pixels_rms")
    if pixels is not None:
        lines.append(f"{100 * pixels['fraction_fake_closer_than_any_real']:.1f}% of generated images are closer to a "
                     "training image than any real held-out image is: near 0 means no sign of copying. The closest "
                     f"generated image differs from its nearest training image by {pixels['fake_min']:.3f} (RMS), the "
                     f"closest real one by {pixels['real_min']:.3f}; a copy would be near 0.")
        if ssim and "skipped" not in ssim and ff > rr + 0.2:
            lines.append("Generated images this much alike sit near the average training image, which brings them "
                         "close to many training images without copying any: look at the closest pairs before "
                         "reading the fraction as memorization.")
    return "\n".join(lines)

