"""Running aggregates over PM intervals: what the summary keeps instead of every batch.

A national network reports 15,000 cells every 15 minutes: kept batch by batch, a month is 2,880
batches of a dozen arrays each, gigabytes. Sums, minima and maxima are kept as running totals
(exact: the same additions in the same order as summing the stacked batches over time). A
percentile over intervals cannot be computed from a running total, so
:class:`NearestRankPercentile` keeps each resource's values exactly while they fit a fixed
budget and, past it, a histogram per resource whose error is bounded (docs/memory.md).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXACT_VALUES", "HISTOGRAM_BINS", "NearestRankPercentile"]

# 32 MiB of float64: a day of the national network's cells (15,000 x 96 = 1.44 M values) and
# a week of the regional one (900 x 672) are exact; a national month is not.
EXACT_VALUES = 4 * 1024 * 1024
# Bins over (0, 1) for a share (a utilisation); 0 and 1 and above have a bin each. A value is
# then known within half a bin, 0.0005; the histogram of 15,000 cells is 30 MiB (uint16).
HISTOGRAM_BINS = 1000
_CHUNK = 1024  # resources per step when reading the histogram, to bound its temporaries


class NearestRankPercentile:
    """The ``q``-th percentile by nearest rank (numpy's ``inverted_cdf``) of one value per
    interval, for each of ``resources``, in memory that does not grow with the intervals.

    Exact while ``intervals x resources`` stays within ``exact_values``: the values are kept
    and given to :func:`numpy.percentile`. Past that budget they are folded into a histogram per
    resource over a share's range: one bin for values at or below 0, ``bins`` equal bins over
    (0, 1), one for 1 and above. The percentile is then read as its bin's midpoint, clipped to the
    resource's exact minimum and maximum: within ``0.5 / bins`` of the exact value in (0, 1),
    exact when it is 0 or the values at or above 1 are all 1.

    >>> p = NearestRankPercentile(1, exact_values=0, bins=10)
    >>> for value in [0.0, 0.12, 0.5, 0.93]:
    ...     p.add(np.array([value]))
    >>> p.exact, p.value().tolist()  # 0.93 is in (0.9, 1.0): read as 0.95, clipped to the max
    (False, [0.93])
    """

    def __init__(
        self,
        resources: int,
        q: float = 95.0,
        *,
        exact_values: int = EXACT_VALUES,
        bins: int = HISTOGRAM_BINS,
    ) -> None:
        self.resources = resources
        self.q = q
        self.exact_values = exact_values
        self.bins = bins
        self.intervals = 0
        self._values: list[np.ndarray] = []
        self._counts: np.ndarray | None = None  # resources x (bins + 2), once past the budget
        self._min = np.full(resources, np.inf)
        self._max = np.full(resources, -np.inf)
        self._nan = np.zeros(resources, dtype=bool)

    @property
    def exact(self) -> bool:
        """True while the values are kept: the percentile is then numpy's, to the last bit."""
        return self._counts is None

    @property
    def nbytes(self) -> int:
        """Bytes of array data held."""
        held = sum(v.nbytes for v in self._values) + self._min.nbytes * 2 + self._nan.nbytes
        return held + (0 if self._counts is None else self._counts.nbytes)

    def add(self, values: np.ndarray) -> None:
        """Take one interval's values, one per resource."""
        values = np.asarray(values, dtype=float)
        self.intervals += 1
        np.fmin(self._min, values, out=self._min)
        np.fmax(self._max, values, out=self._max)
        self._nan |= np.isnan(values)
        if self._counts is None:
            self._values.append(values.copy())  # a copy: never keep a batch's arrays alive
            if self.intervals * self.resources > self.exact_values:
                self._fold()
        else:
            self._count(values)

    def _fold(self) -> None:
        self._counts = np.zeros((self.resources, self.bins + 2), dtype=np.uint16)
        kept, self._values = self._values, []
        for values in kept:
            self._count(values)

    def _count(self, values: np.ndarray) -> None:
        counts = self._counts
        assert counts is not None
        if self.intervals >= np.iinfo(counts.dtype).max:  # 65,535 intervals: 682 days of 15 min
            counts = self._counts = counts.astype(np.uint32)
        with np.errstate(invalid="ignore"):
            scaled = np.nan_to_num(values, nan=0.0) * self.bins
            index = np.clip(np.floor(scaled), 0, self.bins - 1).astype(np.int64) + 1
        index[values <= 0] = 0
        index[values >= 1] = self.bins + 1
        counts[np.arange(self.resources), index] += 1

    def value(self) -> np.ndarray:
        """Each resource's percentile (NaN for a resource with a NaN value, as numpy gives)."""
        if not self.intervals:
            return np.full(self.resources, np.nan)
        if self._counts is None:
            return np.asarray(
                np.percentile(np.stack(self._values), self.q, axis=0, method="inverted_cdf")
            )
        # the 0-based rank numpy's inverted_cdf takes among this many values
        rank = int(np.percentile(np.arange(self.intervals), self.q, method="inverted_cdf"))
        found = np.empty(self.resources, dtype=np.int64)
        for first in range(0, self.resources, _CHUNK):
            cumulative = np.cumsum(self._counts[first : first + _CHUNK], axis=1, dtype=np.int64)
            found[first : first + _CHUNK] = np.argmax(cumulative > rank, axis=1)
        middle = (found - 0.5) / self.bins
        middle[found == 0] = 0.0
        middle[found == self.bins + 1] = 1.0
        result = np.clip(middle, self._min, self._max)
        result[self._nan] = np.nan
        return result
