"""Reconciliation thresholds, by hand."""

from decimal import Decimal

import pytest

from central.domain.reconcile import Thresholds, reconcile


@pytest.mark.parametrize(("meter", "pev", "status"), [
    (10_000, 10_000, "pass"),
    (10_000, 9_800, "pass"),  # 2 % of 10 kWh
    (10_000, 10_200, "pass"),
    (3_000, 2_900, "pass"),  # 100 Wh floor beats 2 % of 3 kWh
    (10_000, 9_700, "warn"),  # meter ahead by 3 %
    (10_000, 9_500, "warn"),  # ... by 5 %
    (10_000, 9_400, "flag"),  # ... by 6 %
    (10_000, 10_300, "flag"),  # the PEV saw more than the meter, beyond tolerance
])
def test_pass_warn_and_flag(meter, pev, status):
    assert reconcile(meter, pev).status == status


def test_missing_eumd_data_is_estimated_from_the_pev():
    result = reconcile(None, 7_000)
    assert result.status == "estimated" and result.pev_wh == 7_000


def test_thresholds_are_configurable():
    strict = Thresholds(pass_pct=Decimal("0.5"), pass_wh=10, warn_pct=Decimal(1))
    assert reconcile(10_000, 9_800, strict).status == "flag"
    with pytest.raises(ValueError):
        Thresholds(pass_pct=Decimal(6), warn_pct=Decimal(5))
