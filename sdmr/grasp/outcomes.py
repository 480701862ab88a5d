"""How a trial ends, and a method's success rate with its 95 % Wilson interval.

success = the target and only the target came up. Failures, in the order a trial can fail:
``no_segment`` (the method returned no mask, raised, or no mask could be matched to the target),
``no_grasp`` (no suction point on the chosen mask), ``grasp_failed`` (the cup missed, did not
seal, or the object dropped) and ``wrong_object`` (something other than the target came up,
alone or with it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sdmr.grasp.execute import PickResult

OUTCOMES = ("success", "wrong_object", "no_grasp", "grasp_failed", "no_segment")
FAILURES = OUTCOMES[1:]
Z_95 = 1.959963984540054


def classify(target: int, pick: PickResult) -> str:
    """``success``, ``wrong_object`` or ``grasp_failed`` for an executed grasp on ``target``."""
    if pick.lifted == [target]:
        return "success"
    return "wrong_object" if pick.lifted else "grasp_failed"


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate: honest at 0 % and 100 % and for 50 trials, unlike ±1.96σ."""
    if trials <= 0:
        return 0.0, 1.0
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exactly 0 and 1 at the ends (no round-off)
    return low, 1.0 if successes == trials else min(1.0, centre + half)


def summarize(records: Iterable[dict], seconds: Iterable[float] = ()) -> dict:
    """Counts per outcome, the success rate and its interval, and mean seconds per trial."""
    records = list(records)
    counts = {name: sum(r["outcome"] == name for r in records) for name in OUTCOMES}
    n = len(records)
    low, high = wilson_interval(counts["success"], n)
    times = list(seconds)
    return {
        "trials": n,
        "outcomes": counts,
        "success_rate": counts["success"] / n if n else float("nan"),
        "ci95": [low, high],
        "seconds_per_trial": sum(times) / len(times) if times else float("nan"),
    }
