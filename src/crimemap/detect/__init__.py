"""Detect and track: hotspot statistics, concentration, emerging hotspots, near repeats."""

from crimemap.detect.harm import HARM_SOURCE, aggregate_weights, harm_weights

__all__ = ["HARM_SOURCE", "aggregate_weights", "harm_weights"]
