"""The catalog: money rounding, currencies' minor units, effective-dated prices, cycles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from tests.bss_feed import DAY, catalog
from twin.bss.catalog import (
    Cycles,
    PriceBook,
    decimal_from_nano,
    minor_digits,
    prorate_allowance,
    prorate_minor,
    to_minor,
    to_minor_array,
)


def test_rated_amounts_round_half_up_to_the_cent_away_from_zero():
    # 10**-9 units: 0.005 EUR is exactly half a cent
    assert to_minor(5_000_000, 2) == 1
    assert to_minor(4_999_999, 2) == 0
    assert to_minor(-5_000_000, 2) == -1
    assert to_minor_array(np.array([15_000_000, 14_999_999]), 2).tolist() == [2, 1]


def test_minor_units_follow_iso_4217():
    assert (minor_digits("EUR"), minor_digits("JPY"), minor_digits("KWD")) == (2, 0, 3)
    assert to_minor(1_500_000_000, minor_digits("JPY")) == 2  # 1.5 yen rounds half-up to 2


def test_nano_amounts_print_exactly():
    assert str(decimal_from_nano(4_860_000_000)) == "4.86"
    assert str(decimal_from_nano(5_000_000)) == "0.005"
    assert str(decimal_from_nano(0)) == "0"


def test_recurring_fee_is_prorated_by_day_and_rounded_half_up():
    # 15.00 x 2/31 = 0.9677 -> 0.97; 35.00 x 2/31 = 2.2580 -> 2.26; 0.31 x 1/2 = 0.155 -> 0.16
    assert prorate_minor(Decimal("15.00"), np.array([2]), 31, 2).tolist() == [97]
    assert prorate_minor(Decimal("35.00"), np.array([2]), 31, 2).tolist() == [226]
    assert prorate_minor(Decimal("0.31"), np.array([1]), 2, 2).tolist() == [16]
    assert prorate_minor(Decimal("15.00"), np.array([31]), 31, 2).tolist() == [1500]


def test_allowances_are_prorated_in_the_customers_favour():
    assert prorate_allowance(100, 2, 31) == 7  # 6.45 minutes rounded up
    assert prorate_allowance(2000, 2, 31) == 130  # 129.03 MB rounded up
    assert prorate_allowance(100, 31, 31) == 100


def test_a_price_change_applies_from_its_time_on():
    book = PriceBook(catalog())
    small = book.index["mobile-s"]
    book.change_price("mobile-s", 8 * 3600.0, Decimal("17.00"))
    assert book.fee_at(small, 0.0) == Decimal("15.00")
    assert book.fee_at(small, 8 * 3600.0 - 1) == Decimal("15.00")
    assert book.fee_at(small, 8 * 3600.0) == Decimal("17.00")  # at its time, included
    assert book.fee_at(book.index["mobile-l"], 9 * 3600.0) == Decimal("35.00")


def test_tariffs_hold_allowances_and_rates_in_whole_units():
    small = PriceBook(catalog()).tariffs[0]
    assert (small.voice_minutes, small.data_mb) == (100, 2000)
    assert small.voice_minute_nano == 90_000_000  # 0.09 EUR
    assert small.data_mb_nano == 5_000_000  # 5.00 EUR a GB is 0.005 a MB


def test_cycles_are_monthly_from_the_start_with_the_day_clamped():
    start = datetime(2027, 1, 31, tzinfo=UTC)
    cycles = Cycles.of_run(start, 70 * DAY)
    # 31 Jan -> 28 Feb (28 days) -> 31 Mar (31 days) -> 30 Apr (30 days); 70 days end in the third
    assert cycles.days.tolist() == [28, 31, 30]
    assert cycles.span(2) == (59 * DAY, 70 * DAY)
    assert cycles.of(28 * DAY) == 1 and cycles.of(28 * DAY - 1) == 0


def test_a_day_begun_is_a_day_billed():
    cycles = Cycles.of_run(datetime(2027, 3, 1, tzinfo=UTC), 2 * DAY)
    since = np.array([0.0, 10 * 3600.0, 1.5 * DAY, 2 * DAY])
    assert cycles.billed_days(0, since).tolist() == [2, 2, 1, 0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tax_percent": 120}, "less than or equal to 100"),
        ({"tax_percent": -1}, "greater than or equal to 0"),
        ({"tax_percent": 19.00001}, "more than 4 decimals"),
    ],
)
def test_tax_rates_out_of_range_are_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        catalog(**changes)
