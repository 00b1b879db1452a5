"""Benchmarks: `python -m bench [--only NAME]` (or `make bench`). Each entry measures against a stated target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    """One measured figure and, when it has one, its target (`higher` says which side passes)."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """Whether the target is met; None when there is no target."""
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value < self.target
