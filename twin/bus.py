"""In-process publish/subscribe: the twin's functions know record types, not each other."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from twin.feed import FeedRecord

__all__ = ["Bus"]

Handler = Callable[[Any], None]


class Bus:
    """Delivers each published record to the handlers subscribed to its type, in order of
    subscription. It is a :class:`~twin.feed.FeedSink`, so the simulator publishes to it."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type, handler: Handler) -> None:
        self._handlers[kind].append(handler)

    def publish(self, record: FeedRecord | object) -> None:
        """Deliver a feed record, or a twin function's own record (an alarm change, a KPI
        batch), to the handlers of its type."""
        for handler in self._handlers.get(type(record), ()):
            handler(record)
