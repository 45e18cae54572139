"""Robust statistics the rules share: median, MAD and a robust z-score with a count-data floor.

>>> median([3, 1, 2, 100])
2.5
>>> mad([1, 2, 3, 4, 100])
1.0
>>> round(robust_z(30, [8, 9, 7, 8]), 1)   # the Poisson floor sqrt(8) beats 1.4826 * MAD here
7.8
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAD_TO_SD = 1.4826  # MAD x 1.4826 estimates the standard deviation of a normal distribution


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of nothing")
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return float(s[mid]) if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    m = median(values)
    return median([abs(v - m) for v in values])


def robust_scale(values: Sequence[float], counts: bool = True) -> float:
    """1.4826 x MAD, floored: counts vary at least like a Poisson variable (sqrt of the median), and never
    less than 1, so a perfectly regular history cannot make a difference of one look infinite."""
    scale = MAD_TO_SD * mad(values)
    if counts:
        scale = max(scale, math.sqrt(max(median(values), 0.0)), 1.0)
    return scale


def robust_z(value: float, history: Sequence[float], counts: bool = True) -> float:
    return (value - median(history)) / robust_scale(history, counts)
