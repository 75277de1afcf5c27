"""Bulk traffic: voice as an Erlang loss system per cell, data as shared cell and link capacity.

The kernel advances every cell at once between control events; no call is a SimPy process.

*Arrivals* are drawn once per fixed segment of time (the PM interval cut at hour boundaries,
so the daily profile is constant inside it), for all cells together, from the traffic stream.
Control events (faults, surges) only split the processing of a segment, never its drawing, so
adding an event does not change the traffic draws. Surges add extra arrivals drawn from their
own stream (``surge_rng(k)``), so a surge changes no other draw either. Subscribers are
chosen per call, uniformly among those homed on the cell.

*Voice* is exact for a loss system: each cell keeps the end times of the calls on its channels
(a row of ``slot_end``); an arrival is carried if the earliest-ending channel is free at its
time, else blocked and cleared. The decisions are made by a loop over the cells and their
arrivals, compiled by numba for a large network (:mod:`sim.kernels`).

*Data* is a flow-level (fluid) model of processor sharing. Over a segment a cell serves
``min(demand, capacity)``, every active session getting the same share. The links are shared
per *route epoch*: the part of the segment between two changes of routes or link states, with
each link's capacity over that part only, so no link ever carries more than its capacity times
the time it was in service. Within an epoch the links are shared max-min fairly, weighted by
demand (progressive filling): the towers behind the tightest link all get the same fraction
of their demand, and what a tower held back there does not take is left to the others on its
other links. Unserved demand is counted, not queued.

*Cost* follows what changed (docs/scaling.md). Voice is independent per cell, so it is
simulated lazily, per cell: a change of state catches up only the cells it touches, up to the
change, and every other cell is simulated once, at the segment's end. The sums are still taken
piece by piece between the changes (the *cuts*), one sum per cell and piece added in time
order, so every float is the one the simpler schedule (all cells at every change) gives. A
subscriber's usage is added for those who called, not over the whole subscriber base.

Accounting is exact across interval boundaries: a carried call is credited in full when it is
admitted, and at each PM or usage boundary the part of every call still in progress is moved to
the next interval; a dropped call gives back what it did not get to speak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.kernels import compiled_kernel, erlang_loss, sort_cell_major
from twin.feed import CELL_EVENT_COUNTERS

__all__ = [
    "IntervalCounters",
    "SubscriberBase",
    "Surge",
    "TrafficKernel",
    "TrafficParams",
    "max_min_shares",
]

YEAR_S = 365.25 * 86400.0


@dataclass(frozen=True)
class TrafficParams:
    busy_hour_calls: float  # per subscriber in the busy hour, at profile 1.0
    mean_call_s: float
    busy_hour_sessions: float
    mean_session_mb: float
    daily_profile: tuple[float, ...]  # 24 values, hours of the UTC day
    growth_per_year: float
    start_of_day_s: float  # seconds past UTC midnight at t = 0


@dataclass(frozen=True)
class Surge:
    cells: np.ndarray  # cell indices
    factor: float
    start_s: float
    end_s: float
    rng: np.random.Generator  # its own stream, so that a surge changes no other draw
    key: tuple[int, ...] = ()  # orders overlapping surges the same way whatever the event list


class SubscriberBase:
    """Where subscribers are homed: a cell (of their tower) and a product, growable."""

    def __init__(self, cell: np.ndarray, product: np.ndarray, n_cells: int):
        self.n_cells = n_cells
        self._cell = np.asarray(cell, dtype=np.int64)
        self._product = np.asarray(product, dtype=np.int64)
        self._count = len(self._cell)
        # A released subscriber keeps its place in the draws (cell_count, pick) so that no
        # other subscriber's draw moves; its arrivals are dropped before anyone counts them.
        self._released = np.zeros(len(self._cell), dtype=bool)
        self._released_per_cell = np.zeros(n_cells, dtype=np.int64)
        self._index()

    def _index(self) -> None:
        # Rebuilt lazily after additions: an order for 150 subscriptions re-sorts once, not 150
        # times.
        cell = self._cell[: self._count]
        self._by_cell = np.argsort(cell, kind="stable")
        self._cell_count = np.bincount(cell, minlength=self.n_cells)
        self._cell_first = np.concatenate([[0], np.cumsum(self._cell_count)[:-1]])
        self._dirty = False

    @property
    def cell_count(self) -> np.ndarray:
        """Subscribers homed on each cell (kept up to date by :meth:`add`, no re-sort)."""
        return self._cell_count

    @property
    def active_cell_count(self) -> np.ndarray:
        """Subscribers homed on each cell and not released: what a tower's limit counts."""
        return self.cell_count - self._released_per_cell

    @property
    def any_released(self) -> bool:
        return bool(self._released_per_cell.any())

    @property
    def released(self) -> np.ndarray:
        """Whether each subscriber was released."""
        return self._released[: self._count]

    def release(self, index: int) -> bool:
        """Release one subscriber; False if it was released already (nothing changes)."""
        if self._released[index]:
            return False
        self._released[index] = True
        self._released_per_cell[self._cell[index]] += 1
        return True

    @property
    def count(self) -> int:
        return self._count

    @property
    def cell(self) -> np.ndarray:
        return self._cell[: self._count]

    @property
    def product(self) -> np.ndarray:
        return self._product[: self._count]

    def add(self, cell: int, product: int) -> int:
        """Home one more subscriber on a cell; return its index."""
        if self._count == len(self._cell):
            grow = max(16, len(self._cell) // 2)
            self._cell = np.concatenate([self._cell, np.zeros(grow, np.int64)])
            self._product = np.concatenate([self._product, np.zeros(grow, np.int64)])
            self._released = np.concatenate([self._released, np.zeros(grow, dtype=bool)])
        self._cell[self._count] = cell
        self._product[self._count] = product
        self._count += 1
        # The count is kept exact here, so that admission control (which reads it once per
        # subscription) never re-sorts; the sorted index is rebuilt when traffic next picks.
        self._cell_count[cell] += 1
        self._dirty = True
        return self._count - 1

    def pick(self, cells: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """Return one subscriber per entry of ``cells``, chosen by ``uniform`` in [0, 1)."""
        if self._dirty:
            self._index()
        fused = compiled_kernel("pick_subscribers", len(cells))
        if fused is not None:  # the same picks in one pass (sim.compiled)
            picked = fused(self._by_cell, self._cell_first, self.cell_count, cells, uniform)
            return np.asarray(picked)
        offset = (uniform * self.cell_count[cells]).astype(np.int64)
        return np.asarray(self._by_cell[self._cell_first[cells] + offset])


@dataclass
class IntervalCounters:
    """Per-cell and per-link counters accumulated over one PM interval."""

    voice_offered: np.ndarray
    voice_carried: np.ndarray
    voice_blocked: np.ndarray
    voice_failed: np.ndarray
    voice_dropped: np.ndarray
    offered_es: np.ndarray  # erlang-seconds
    carried_es: np.ndarray
    data_sessions: np.ndarray
    data_demand_mb: np.ndarray
    data_served_mb: np.ndarray
    seconds_in_service: np.ndarray
    link_demand_mb: np.ndarray
    link_carried_mb: np.ndarray
    link_seconds_in_service: np.ndarray

    @classmethod
    def zeros(cls, n_cells: int, n_links: int) -> IntervalCounters:
        integer = set(CELL_EVENT_COUNTERS)
        arrays = {
            name: np.zeros(
                n_links if name.startswith("link_") else n_cells,
                np.int64 if name in integer else np.float64,
            )
            for name in cls.__dataclass_fields__
        }
        return cls(**arrays)


class TrafficKernel:
    """Advances all cells' voice and data traffic between control events."""

    def __init__(
        self,
        params: TrafficParams,
        voice_channels: np.ndarray,
        data_mbps: np.ndarray,
        cell_tower: np.ndarray,
        link_capacity_mbps: np.ndarray,
        subscribers: SubscriberBase,
        rng: np.random.Generator,
        segment_s: float,
        usage_s: float = 0.0,
    ):
        self.params = params
        self.n_cells = len(voice_channels)
        self.n_links = len(link_capacity_mbps)
        self.cell_tower = np.asarray(cell_tower)
        self.n_towers = int(self.cell_tower.max()) + 1 if self.n_cells else 0
        self.data_mbps = np.asarray(data_mbps, dtype=float)
        self.link_capacity_mbps = np.asarray(link_capacity_mbps, dtype=float)
        self.subscribers = subscribers
        self.rng = rng
        self.segment_s = segment_s
        self.usage_s = usage_s  # usage periods run from t = 0; 0 for none
        self.now = 0.0
        max_channels = int(voice_channels.max()) if self.n_cells else 1
        slots = np.arange(max_channels)[None, :]
        # Slots past a cell's channel count never end: they are never free.
        self.slot_end = np.where(slots < voice_channels[:, None], 0.0, np.inf)
        self.slot_sub = np.full((self.n_cells, max_channels), -1, dtype=np.int64)
        self.in_service = np.ones(self.n_cells, dtype=bool)
        # Injected anomalies (sim.anomalies): a sleeping cell's arrivals are dropped uncounted;
        # degraded capacity is the nominal one times these factors.
        self.asleep = np.zeros(self.n_cells, dtype=bool)
        self.data_factor = np.ones(self.n_cells)
        self.link_factor = np.ones(self.n_links)
        self.link_in_service = np.ones(self.n_links, dtype=bool)
        self.tower_links = np.full((self.n_towers, 1), -1, dtype=np.int64)
        self._routes_version = 0
        self.surges: list[Surge] = []
        self.counters = IntervalCounters.zeros(self.n_cells, self.n_links)
        self.usage_voice_s = np.zeros(subscribers.count)
        self.usage_data_mb = np.zeros(subscribers.count)
        self._scratch = np.zeros(subscribers.count)  # all zero between uses (_add_by_subscriber)
        self._pending = np.zeros(subscribers.count, dtype=bool)  # all False between uses
        self._segment_end = 0.0
        self._voice: _Arrivals | None = None
        self._data: _Arrivals | None = None
        self._window = _DataWindow.empty(self.n_cells)
        # Voice is processed per cell lazily (_catch_up_voice): up to _voice_done[c] for cell c;
        # _cuts are the times in the segment where the network changed (the pieces' ends).
        self._voice_done = np.zeros(self.n_cells)
        self._voice_first: np.ndarray | None = None  # per cell, where its arrivals start
        self._cuts: list[float] = []
        # the routes table of the last route epoch served, flattened (kept while routes stay)
        self._on_route: tuple[np.ndarray, _OnRoute] | None = None

    # --- state set by the engine ------------------------------------------------------------

    def set_routes(self, tower_links: np.ndarray, link_in_service: np.ndarray) -> None:
        """Set every tower's route and which links are in service from now on.

        Keeps copies (the caller may update its routes in place), and starts a new route epoch
        for data only when something really changed, so that a state change that moves no route
        does not split how the links are shared.
        """
        if np.array_equal(tower_links, self.tower_links) and np.array_equal(
            link_in_service, self.link_in_service
        ):
            return
        self.tower_links = np.array(tower_links)
        self.link_in_service = np.array(link_in_service, dtype=bool)
        self._routes_version += 1

    def set_in_service(self, in_service: np.ndarray) -> np.ndarray:
        """Set which cells are in service now; drop the calls on cells that leave service.

        Returns the number of calls dropped per cell.
        """
        self._catch_up_voice(np.flatnonzero(self.in_service != in_service))
        leaving = self.in_service & ~in_service
        dropped = np.zeros(self.n_cells, dtype=np.int64)
        if leaving.any():
            rows = np.flatnonzero(leaving)
            end, sub = self.slot_end[rows], self.slot_sub[rows]
            active = (sub >= 0) & (end > self.now)
            unspoken = np.where(active, end - self.now, 0.0)
            dropped[rows] = active.sum(axis=1)
            self.counters.voice_dropped[rows] += dropped[rows]
            self.counters.carried_es[rows] -= unspoken.sum(axis=1)
            np.subtract.at(self.usage_voice_s, sub[active], unspoken[active])
            self.slot_end[rows] = np.where(active, self.now, end)
            self.slot_sub[rows] = np.where(active, -1, sub)
        self.in_service = in_service.copy()
        return dropped

    def set_asleep(self, asleep: np.ndarray) -> None:
        """Set which cells sleep from now on: their arrivals are drawn as usual (so no other
        draw moves) but lost before the cell counts them. Calls in progress finish."""
        self._catch_up_voice(np.flatnonzero(self.asleep != asleep))
        self.asleep = np.array(asleep, dtype=bool)

    def set_capacity_factors(self, data_factor: np.ndarray, link_factor: np.ndarray) -> None:
        """Multiply cells' data and links' capacity by these factors from now on.

        A change of link capacity starts a new route epoch, so that a link never lends the
        capacity it had before a degradation to the time after it (the same pooling a change
        of routes must not do). Cells are served over the whole segment, as for service changes.
        """
        if not np.array_equal(link_factor, self.link_factor):
            self._routes_version += 1
        self.data_factor = np.array(data_factor, dtype=float)
        self.link_factor = np.array(link_factor, dtype=float)

    def add_surge(self, surge: Surge) -> None:
        self.surges.append(surge)

    def add_subscriber(self, cell: int, product: int) -> int:
        index = self.subscribers.add(cell, product)
        for name in ("usage_voice_s", "usage_data_mb", "_scratch", "_pending"):
            arr = getattr(self, name)
            if len(arr) < self.subscribers.count:
                grow = np.zeros(max(16, len(arr) // 2), dtype=arr.dtype)
                setattr(self, name, np.concatenate([arr, grow]))
        return index

    def release_subscriber(self, index: int) -> bool:
        """Release a subscriber from ``now`` on: its call in progress ends now (the seconds
        it would still have spoken are given back, not counted as a drop: the network did not
        cut it), and its later arrivals are lost uncounted. Its draws stay, so no other
        subscriber's draw moves. False if it was released already."""
        if self.subscribers.released[index]:
            return False
        # its calls are all on its home cell: that cell's arrivals so far still count
        self._catch_up_voice(self.subscribers.cell[index : index + 1])
        self.subscribers.release(index)
        active = (self.slot_sub == index) & (self.slot_end > self.now)
        if active.any():
            rows = np.flatnonzero(active.any(axis=1))
            unspoken = np.where(active, self.slot_end - self.now, 0.0)
            self.counters.carried_es[rows] -= unspoken[rows].sum(axis=1)
            self.usage_voice_s[index] -= unspoken.sum()
            self.slot_end[active] = self.now
            self.slot_sub[active] = -1
        return True

    # --- rates ----------------------------------------------------------------------------------

    def _load_factor(self, t0: float, t1: float) -> float:
        """Profile times growth for a segment inside one hour of the day."""
        p = self.params
        hour = int(((p.start_of_day_s + t0) % 86400.0) // 3600.0)
        growth = (1.0 + p.growth_per_year) ** (0.5 * (t0 + t1) / YEAR_S)
        return p.daily_profile[hour] * growth

    def _segment_end_after(self, t: float) -> float:
        """End of the fixed segment that holds ``t``: the next PM boundary on the clock, or the
        next usage-period boundary if sooner.

        PM intervals divide the hour, so segments never straddle an hour of the profile. All
        these boundaries are known from the start, so no event moves them.
        """
        into = (self.params.start_of_day_s + t) % self.segment_s
        end = t + (self.segment_s - into)
        if self.usage_s:
            # a usage period's records must hold the data served in it
            end = min(end, (t // self.usage_s + 1) * self.usage_s)
        return end

    def _draw_segment(self, t0: float, t1: float) -> None:
        dt = t1 - t0
        per_cell = self.subscribers.cell_count.astype(float) * self._load_factor(t0, t1) / 3600.0
        p = self.params
        surges = [(s, max(t0, s.start_s), min(t1, s.end_s)) for s in self.surges]
        surges = [(s, lo, hi) for s, lo, hi in surges if hi > lo and s.factor != 1.0]
        for kind, rate, mean_size in (
            ("voice", per_cell * p.busy_hour_calls, p.mean_call_s),
            ("data", per_cell * p.busy_hour_sessions, p.mean_session_mb),
        ):
            arrivals = _Arrivals.draw(self.rng, rate * dt, t0, t1, self.subscribers, mean_size)
            # Surges above 1 add their extra traffic, then those below 1 thin all of it; in a
            # fixed order, so that overlapping surges give the same draws however listed.
            for surge, lo, hi in sorted(surges, key=lambda x: (x[0].factor < 1, x[0].key)):
                arrivals = arrivals.surged(surge, rate, lo, hi, self.subscribers, mean_size)
            if kind == "voice":
                self._voice = arrivals
            else:
                self._data = arrivals
        self._segment_end = t1
        self._voice_first = None
        self._voice_done[:] = t0
        self._cuts = []

    # --- advancing ------------------------------------------------------------------------------

    def advance(self, t1: float) -> None:
        """Simulate all traffic from ``now`` to ``t1``; cell and link state stay as they are.

        Voice is independent per cell, so it is simulated later, per cell: the cells whose
        state changes are caught up to the change (:meth:`_catch_up_voice`), the others at the
        segment's end. A change costs the calls of the cells it touches, not the network's.
        """
        while self.now < t1:
            if self.now >= self._segment_end or self._voice is None:
                self._draw_segment(self.now, self._segment_end_after(self.now))
            stop = min(t1, self._segment_end)
            self._data_piece(self.now, stop)
            dt = stop - self.now
            self.counters.seconds_in_service += dt * self.in_service
            self.counters.link_seconds_in_service += dt * self.link_in_service
            self.now = stop
            if self.now >= self._segment_end:
                self._catch_up_voice()
                self._settle_data()
            else:
                self._cuts.append(stop)

    def catch_up(self) -> None:
        """Simulate every cell's voice up to ``now`` (for reading the channels mid-segment)."""
        self._catch_up_voice()

    def _catch_up_voice(self, cells: np.ndarray | None = None) -> None:
        """Simulate the voice arrivals of ``cells`` (all when None) from where each cell's was
        left up to ``now``, with the cells' state as it is (it has not changed since).

        The sums are taken as if the segment had been simulated piece by piece between the
        changes (``_cuts``), for every cell at once: each cell's float counters get one sum per
        piece, added in time order, so the bits are those of that simpler schedule.
        """
        arrivals = self._voice
        if arrivals is None or (cells is not None and len(cells) == 0):
            return
        if self._voice_first is None:
            self._voice_first = np.searchsorted(arrivals.cell, np.arange(self.n_cells + 1))
        if cells is None:
            cells = np.arange(self.n_cells)
        first, last = self._voice_first[cells], self._voice_first[cells + 1]
        if not self._voice_compiled(cells, first, last):
            self._voice_reference(first, last)
        self._voice_done[cells] = self.now

    def _voice_reference(self, first: np.ndarray, last: np.ndarray) -> None:
        """Offer the arrivals ``first[r]:last[r]`` (one cell's each) that fall between where
        their cell was left and ``now``: numpy, :meth:`_voice_piece`."""
        arrivals = self._voice
        assert arrivals is not None
        index = _ranges(first, last)
        time = arrivals.time[index]
        index = index[(time >= self._voice_done[arrivals.cell[index]]) & (time < self.now)]
        pick = self._heard(arrivals, index if len(index) else None)
        if pick is not None:
            self._voice_piece(pick)

    def _voice_compiled(self, cells: np.ndarray, first: np.ndarray, last: np.ndarray) -> bool:
        """:meth:`_voice_reference` in one compiled pass (:func:`sim.compiled.voice_catch_up`),
        if that many arrivals are worth the compiled code (:mod:`sim.kernels`); whether it ran.

        The same decisions, counters and usage, to the bit (``tests/test_kernels.py``).
        """
        fused = compiled_kernel("voice_catch_up", int((last - first).sum()))
        if fused is None:
            return False
        voice = self._voice
        assert voice is not None
        c = self.counters
        fused(
            cells,
            voice.time,
            voice.size,
            voice.sub,
            first,
            last,
            self._voice_done,
            self.now,
            np.array(self._cuts, dtype=float),
            self.asleep,
            self.subscribers.released,
            self.subscribers.any_released,
            self.in_service,
            self.slot_end,
            self.slot_sub,
            c.voice_offered,
            c.voice_failed,
            c.voice_carried,
            c.voice_blocked,
            c.offered_es,
            c.carried_es,
            self.usage_voice_s,
            self._scratch,
            self._pending,
        )
        return True

    def _voice_piece(self, pick: np.ndarray) -> None:
        """Offer the voice arrivals ``pick`` (cell-major, each cell's in time order).

        The numpy reference, for pieces too small for the compiled pass
        (:meth:`_voice_compiled`), which gives the same bits."""
        arrivals = self._voice
        assert arrivals is not None
        cell, time, duration, sub = (
            arrivals.cell[pick],
            arrivals.time[pick],
            arrivals.size[pick],
            arrivals.sub[pick],
        )
        # which piece between the cuts each arrival falls in; small ints sort by radix below
        cuts = np.array(self._cuts)
        piece = np.searchsorted(cuts, time, side="right").astype(
            np.int16 if len(cuts) < 2**15 else np.int64
        )
        c = self.counters
        n = np.bincount(cell, minlength=self.n_cells)
        c.voice_offered += n
        _add_by_piece(c.offered_es, cell, piece, duration)
        serving = self.in_service[cell]
        c.voice_failed += np.bincount(cell[~serving], minlength=self.n_cells)
        if not serving.any():
            return
        cell, time, duration, sub = cell[serving], time[serving], duration[serving], sub[serving]
        piece = piece[serving]
        n = np.bincount(cell, minlength=self.n_cells)
        carried = erlang_loss(self.slot_end, self.slot_sub, n, time, duration, sub)
        c.voice_carried += np.bincount(cell[carried], minlength=self.n_cells)
        c.voice_blocked += np.bincount(cell[~carried], minlength=self.n_cells)
        _add_by_piece(c.carried_es, cell[carried], piece[carried], duration[carried])
        # Only the subscribers who called are touched, one piece after the other: a bincount
        # as long as the subscriber base, once per piece, grew with the network twice over.
        sub, piece, duration = sub[carried], piece[carried], duration[carried]
        if len(piece) == 0 or piece.min() == piece.max():  # one piece: no order to keep
            _add_by_subscriber(self.usage_voice_s, self._scratch, sub, duration)
            return
        order = np.argsort(piece, kind="stable")  # each piece's calls, in their order
        bounds = np.flatnonzero(np.diff(piece[order])) + 1
        for chosen in np.split(order, bounds):
            _add_by_subscriber(self.usage_voice_s, self._scratch, sub[chosen], duration[chosen])

    def _data_piece(self, t0: float, t1: float) -> None:
        """Gather one piece's data demand and capacity; :meth:`_settle_data` serves them."""
        arrivals = self._data
        assert arrivals is not None
        dt = t1 - t0
        window = self._window
        window.capacity_mb += self.data_mbps * self.data_factor * dt / 8.0 * self.in_service
        epoch = window.epoch(self._routes_version, self.tower_links, self.n_cells, self.n_links)
        epoch.link_capacity_mb += (
            self.link_capacity_mbps * self.link_factor * dt / 8.0 * self.link_in_service
        )
        pick = self._heard(arrivals, arrivals.between(t0, t1))
        if pick is None:
            return
        cell, volume, sub = arrivals.cell[pick], arrivals.size[pick], arrivals.sub[pick]
        c = self.counters
        c.data_sessions += np.bincount(cell, minlength=self.n_cells)
        c.data_demand_mb += np.bincount(cell, weights=volume, minlength=self.n_cells)
        serving = self.in_service[cell]  # demand at a cell out of service is not served
        cell, volume, sub = cell[serving], volume[serving], sub[serving]
        demand = np.bincount(cell, weights=volume, minlength=self.n_cells)
        window.demand_mb += demand
        epoch.demand_mb += demand
        epoch.sessions.append((cell, volume, sub))

    def _heard(self, arrivals: _Arrivals, pick: np.ndarray | None) -> np.ndarray | None:
        """``pick`` without the arrivals at sleeping cells and those of released subscribers:
        lost, and counted by nobody."""
        if pick is None:
            return pick
        if self.asleep.any():
            pick = pick[~self.asleep[arrivals.cell[pick]]]
        if self.subscribers.any_released:
            pick = pick[~self.subscribers.released[arrivals.sub[pick]]]
        return pick if len(pick) else None

    def _settle_data(self) -> None:
        """Serve the data gathered since the segment began.

        Cells first, over the whole segment (processor sharing in the fluid limit); then the
        links, epoch by epoch, max-min fairly (:func:`max_min_shares`).
        """
        window = self._window
        self._window = _DataWindow.empty(self.n_cells)
        if not window.epochs:
            return
        cell_share = np.divide(
            window.capacity_mb,
            window.demand_mb,
            out=np.ones(self.n_cells),
            where=window.demand_mb > 0,
        )
        np.minimum(cell_share, 1.0, out=cell_share)
        c = self.counters
        subscribers, served = [], []
        for epoch in window.epochs:
            if self._on_route is None or self._on_route[0] is not epoch.routes:
                self._on_route = (epoch.routes, _OnRoute.of(epoch.routes, self.n_links))
            on_route = self._on_route[1]
            tower_mb = np.bincount(
                self.cell_tower, weights=epoch.demand_mb * cell_share, minlength=self.n_towers
            )
            tower_share = _max_min_shares(on_route, tower_mb, epoch.link_capacity_mb)
            share = cell_share * tower_share[self.cell_tower]
            c.data_served_mb += epoch.demand_mb * share
            c.link_demand_mb += on_route.per_link(tower_mb)
            c.link_carried_mb += on_route.per_link(tower_mb * tower_share)
            for cell, volume, sub in epoch.sessions:
                subscribers.append(sub)
                served.append(volume * share[cell])
        if subscribers:
            count = self.subscribers.count
            self.usage_data_mb[:count] += np.bincount(
                np.concatenate(subscribers), weights=np.concatenate(served), minlength=count
            )

    def finish(self) -> None:
        """Serve the data of a segment cut short by the end of the run."""
        self._catch_up_voice()
        self._settle_data()

    # --- closing intervals ------------------------------------------------------------------

    def _in_progress(self) -> tuple[np.ndarray, np.ndarray]:
        active = (self.slot_sub >= 0) & (self.slot_end > self.now)
        return active, np.where(active, self.slot_end - self.now, 0.0)

    def close_interval(self) -> IntervalCounters:
        """Return the counters of the PM interval ending now and start the next one.

        The unspoken part of every call in progress is moved to the next interval.
        """
        self._catch_up_voice()
        _, remaining = self._in_progress()
        carry = remaining.sum(axis=1)
        done = self.counters
        done.carried_es -= carry
        self.counters = IntervalCounters.zeros(self.n_cells, self.n_links)
        self.counters.carried_es += carry
        return done

    def close_usage(self) -> tuple[np.ndarray, np.ndarray]:
        """Return per-subscriber voice seconds and data MB of the usage period ending now."""
        self._catch_up_voice()
        active, remaining = self._in_progress()
        count = self.subscribers.count
        carry = np.bincount(self.slot_sub[active], weights=remaining[active], minlength=count)
        voice = self.usage_voice_s[:count] - carry
        data = self.usage_data_mb[:count].copy()
        self.usage_voice_s[:] = 0.0
        self.usage_voice_s[:count] = carry
        self.usage_data_mb[:] = 0.0
        return voice, data


@dataclass
class _RouteEpoch:
    """The part of a segment between two changes of routes or link states."""

    routes: np.ndarray  # (n_towers, depth) link indices, -1 padded, as they were
    link_capacity_mb: np.ndarray  # per link, over its time in service in this epoch
    demand_mb: np.ndarray  # per cell, arriving while the cell was in service
    sessions: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (cell, volume, subscriber)


@dataclass
class _DataWindow:
    """Data demand and capacity gathered over one segment, served when it ends.

    Serving a whole segment at once, epoch by epoch, keeps the result independent of control
    events that change no route or state: a price change or an order must not change what a
    cell serves.
    """

    demand_mb: np.ndarray  # per cell, arriving while the cell is in service
    capacity_mb: np.ndarray  # per cell, over its time in service
    epochs: list[_RouteEpoch]
    version: int = -1  # the kernel's routes version of the last epoch

    @classmethod
    def empty(cls, n_cells: int) -> _DataWindow:
        return cls(np.zeros(n_cells), np.zeros(n_cells), [])

    def epoch(self, version: int, routes: np.ndarray, n_cells: int, n_links: int) -> _RouteEpoch:
        """The epoch of the routes now in force, started if they changed since the last one."""
        if not self.epochs or version != self.version:
            self.epochs.append(_RouteEpoch(routes, np.zeros(n_links), np.zeros(n_cells), []))
            self.version = version
        return self.epochs[-1]


def _ranges(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The indices ``first[i]:last[i]`` for every ``i``, one after the other."""
    length = last - first
    total = int(length.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(first - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return starts + np.arange(total)


def _add_by_piece(
    total: np.ndarray, cell: np.ndarray, piece: np.ndarray, weights: np.ndarray
) -> None:
    """Add to each cell's total the sum of its ``weights`` piece by piece, in piece order.

    ``cell`` is cell-major and ``piece`` ascending within each cell, so every (cell, piece) is
    one run. Each run is summed from 0.0 in entry order (as ``np.bincount`` sums), and the runs
    are added to the total one at a time in order (``np.add.at``): the same bits as one
    ``total += np.bincount(cell_of_piece, weights, minlength=len(total))`` per piece.
    """
    if len(cell) == 0:
        return
    new_run = np.concatenate([[True], (cell[1:] != cell[:-1]) | (piece[1:] != piece[:-1])])
    run = np.cumsum(new_run) - 1
    sums = np.bincount(run, weights=weights)
    np.add.at(total, cell[new_run], sums)


def _add_by_subscriber(
    total: np.ndarray, scratch: np.ndarray, sub: np.ndarray, weights: np.ndarray
) -> None:
    """``total[:n] += np.bincount(sub, weights, minlength=n)``, touching only the subscribers in
    ``sub``, with the same bits.

    ``scratch`` is all zero on entry and on return: each subscriber's sum is taken there in the
    order of the entries from 0.0 (as bincount takes it), then added to ``total`` once (a
    subscriber named twice writes the same value twice).
    """
    np.add.at(scratch, sub, weights)
    total[sub] += scratch[sub]
    scratch[sub] = 0.0


def max_min_shares(
    routes: np.ndarray, tower_mb: np.ndarray, link_capacity_mb: np.ndarray
) -> np.ndarray:
    """Return the fraction of its demand each tower gets through the links on its route.

    Demand-weighted max-min fairness by progressive filling: the link that can give its towers
    the smallest fraction of their demand (after what towers fixed earlier already take) fixes
    that fraction for all of them; the rest is shared again among the others, until every link
    can carry what is left. Each link carries at most its capacity. With a single bottleneck it
    is the proportional scaling of that link.
    """
    return _max_min_shares(_OnRoute.of(routes, len(link_capacity_mb)), tower_mb, link_capacity_mb)


def _max_min_shares(
    on_route: _OnRoute, tower_mb: np.ndarray, link_capacity_mb: np.ndarray
) -> np.ndarray:
    n_links = len(link_capacity_mb)
    share = np.ones(len(tower_mb))
    open_ = (tower_mb > 0) & on_route.has_route
    fixed = np.zeros(n_links)
    while open_.any():
        load = on_route.per_link(np.where(open_, tower_mb, 0.0))
        room = np.maximum(link_capacity_mb - fixed, 0.0)
        ratio = np.divide(room, load, out=np.full(n_links, np.inf), where=load > 0)
        level = float(ratio.min())
        if level >= 1.0:
            break
        tight = ratio <= level
        held = open_ & on_route.crosses(tight)
        share[held] = level
        open_ &= ~held
        fixed += on_route.per_link(np.where(held, tower_mb * level, 0.0))
    return share


@dataclass(frozen=True)
class _OnRoute:
    """Every (tower, link) of a routes table, flattened row by row once, so that each sum per
    link over the towers (several per route epoch) is one bincount, not a pass over the table.

    The entries are in the table's row-major order, the order a boolean mask of the table
    takes them in, so the sums are the same floats as summing over the masked table.
    """

    link: np.ndarray
    tower: np.ndarray
    has_route: np.ndarray  # per tower
    n_links: int

    @classmethod
    def of(cls, routes: np.ndarray, n_links: int) -> _OnRoute:
        tower, hop = np.nonzero(routes >= 0)
        has_route = np.zeros(len(routes), dtype=bool)
        has_route[tower] = True
        return cls(routes[tower, hop], tower, has_route, n_links)

    def per_link(self, tower_mb: np.ndarray) -> np.ndarray:
        """Per link, the sum of the traffic of the towers routed over it."""
        return np.bincount(self.link, weights=tower_mb[self.tower], minlength=self.n_links)

    def crosses(self, links: np.ndarray) -> np.ndarray:
        """Per tower, whether its route crosses any of ``links`` (a mask over links)."""
        hit = np.zeros(len(self.has_route), dtype=bool)
        hit[self.tower[links[self.link]]] = True
        return hit


@dataclass
class _Arrivals:
    """One segment's arrivals, cell-major and in time order within each cell."""

    cell: np.ndarray
    time: np.ndarray
    size: np.ndarray  # call seconds or session MB
    sub: np.ndarray

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        mean: np.ndarray,
        t0: float,
        t1: float,
        subscribers: SubscriberBase,
        mean_size: float,
        cells: np.ndarray | None = None,
    ) -> _Arrivals:
        """Draw Poisson arrivals with ``mean`` per cell (of ``cells``, or all) over [t0, t1)."""
        counts = rng.poisson(mean)
        index = np.arange(len(mean)) if cells is None else cells
        cell = np.repeat(index, counts)
        # cell + fraction sorts cell-major and by time within a cell; with the cells in order,
        # sorting each cell's block alone gives the same array, faster (sim.kernels)
        key = cell + rng.random(len(cell))
        key = sort_cell_major(key, counts) if cells is None else np.sort(key)
        # fraction < 1 even where cell + fraction rounded up to the next integer
        time = t0 + np.minimum(key - cell, np.nextafter(1.0, 0.0)) * (t1 - t0)
        size = rng.exponential(mean_size, len(cell))
        sub = subscribers.pick(cell, rng.random(len(cell)))
        return cls(cell, time, size, sub)

    def surged(
        self,
        surge: Surge,
        rate: np.ndarray,
        lo: float,
        hi: float,
        subscribers: SubscriberBase,
        mean_size: float,
    ) -> _Arrivals:
        """Apply a surge over [lo, hi): extra arrivals above 1, thinning below, drawn from the
        surge's own stream. Overlapping surges add their extra traffic."""
        if surge.factor > 1.0:
            extra = _Arrivals.draw(
                surge.rng,
                rate[surge.cells] * (surge.factor - 1.0) * (hi - lo),
                lo,
                hi,
                subscribers,
                mean_size,
                cells=surge.cells,
            )
            cell = np.concatenate([self.cell, extra.cell])
            time = np.concatenate([self.time, extra.time])
            order = np.lexsort((time, cell))
            return _Arrivals(
                cell[order],
                time[order],
                np.concatenate([self.size, extra.size])[order],
                np.concatenate([self.sub, extra.sub])[order],
            )
        targeted = np.zeros(len(rate), dtype=bool)
        targeted[surge.cells] = True
        inside = targeted[self.cell] & (self.time >= lo) & (self.time < hi)
        keep = ~inside
        keep[inside] = surge.rng.random(int(inside.sum())) < surge.factor
        return _Arrivals(self.cell[keep], self.time[keep], self.size[keep], self.sub[keep])

    def between(self, t0: float, t1: float) -> np.ndarray | None:
        """Indices of the arrivals in [t0, t1), keeping the cell-major order; None if none."""
        if len(self.time) == 0:
            return None
        mask = (self.time >= t0) & (self.time < t1)
        if mask.all():
            return np.arange(len(self.time))
        index = np.flatnonzero(mask)
        return index if len(index) else None
