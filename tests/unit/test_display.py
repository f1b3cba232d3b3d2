"""Display rounding of money (R5.7) and the try-later errors of issue 11: no disk, no network."""
from __future__ import annotations

from decimal import Decimal

import pytest

from momentum.core.domain import AssetType
from momentum.core.errors import DataError, DataIncomplete, DataUnavailable, ExitCode
from momentum.core.money import display_money, display_price, money_str


@pytest.mark.parametrize(("value", "asset_type", "shown"), [
    ("614.485439317767624178572", AssetType.STOCK, "614.49"),
    ("0.125", AssetType.ETF, "0.12"),                  # half-even, display only
    ("43123.456789123", AssetType.CRYPTO, "43123.457"),  # 8 significant digits
    ("0.000123456789", AssetType.CRYPTO, "0.00012345679"),
    ("43000", AssetType.CRYPTO, "43000.00"),
    ("2.5", AssetType.CRYPTO, "2.50"),
    ("0", AssetType.CRYPTO, "0.00"),
])
def test_display_price_rounds_by_asset_type(value, asset_type, shown):
    assert display_price(Decimal(value), asset_type) == shown


def test_display_money_two_decimals_and_files_keep_every_digit():
    amount = Decimal("-1002.0650001")
    assert display_money(amount) == "-1002.07"
    assert display_money(99356.654) == "99356.65"
    assert money_str(amount) == "-1002.0650001"  # the state/CSV text is untouched


def test_data_unavailable_and_incomplete_mean_try_later():
    assert DataUnavailable("x").exit_code is ExitCode.TRY_LATER == 75
    assert DataUnavailable("x").transient and not DataError("x").transient
    error = DataIncomplete({"AEE": "daily prices of AEE: HTTP 500", "AIV": "cut off"},
                           "nothing was committed for 2019-06-28")
    text = str(error)
    assert error.exit_code == 75 and isinstance(error, DataUnavailable)
    assert "AEE, AIV could not be loaded" in text and "HTTP 500" in text
    assert "run again later" in text and "--allow-partial" in text and "\n" not in text


def test_display_rounding_is_half_even_whatever_the_decimal_context():
    # The display rounding is set explicitly: a caller's context (here half-up) does not change it
    from decimal import ROUND_HALF_UP, localcontext
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP
        assert display_money(Decimal("0.125")) == "0.12"
        assert display_money(Decimal("-2.675")) == "-2.68"
        assert display_price(Decimal("0.125"), AssetType.STOCK) == "0.12"
        assert display_price(Decimal("1.234567850"), AssetType.CRYPTO) == "1.2345678"
        assert display_price(Decimal("43123.4565"), AssetType.CRYPTO) == "43123.456"
