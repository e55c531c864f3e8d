"""When the bias audit marks a result as a concern: thresholds and rules.

The thresholds were fixed before any force was audited and are documented
in ``docs/safeguards.md``. A concern is a prompt for human review, not proof
of unfairness: recorded crime is itself shaped by reporting and policing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from crimemap.safeguards.fairness import FairnessResult

__all__ = ["Concern", "Thresholds", "find_concerns"]


@dataclass(frozen=True)
class Thresholds:
    """When the report marks a result as a concern.

    Attributes
    ----------
    exposure_low, exposure_high : float
        A decile whose ``exposure_ratio`` (flag share / crime share) is
        outside ``[0.8, 1.25]`` is flagged out of proportion to its recorded
        crime (the four-fifths rule of US employment law, used symmetrically).
    parity_ratio : float
        A decile whose hit rate is below 0.8 x the overall hit rate gets
        less protection from the forecast than the rest.
    min_cells : int
        Deciles with fewer cells are not judged (too few to say).
    enforcement_share : float
        More than 10 % of the flagged forecast from police-initiated
        categories is a concern (the forecast partly tracks police activity).
    enforcement_overlap : float
        Flagged cells with and without police-initiated categories
        overlapping (Jaccard) below 0.8 is a concern.
    feedback_gap : float
        In the simulation, the mitigated model's mean recall of the true top
        cells exceeding the naive model's by more than 0.05 shows a feedback
        effect the product must keep mitigating; the mitigated model's own
        mean recall below ``feedback_recall`` is a concern.
    feedback_recall : float
    match_rate : float
        Fewer than 95 % of located incidents joined to IMD 2019 is a concern
        (the decile results may be biased).
    """

    exposure_low: float = 0.8
    exposure_high: float = 1.25
    parity_ratio: float = 0.8
    min_cells: int = 20
    enforcement_share: float = 0.10
    enforcement_overlap: float = 0.8
    feedback_gap: float = 0.05
    feedback_recall: float = 0.6
    match_rate: float = 0.95


@dataclass(frozen=True)
class Concern:
    """One result outside its threshold: ``kind``, ``subject``, ``value``, ``limit``, ``message``."""

    kind: str
    subject: str
    value: float
    limit: float
    message: str


def find_concerns(r: FairnessResult) -> list[Concern]:
    """Apply :class:`Thresholds` to a result."""
    th, t = r.thresholds, r.deciles
    out: list[Concern] = []
    if r.match.rate < th.match_rate:
        out.append(
            Concern(
                "data",
                "IMD join",
                r.match.rate,
                th.match_rate,
                f"only {r.match.rate:.1%} of located incidents joined to IMD 2019",
            )
        )
    # Headline: the two most deprived deciles together.
    fs, cs = float(np.nansum(t.flag_share[1:3])), float(np.nansum(t.crime_share[1:3]))
    if t.cells[1:3].sum() >= th.min_cells and cs > 0 and fs / cs > th.exposure_high:
        out.append(
            Concern(
                "exposure",
                "deciles 1-2",
                fs / cs,
                th.exposure_high,
                f"the two most deprived deciles get {fs:.0%} of the flags for {cs:.0%} "
                f"of recorded crime ({fs / cs:.2f}x)",
            )
        )
    for d in range(1, 11):
        if t.cells[d] < th.min_cells:
            continue
        e = t.exposure_ratio[d]
        if np.isfinite(e) and not th.exposure_low <= e <= th.exposure_high:
            way = "more" if e > th.exposure_high else "less"
            lim = th.exposure_high if e > th.exposure_high else th.exposure_low
            out.append(
                Concern(
                    "exposure",
                    f"decile {d}",
                    float(e),
                    lim,
                    f"decile {d} is flagged {e:.2f}x its share of recorded crime ({way} than its crime warrants)",
                )
            )
        h = t.hit_rate[d]
        if np.isfinite(h) and t.hit_rate_all > 0 and h < th.parity_ratio * t.hit_rate_all:
            out.append(
                Concern(
                    "parity",
                    f"decile {d}",
                    float(h / t.hit_rate_all),
                    th.parity_ratio,
                    f"the forecast catches {h:.0%} of decile {d}'s crime vs {t.hit_rate_all:.0%} overall",
                )
            )
    e = r.enforcement
    if e.applicable and e.share > th.enforcement_share:
        out.append(
            Concern(
                "enforcement",
                "police-initiated share",
                e.share,
                th.enforcement_share,
                f"{e.share:.0%} of the flagged forecast comes from police-initiated categories",
            )
        )
    if e.applicable and e.overlap < th.enforcement_overlap:
        out.append(
            Concern(
                "enforcement",
                "flag overlap",
                e.overlap,
                th.enforcement_overlap,
                f"dropping police-initiated categories changes the flagged cells (Jaccard {e.overlap:.2f})",
            )
        )
    for name, run in r.feedback.items():
        naive = float(run.recall["naive"].mean())
        best = max(float(run.recall[s].mean()) for s in run.recall if s != "naive")
        if best - naive > th.feedback_gap:
            out.append(
                Concern(
                    "feedback",
                    name,
                    best - naive,
                    th.feedback_gap,
                    f"without mitigation the model finds {naive:.0%} of the true top cells vs {best:.0%} with it",
                )
            )
        if best < th.feedback_recall:
            out.append(
                Concern(
                    "feedback",
                    f"{name} (mitigated)",
                    best,
                    th.feedback_recall,
                    f"even the mitigated model finds only {best:.0%} of the true top cells",
                )
            )
    return out
