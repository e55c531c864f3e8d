"""Fixtures of the evaluate tests."""

from __future__ import annotations

import pytest

from crimemap.forecast import base as forecast_base

from ._synth import Recorder


@pytest.fixture(autouse=True)
def _registered_recorder(monkeypatch):
    """Register the recording test model for these tests only.

    Other tests that iterate over the registry never meet this test double.
    """
    monkeypatch.setitem(forecast_base._REGISTRY, Recorder.name, Recorder)
