"""Make models/data/acme_support_history.csv: SYNTHETIC weekly history of a fictional company.

"Acme" does not exist. Its two years (104 weeks) of history are cx_service (baseline scenario, the
model as bundled) run under the parameter values in TRUTH (different from the model's defaults),
observed once a week at weeks 1..104 with multiplicative (lognormal) measurement noise of the
sizes in NOISE, rounded as a support team's dashboard would show them, with about 3% of the cells
left empty (weeks a report was missed). Run it from the repository root::

    python models/data/make_acme_history.py

The same seed gives the same file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import cxsystems as cx
from cxsystems.engine import compile_model

SEED = 20240101
#: The "true" parameter values of Acme (the model's defaults in brackets).
TRUTH = {
    "Launch Problem Sources": 28.0,        # [20]
    "Hiring Delay": 11.0,                  # [8] weeks
    "Normal Handle Time": 0.23,            # [0.2] hours per ticket
    "Reference Problem Contact Rate": 0.12,  # [0.1] tickets per customer per week
    "Reference Churn Rate": 0.005,         # [0.004] per week
    "Normal Attrition Rate": 0.009,        # [0.0067] per week
}
#: Observed series and the sd of their multiplicative noise (log scale), and rounding digits.
NOISE = {"Contact Volume": (0.04, 0), "Ticket Backlog": (0.08, 0), "Wait Time": (0.10, 3), "Customers": (0.005, 0)}
#: Share of cells left empty.
GAPS = 0.03
WEEKS = np.arange(1, 105)


def make(seed: int = SEED) -> pd.DataFrame:
    model = cx.load_model("cx_service")
    run = compile_model(model).run(params=TRUTH, final_time=float(WEEKS[-1]), variables=list(NOISE))
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({"time": WEEKS})
    for name, (sd, digits) in NOISE.items():
        clean = np.interp(WEEKS, run.times, run.variable(name)[:, 0])
        noisy = clean * np.exp(sd * rng.standard_normal(WEEKS.size))
        noisy = np.round(noisy, digits)
        col = pd.Series(noisy if digits else noisy.astype("int64"), dtype="float64" if digits else "Int64")
        col[rng.random(WEEKS.size) < GAPS] = pd.NA
        out[name] = col
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("acme_support_history.csv")
    make().to_csv(path, index=False)
    print(f"wrote {path}")
