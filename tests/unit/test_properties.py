"""Property tests (hypothesis) of whole backtests on random markets: the money invariants hold."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from momentum.core.calendar import nyse_sessions
from momentum.core.config import StrategyConfig
from momentum.core.money import ZERO
from momentum.run.backtester import run_backtest
from tests.helpers import bar_frame, crypto, make_market, stock

SECTORS = ["Tech", "Energy", "Health"]


def random_market(seed: int, n_stocks: int, n_crypto: int, n_days: int = 220):
    rng = np.random.default_rng(seed)
    all_days = [date(2022, 1, 3) + timedelta(days=i) for i in range(int(n_days * 1.5))]
    weekdays = [d for d in all_days if d.weekday() < 5][:n_days]
    items = {}
    for i in range(n_stocks + n_crypto):
        is_crypto = i >= n_stocks
        days = all_days[:len(weekdays) * 7 // 5] if is_crypto else weekdays
        vol = 0.05 if is_crypto else 0.025
        drift = rng.normal(0.001, 0.002)
        close = 20 * np.exp(np.cumsum(rng.normal(drift, vol, len(days))))
        open_ = np.concatenate(([20.0], close[:-1])) * np.exp(rng.normal(0, vol / 3, len(days)))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, len(days)))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, len(days)))
        volume = rng.lognormal(13, 0.6, len(days))
        asset = crypto(f"C{i}USD") if is_crypto else stock(f"S{i}", sector=SECTORS[i % 3])
        items[asset] = bar_frame(days, open_, high, low, close, volume)
    return make_market(items), weekdays


def loose_config(max_positions: int, gross: float, sector: float, threshold: float,
                 risk_per_trade: float = 0.005) -> StrategyConfig:
    return StrategyConfig.model_validate({
        "scanner": {"stock_min_market_cap": 0, "stock_min_volume": 0, "momentum_threshold": threshold,
                    "rescan_interval_days": 3},
        "signals": {"entry": {"rsi_min": 1, "rsi_max": 99, "require_volume_surge": False},
                    "exit": {"max_holding_days": 12}},
        "risk": {"max_positions": max_positions, "max_portfolio_exposure": gross,
                 "max_sector_exposure": min(sector, gross), "risk_per_trade": risk_per_trade},
    })


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_stocks=st.integers(2, 6), n_crypto=st.integers(0, 2),
       max_positions=st.integers(1, 5), gross=st.floats(0.2, 1.0), sector=st.floats(0.1, 1.0),
       threshold=st.floats(0, 80), risk=st.floats(0.001, 0.02))
def test_backtest_money_invariants_hold_at_every_step(seed, n_stocks, n_crypto, max_positions,
                                                      gross, sector, threshold, risk):
    market, days = random_market(seed, n_stocks, n_crypto)
    cfg = loose_config(max_positions, gross, sector, threshold, risk)
    initial = D(str(cfg.risk.initial_capital))
    max_gross, max_sector = D(repr(cfg.risk.max_portfolio_exposure)), D(repr(cfg.risk.max_sector_exposure))

    def check(day, state):
        book = state.portfolio
        assert book.cash >= ZERO
        assert day.equity == book.cash + sum((p.quantity * p.last_close for p in book.positions.values()), ZERO)
        realized = sum((t.pnl for t in book.closed_trades), ZERO)
        unrealized = sum(((p.last_close - p.entry_price) * p.quantity - p.entry_commission
                          for p in book.positions.values()), ZERO)
        assert abs(day.equity - (initial + realized + unrealized)) <= D("1e-12")
        assert len(book.positions) + len(book.pending_entries) <= cfg.risk.max_positions
        if day.entries:  # at approval the caps held for the whole book (R6.4, R6.5)
            values = book.sector_values()
            assert sum(values.values(), ZERO) <= max_gross * day.equity
            for s in {o.sector for o in day.entries}:
                assert values[s] <= max_sector * day.equity

    result = run_backtest(market, cfg, days[130], days[-1], on_step=check)
    assert result.steps == nyse_sessions(days[130], days[-1])


def test_random_markets_do_trade_so_the_invariants_are_not_vacuous():
    market, days = random_market(3, 5, 2)
    result = run_backtest(market, loose_config(3, 0.6, 0.3, 30), days[130], days[-1])
    reasons = {t.exit_reason for t in result.state.portfolio.closed_trades}
    assert len(result.state.portfolio.closed_trades) >= 10
    assert len(reasons) >= 3
