"""Results of an engine run: trajectories of N runs as an array, or one run as a DataFrame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import CxError


@dataclass(frozen=True, eq=False)
class EngineResult:
    """Trajectories of ``n_runs`` runs at the saved times.

    Attributes:
        names: variable names, in the order of the first axis of ``values``.
        times: saved times (weeks), rounded as PySD rounds them.
        values: float array of shape (variables, times, runs).
    """

    names: list
    times: np.ndarray
    values: np.ndarray

    @property
    def n_runs(self) -> int:
        """Number of runs (parameter sets) in the result."""
        return int(self.values.shape[2])

    def to_frame(self, run: int = 0) -> pd.DataFrame:
        """One run as the DataFrame :func:`cxsystems.simulate` returns (index ``time``)."""
        if not -self.n_runs <= run < self.n_runs:
            raise CxError(f"run {run} is out of range: the result has {self.n_runs} runs")
        data = {name: self.values[j, :, run] for j, name in enumerate(self.names)}
        return pd.DataFrame(data, index=pd.Index(self.times, name="time"))

    def variable(self, name: str) -> np.ndarray:
        """Array (times, runs) of one variable."""
        try:
            j = self.names.index(name)
        except ValueError:
            raise CxError(f"variable {name!r} is not in this result") from None
        return self.values[j]

    def to_xarray(self):
        """The values as an ``xarray.DataArray`` with dims (variable, time, run)."""
        import xarray as xr

        return xr.DataArray(self.values, dims=("variable", "time", "run"),
                            coords={"variable": list(self.names), "time": self.times,
                                    "run": np.arange(self.n_runs)})
