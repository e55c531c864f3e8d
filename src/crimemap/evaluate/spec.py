"""Which model, with which hyperparameters, a back-test runs.

A :class:`ModelSpec` names a registered forecaster (see
:func:`crimemap.forecast.models`) or one of the reference rows
(:data:`REFERENCE_MODELS`) together with its hyperparameters. On the command
line a spec is written ``name`` or ``name:key=value,key=value`` (values are
parsed as YAML scalars: ``3``, ``0.5``, ``true``, ``M``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from crimemap.errors import InputError

__all__ = ["ModelSpec", "REFERENCE_MODELS", "REFERENCE_LABELS"]

#: Reference rows of every back-test; they are not forecasts.
REFERENCE_MODELS: tuple[str, ...] = ("oracle", "hindsight")
REFERENCE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "oracle": "oracle (observed counts: the ceiling, not a forecast)",
        "hindsight": "hindsight (mean of every other period, incl. later ones: not a forecast)",
    }
)


@dataclass(frozen=True)
class ModelSpec:
    """A model name and its hyperparameters.

    Attributes
    ----------
    name : str
        Registry name, or ``oracle`` / ``hindsight``.
    params : mapping
        Keyword arguments of the model's ``__init__``.
    label : str
        Row label in reports (default: the name, plus the parameters if any).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    label: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("model spec needs a name")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if not self.label:
            args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
            object.__setattr__(self, "label", f"{self.name}:{args}" if args else self.name)

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy does not pickle (needed by back-test worker processes).
        return (type(self), (self.name, dict(self.params), self.label))

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``name`` or ``name:key=value,key=value``."""
        name, _, rest = text.strip().partition(":")
        params: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise InputError(f"model parameter {item!r} in {text!r} is not key=value")
            try:
                params[key.strip()] = yaml.safe_load(value.strip())
            except yaml.YAMLError as exc:
                raise InputError(f"model parameter {item!r}: {exc}") from exc
        return cls(name.strip(), params)

    @property
    def reference(self) -> bool:
        """True for the reference rows (oracle, hindsight)."""
        return self.name in REFERENCE_MODELS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "label": self.label, "params": dict(self.params)}
