"""Parsing of the scenario format's scalar types: durations, money and UTC times.

Durations are written ``<number><unit>`` with unit ``s``, ``m``, ``h`` or ``d``, and parts may be
chained largest first (``2h30m``). Money is a decimal string, kept as :class:`decimal.Decimal`
so that no amount ever passes through a float.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

__all__ = ["format_duration", "parse_duration", "parse_money", "parse_utc"]

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[dhms])+$")


def parse_duration(text: str) -> float:
    """Return the number of seconds in a duration such as ``90s``, ``15m``, ``2h30m`` or ``2d``.

    >>> parse_duration("2h30m")
    9000.0
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration is a string like '90s', '15m', '2h30m' or '2d', not {text!r}")
    compact = text.strip().replace(" ", "")
    if not _WHOLE.match(compact):
        raise ValueError(f"'{text}' is not a duration like '90s', '15m', '2h30m' or '2d'")
    units = [unit for _, unit in _PART.findall(compact)]
    order = [list(_UNIT_SECONDS).index(u) for u in units]
    if order != sorted(order) or len(set(units)) != len(units):
        raise ValueError(f"'{text}': write each unit once, largest first (as in '1d2h30m')")
    return float(sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(compact)))


def format_duration(seconds: float) -> str:
    """Return a compact duration string for a number of seconds (``9000 -> '2h30m'``).

    >>> format_duration(9000)
    '2h30m'
    """
    remaining = round(seconds)
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_money(value: object) -> Decimal:
    """Return an exact amount from a decimal string such as ``"15.00"``.

    Floats are refused: YAML reads ``15.10`` as a binary float, which cannot hold it exactly.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f'money is a quoted decimal string like "15.00", not {value!r}')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a decimal amount like \"15.00\"") from None
    if not amount.is_finite():
        raise ValueError(f"'{value}' is not a finite amount")
    return amount


def parse_utc(value: object) -> datetime:
    """Return an aware UTC datetime from an ISO 8601 string ending in ``Z`` or ``+00:00``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise ValueError(f'{value} is a date: quote a time like "{value}T00:00:00Z"')
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"'{value}' is not an ISO 8601 time like 2027-03-01T00:00:00Z"
            ) from None
    else:
        raise ValueError(f"a time is an ISO 8601 string like 2027-03-01T00:00:00Z, not {value!r}")
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"'{value}' must be in UTC (end it with Z)")
    return moment.astimezone(UTC)
