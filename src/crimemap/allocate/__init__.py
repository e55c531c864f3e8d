"""Directing resources: patrol plans, shift briefings, route risk and plan back-tests."""

from crimemap.allocate.plan import METHODS, PatrolArea, PatrolPlan, fairness_caps, plan_patrols

__all__ = [
    "METHODS",
    "PatrolArea",
    "PatrolPlan",
    "fairness_caps",
    "plan_patrols",
]
