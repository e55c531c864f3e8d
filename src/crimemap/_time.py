"""Typed helpers for NumPy datetimes (one place for the stub workarounds)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dt64"]


def dt64(value: Any, unit: str = "s") -> np.datetime64:
    """``value`` (str, datetime, datetime64) as ``numpy.datetime64`` in ``unit``."""
    return np.datetime64(value, unit)  # type: ignore[call-overload]
