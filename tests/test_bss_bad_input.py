"""Bad input for the BSS: prices, tax, price changes, account sizes and exports. Each gets exit
status 2, one line naming the file, the key path and what is wrong, and nothing written (the
contract of tests/test_bad_input.py, whose helpers these tests use)."""

from __future__ import annotations

import pytest

from tests.test_bad_input import _refused, _write


@pytest.mark.parametrize(
    ("where", "value", "line"),
    [
        (
            ("catalog", "tax_percent"),
            120,
            "metro.yaml: catalog.tax_percent: Input should be less than or equal to 100",
        ),
        (
            ("catalog", "tax_percent"),
            -5,
            "metro.yaml: catalog.tax_percent: Input should be greater than or equal to 0",
        ),
        (
            ("catalog", "products", 0, "monthly_fee"),
            "-15.00",
            "metro.yaml: catalog.products[0].monthly_fee: a price cannot be negative (-15.00)",
        ),
        (
            ("catalog", "products", 0, "monthly_fee"),
            "15,00",
            "metro.yaml: catalog.products[0].monthly_fee: '15,00' is not a decimal amount "
            'like "15.00"',
        ),
        (
            ("catalog", "products", 1, "overage", "data_gb"),
            "0.0000001",
            "metro.yaml: catalog.products[1].overage.data_gb: '1E-7' has more than 6 decimals "
            "(billing rates to 6 decimals of the currency unit)",
        ),
        (
            ("events", 0, "monthly_fee"),
            "-17.00",
            "metro.yaml: events[0].monthly_fee: a price cannot be negative (-17.00)",
        ),
        (
            ("events", 0, "product"),
            "mobile-m",
            "metro.yaml: events[0].product: unknown product 'mobile-m'",
        ),
        (
            ("customers",),
            {"account_sizes": {1: 0.5, 2: 0.2}},
            "metro.yaml: customers.account_sizes: shares sum to 0.7, not 1",
        ),
    ],
)
def test_bad_business_input_is_one_line_and_exit_2(
    tmp_path, capsys, example_raw, where, value, line
):
    target = example_raw
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [line]


def test_an_unknown_export_is_refused_before_anything_runs(tmp_path, capsys, example_raw):
    path = _write(tmp_path, example_raw)
    lines = _refused(tmp_path, capsys, path, "--export", "usage,bills")
    assert lines == ["metro.yaml: --export: unknown export 'bills'; choose from usage, invoices"]


def test_an_export_without_a_catalog_is_refused(tmp_path, capsys, example_raw):
    del example_raw["catalog"]
    example_raw["subscribers"].pop("products")
    example_raw["events"] = [
        e for e in example_raw["events"] if e["action"] not in ("order", "price_change")
    ]
    lines = _refused(tmp_path, capsys, _write(tmp_path, example_raw), "--export", "usage")
    assert lines == ["metro.yaml: --export: the scenario has no catalog: nothing to export"]
