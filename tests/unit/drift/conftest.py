"""Fixtures of the drift-suite tests: synthetic reference/current frames and fast suite configurations."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import DriftConfig

FrameFactory = Callable[..., pd.DataFrame]


@pytest.fixture(scope="session")
def make_frame() -> FrameFactory:
    """Numeric columns x0..x{k-1} ~ N(0, 1) (x0 shifted by `shift` sd) and a categorical column `plan`."""

    def make(
        n: int,
        *,
        seed: int,
        shift: float = 0.0,
        n_numeric: int = 3,
        categories: Sequence[str] = ("basic", "pro", "team"),
        probabilities: Sequence[float] = (0.5, 0.3, 0.2),
    ) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        columns: dict[str, object] = {f"x{i}": rng.normal(size=n) for i in range(n_numeric)}
        columns["x0"] = np.asarray(columns["x0"]) + shift
        columns["plan"] = pd.array(rng.choice(np.asarray(categories), size=n, p=np.asarray(probabilities)), dtype="str")
        return pd.DataFrame(columns)

    return make


@pytest.fixture(scope="session")
def univariate_config() -> DriftConfig:
    """The default configuration without the domain classifier (fast per-feature tests)."""
    return DriftConfig(multivariate=False)
