"""Detect and track: hotspot statistics, concentration, emerging hotspots, near repeats."""

from crimemap.detect.fdr import fdr_bh
from crimemap.detect.gistar import GiStarResult, gi_star, gi_star_z
from crimemap.detect.harm import HARM_SOURCE, aggregate_weights, harm_weights
from crimemap.detect.lisa import LISA_LABELS, LisaResult, local_moran

__all__ = [
    "HARM_SOURCE",
    "LISA_LABELS",
    "GiStarResult",
    "LisaResult",
    "aggregate_weights",
    "fdr_bh",
    "gi_star",
    "gi_star_z",
    "harm_weights",
    "local_moran",
]
