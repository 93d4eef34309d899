"""Generate the synthetic AD/CN cohort in parallel, and measure how separable its classes are."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from ..biomarkers import ventricle_area
from .fields import slice_fields
from .params import CohortParams
from .render import render_subject
from .subjects import SubjectPlan, plan_cohort

CLASS_NAMES = ["CN", "AD"]


@dataclass
class Cohort:
    """A generated cohort.

    Attributes:
        images: float32 [N, size, size] in [-1, 1]; image n is row n of ``labels`` (ID n).
        labels: ID (0..N-1), Label (0 = CN, 1 = AD), Subject_ID ("S0007"), Age (years at that
            session), Sex ("F"/"M"), Session (1, 2, ...). Rows are grouped by subject, sessions in order.
        truth: hidden ground truth per image, never to be used for training: ID, Subject_ID, Label,
            Session, Group ("healthy", "preclinical", "typical_ad", "atypical_ad"), Preclinical (CN
            with latent disease), Severity (latent severity at that session), a_vent_mm and a_cort_mm
            (atrophy amplitudes), z_offset_mm, the residual registration error (rot_*_deg, scale_*,
            shift_*_mm) and snr.
        class_names: ["CN", "AD"], indexed by Label.
        params: the parameters that generated it.
    """

    images: np.ndarray
    labels: pd.DataFrame
    truth: pd.DataFrame
    class_names: list[str]
    params: CohortParams


def make_cohort(params: CohortParams, workers: int | None = None, progress: bool = True) -> Cohort:
    """Render the cohort described by ``params``.

    The result depends only on ``params``, not on ``workers``: every subject and session draws from its
    own seeded generator. With more than one worker, subjects are rendered in "spawn" processes (safe
    when the parent has imported torch); scripts that call this must guard their entry point with
    ``if __name__ == "__main__":``. Each worker builds the template fields once.

    Args:
        params: cohort parameters.
        workers: number of processes (>= 1); None uses os.cpu_count(); 1 renders in this process.
        progress: show a tqdm progress bar (images rendered).

    Returns:
        The cohort; images float32 [N, size, size] with N = total number of sessions.
    """
    plans = plan_cohort(params)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 or None (all cores), got {workers!r}")
    workers = min(workers, len(plans))
    n_images = sum(len(plan.sessions) for plan in plans)
    results: list[np.ndarray | None] = [None] * len(plans)
    with tqdm(total=n_images, desc="cohort", unit="img", disable=not progress) as bar:
        if workers == 1:
            for index, plan in enumerate(plans):
                results[index] = render_subject(plan, params)
                bar.update(len(plan.sessions))
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=slice_fields, initargs=(float(params.slice_z_mm),)
            ) as pool:
                futures = {
                    pool.submit(render_subject, plan, params): index for index, plan in enumerate(plans)
                }
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(len(plans[futures[future]].sessions))
    images = np.concatenate(results).astype(np.float32, copy=False)
    labels, truth = cohort_tables(plans)
    return Cohort(images=images, labels=labels, truth=truth, class_names=list(CLASS_NAMES), params=params)


def cohort_tables(plans: list[SubjectPlan]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labels, truth) tables, one row per session in image order."""
    label_rows, truth_rows = [], []
    for plan in plans:
        subject = plan.subject
        for session in plan.sessions:
            image_id = len(label_rows)
            label_rows.append(
                {
                    "ID": image_id,
                    "Label": subject.label,
                    "Subject_ID": subject.subject_id,
                    "Age": round(session.age, 1),
                    "Sex": subject.sex,
                    "Session": session.session,
                }
            )
            truth_rows.append(
                {
                    "ID": image_id,
                    "Subject_ID": subject.subject_id,
                    "Label": subject.label,
                    "Session": session.session,
                    "Group": subject.group,
                    "Preclinical": subject.group == "preclinical",
                    "Severity": session.severity,
                    "a_vent_mm": session.a_vent_mm,
                    "a_cort_mm": session.a_cort_mm,
                    "z_offset_mm": subject.z_offset_mm,
                    **{
                        f"rot_{axis}_deg": value
                        for axis, value in zip("xyz", session.rotation_deg, strict=True)
                    },
                    **{f"scale_{axis}": value for axis, value in zip("xyz", session.scale, strict=True)},
                    **{
                        f"shift_{axis}_mm": value for axis, value in zip("xyz", session.shift_mm, strict=True)
                    },
                    "snr": session.snr,
                }
            )
    return pd.DataFrame(label_rows), pd.DataFrame(truth_rows)


def separability(cohort: Cohort) -> dict:
    """How well the classes separate, per image (ROC AUC with sklearn.metrics.roc_auc_score).

    Returns:
        {"oracle_auc": AUC of the hidden Severity vs Label (the ceiling for any classifier, since
        labels are noisy with respect to pathology), "ventricle_auc": AUC of ventricle_area(images)
        vs Label (a no-training image biomarker), "n_images": N, "n_subjects": number of subjects}.
    """
    truth = cohort.truth.set_index("ID").loc[cohort.labels["ID"]]
    label = cohort.labels["Label"].to_numpy()
    return {
        "oracle_auc": float(roc_auc_score(label, truth["Severity"].to_numpy())),
        "ventricle_auc": float(roc_auc_score(label, ventricle_area(cohort.images))),
        "n_images": len(label),
        "n_subjects": int(cohort.labels["Subject_ID"].nunique()),
    }
