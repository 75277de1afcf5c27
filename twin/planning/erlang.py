"""Erlang B and Erlang C: the grade of service of a group of voice channels, and its inverses.

Erlang B is the blocking of a loss system (blocked calls cleared), which is how the simulator
serves voice on a cell; Erlang C is the probability of waiting in a delay system (blocked calls
queue), for call centres and queued signalling. Both come from the same stable recursion,

    B(0, A) = 1,    B(n, A) = A B(n-1, A) / (n + A B(n-1, A)),

which never forms A^n or n! and so holds at a thousand channels and more (the closed form
overflows a float near 170 channels). The inverses are the planner's questions: the fewest
channels for a target blocking (:func:`erlang_b_channels`), and the most traffic a number of
channels carries at that target (:func:`erlang_b_traffic`, the figure a printed Erlang B table
gives).
"""

from __future__ import annotations

import math

__all__ = [
    "erlang_b",
    "erlang_b_channels",
    "erlang_b_traffic",
    "erlang_c",
    "erlang_c_mean_wait",
]

MAX_CHANNELS = 1_000_000  # a search bound: no cell or trunk group is larger


def erlang_b(channels: int, erlangs: float) -> float:
    """Return the blocking probability of ``channels`` servers offered ``erlangs`` of traffic.

    >>> round(erlang_b(10, 5.0), 10)
    0.0183845703
    """
    if channels < 0 or erlangs < 0 or not math.isfinite(erlangs):
        raise ValueError(f"needs channels >= 0 and finite erlangs >= 0, got {channels}, {erlangs}")
    blocking = 1.0
    for n in range(1, channels + 1):
        blocking = erlangs * blocking / (n + erlangs * blocking)
    return blocking


def erlang_b_channels(erlangs: float, target_blocking: float) -> int:
    """Return the fewest channels whose Erlang B blocking at ``erlangs`` is at most the target.

    >>> erlang_b_channels(25.0, 0.02)
    34
    """
    if not 0 < target_blocking < 1:
        raise ValueError(f"target blocking must be in (0, 1), got {target_blocking}")
    if erlangs < 0 or not math.isfinite(erlangs):
        raise ValueError(f"erlangs must be finite and >= 0, got {erlangs}")
    blocking, n = 1.0, 0
    while blocking > target_blocking:
        n += 1
        if n > MAX_CHANNELS:
            raise ValueError(f"{erlangs} E needs more than {MAX_CHANNELS} channels")
        blocking = erlangs * blocking / (n + erlangs * blocking)
    return n


def erlang_b_traffic(channels: int, target_blocking: float) -> float:
    """Return the most traffic (erlangs) ``channels`` servers carry at the target blocking:
    the A with B(channels, A) = target, as an Erlang B table gives it.

    B rises strictly with A, from 0 at A = 0; B(N, A) >= 1 - N/A, so the answer lies below
    N / (1 - target). Bisection to a relative 1e-12.

    >>> round(erlang_b_traffic(30, 0.02), 3)
    21.932
    """
    if channels < 1:
        raise ValueError(f"needs at least one channel, got {channels}")
    if not 0 < target_blocking < 1:
        raise ValueError(f"target blocking must be in (0, 1), got {target_blocking}")
    low, high = 0.0, channels / (1.0 - target_blocking) + 1.0
    while high - low > 1e-12 * high:
        middle = 0.5 * (low + high)
        if erlang_b(channels, middle) > target_blocking:
            high = middle
        else:
            low = middle
    return low


def erlang_c(channels: int, erlangs: float) -> float:
    """Return the probability that a call waits in a delay system (Erlang C); 1 when the
    traffic reaches the channels (the queue grows without bound).

    C(N, A) = N B(N, A) / (N - A (1 - B(N, A))).

    >>> round(erlang_c(10, 5.0), 10)
    0.0361053592
    """
    if erlangs >= channels:
        return 1.0
    blocking = erlang_b(channels, erlangs)
    return channels * blocking / (channels - erlangs * (1.0 - blocking))


def erlang_c_mean_wait(channels: int, erlangs: float, mean_holding_s: float) -> float:
    """Return the mean wait in seconds over all calls of an Erlang C system:
    C(N, A) h / (N - A), infinite when the traffic reaches the channels.

    >>> round(erlang_c_mean_wait(10, 5.0, 180.0), 6)
    1.299793
    """
    if erlangs >= channels:
        return math.inf
    return erlang_c(channels, erlangs) * mean_holding_s / (channels - erlangs)
