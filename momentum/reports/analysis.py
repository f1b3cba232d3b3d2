"""Why one ticker is or is not traded on a day: every number the rules (R2-R6) look at.

``analyze_ticker`` is pure (no I/O). It runs the rule objects themselves (AssetScanner,
eligible_mask, is_entry_signal, RiskManager), so the verdicts it shows are the engine's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from momentum.core.config import EntryConfig, ExitConfig, StrategyConfig
from momentum.core.domain import (Asset, AssetType, Candidate, EntrySignal, validate_ticker)
from momentum.data.indicators import MIN_SCORE_BARS, roc
from momentum.data.market import AssetHistory, MarketView
from momentum.core.money import ONE, ZERO, to_money
from momentum.rules.portfolio import Portfolio
from momentum.rules.risk import RiskBook, RiskManager
from momentum.rules.scanner import AssetScanner, eligible_mask, momentum_score
from momentum.rules.signals import exit_levels, is_entry_signal

from momentum.reports.analysis_records import (BarRow, Check, EntryConditions, HeldPosition,
                                               IndicatorValues, Level, RiskDecision,
                                               ScanStanding, TradeAnalysis, TradeRow)

if TYPE_CHECKING:  # types only: the analysis never runs the engine
    from momentum.run.engine import EngineState

BARS_SHOWN = 10


def analyze_ticker(ticker: str, view: MarketView, state: EngineState | None,
                   cfg: StrategyConfig, trades: Sequence[TradeRow] | None = None) -> TradeAnalysis:
    """Gather the numbers behind each R2-R6 decision for `ticker` on the view's day."""
    symbol = validate_ticker(ticker)
    history = _history(view, symbol)
    asset = history.asset
    bar_date = view.current_date(asset.asset_type)
    count = int(np.searchsorted(history.dates, np.datetime64(bar_date, "D"), side="right"))
    ind = _indicators(history, count)
    eligibility, eligible = _eligibility(view, asset, ind, cfg)
    busy = set() if state is None else state.portfolio.held_or_ordered
    scan = _standing(view, asset, ind, eligibility, busy, cfg)
    cand = None if ind is None else _candidate(asset, ind, scan.score)
    entry = None if cand is None else _entry_conditions(cand, cfg.signals.entry)
    risk = None
    if cand is not None and asset.asset_type.tradable and symbol not in busy:
        risk = _risk_decision(cand, state, cfg, view.day,
                              considered=scan.candidate and entry is not None and entry.signal)
    would_enter = risk is not None and risk.considered and risk.approved
    orders = [] if state is None else state.portfolio.pending_entries
    return TradeAnalysis(
        ticker=symbol, day=view.day, bar_date=bar_date, asset=asset,
        bars=_bars(history, count), indicators=ind, eligibility=eligibility, eligible=eligible,
        scan=scan, entry=entry, risk=risk, held=_held(state, symbol, ind, cfg.signals.exit),
        pending_entry=next((o for o in orders if o.ticker == symbol), None),
        what_if_levels=_what_if_levels(cand, cfg.signals.exit) if would_enter and cand else (),
        trades=_trade_rows(symbol, state, trades), notes=_notes(view, state),
        exit_rules=cfg.signals.exit,
        trades_source=("the given trades" if trades is not None else
                       "the paper portfolio" if state is not None else ""))


# ---------------------------------------------------------------- the asset and its bars
def _history(view: MarketView, symbol: str) -> AssetHistory:
    return view.history(symbol)


def _bars(h: AssetHistory, count: int) -> tuple[BarRow, ...]:
    return tuple(BarRow(_day(h, i), float(h.open[i]), float(h.high[i]), float(h.low[i]),
                        float(h.close[i]), float(h.volume[i]))
                 for i in range(max(0, count - BARS_SHOWN), count))


def _day(h: AssetHistory, i: int) -> date:
    return h.dates[i].astype("datetime64[D]").item()


def _indicators(h: AssetHistory, count: int) -> IndicatorValues | None:
    if count == 0:
        return None
    i, close, ind = count - 1, h.close[:count], h.indicators
    return IndicatorValues(
        bar_date=_day(h, i), bar_count=count,
        close=float(close[-1]), rsi14=float(ind.rsi14[i]), momentum=float(ind.momentum[i]),
        roc126=float(roc(close, 126)[-1]), roc63=float(roc(close, 63)[-1]),
        roc21=float(roc(close, 21)[-1]), adv20_usd=float(ind.adv20_usd[i]),
        surge_ratio=float(ind.surge_ratio[i]))


def _candidate(asset: Asset, ind: IndicatorValues, score: float | None) -> Candidate:
    return Candidate(ticker=asset.ticker, asset_type=asset.asset_type, sector=asset.sector,
                     score=math.nan if score is None else score, momentum=ind.momentum,
                     rsi14=ind.rsi14, adv20_usd=ind.adv20_usd, surge_ratio=ind.surge_ratio,
                     close=ind.close, bar_date=ind.bar_date)


# ---------------------------------------------------------------- eligibility (R3.0-R3.2)
def _eligibility(view: MarketView, asset: Asset, ind: IndicatorValues | None,
                 cfg: StrategyConfig) -> tuple[tuple[Check, ...], bool]:
    day = view.current_date(asset.asset_type)
    checks = [Check("R3.0", "bar on the day", None if ind is None else ind.bar_date, "=", day,
                    ind is not None and ind.bar_date == day, "date")]
    if not asset.asset_type.tradable:
        checks.append(Check("R1.3", "tradable asset type", asset.asset_type.value, "in",
                            "stock, crypto", False, "text"))
        return tuple(checks), False
    count = 0 if ind is None else ind.bar_count
    m = math.nan if ind is None else ind.momentum
    checks += [Check("R2.7", "bars up to the day", count, ">=", MIN_SCORE_BARS,
                     count >= MIN_SCORE_BARS, "count"),
               Check("R2.7", "momentum M defined", m, "is", "finite", math.isfinite(m), "ratio")]
    if asset.asset_type is AssetType.CRYPTO:
        checks.append(_crypto_rank_check(view, asset.ticker, cfg.scanner.crypto_top_n))
    else:
        adv = math.nan if ind is None else ind.adv20_usd
        cap, min_cap = asset.market_cap, cfg.scanner.stock_min_market_cap
        checks += [Check("R3.1", "market cap", cap, ">=", min_cap,
                         cap is not None and cap >= min_cap, "usd"),
                   Check("R3.1", "ADV20", adv, ">=", cfg.scanner.stock_min_volume,
                         adv >= cfg.scanner.stock_min_volume, "usd")]
    snap = view.snapshot(asset.asset_type)
    rows = np.flatnonzero(snap.tickers == asset.ticker)
    eligible = bool(len(rows)) and bool(eligible_mask(snap, cfg.scanner)[0][rows[0]])
    return tuple(checks), eligible


def _crypto_rank_check(view: MarketView, ticker: str, top_n: int) -> Check:
    snap = view.snapshot(AssetType.CRYPTO)
    idx = np.flatnonzero(snap.has_score)
    order = idx[np.lexsort((snap.tickers[idx], -snap.adv20_usd[idx]))]  # R3.2 order
    ranked = snap.tickers[order].tolist()
    rank = ranked.index(ticker) + 1 if ticker in ranked else None
    return Check("R3.2", "crypto rank by ADV20", rank, "<=", top_n,
                 rank is not None and rank <= top_n, "count",
                 detail=f"of {len(ranked)} crypto with a bar and a score")


# ---------------------------------------------------------------- full scan (R3.3-R3.6)
def _standing(view: MarketView, asset: Asset, ind: IndicatorValues | None,
              eligibility: tuple[Check, ...], held_or_ordered: set[str],
              cfg: StrategyConfig) -> ScanStanding:
    scan = AssetScanner(cfg.scanner).run_daily_scan(view, cache=None, exclude=held_or_ordered)
    passed = scan.passed_tickers.tolist()
    rank = passed.index(asset.ticker) + 1 if asset.ticker in passed else None
    refs = scan.cache.refs if scan.cache is not None else {}
    ref = np.asarray(refs.get(asset.asset_type, ()), dtype=np.float64)
    score = None
    if rank is not None:
        score = float(scan.passed_scores[rank - 1])
    elif ind is not None and ind.bar_count >= MIN_SCORE_BARS and math.isfinite(ind.momentum) \
            and len(ref):
        score = float(momentum_score(ind.momentum, ref)[0])  # R3.3, even when not eligible
    candidate = any(c.ticker == asset.ticker for c in scan.candidates)
    free = [t for t in passed if t not in held_or_ordered]
    reasons = () if candidate else _why_not(asset, eligibility, score, rank, free, cfg)
    return ScanStanding(score=score, ref_size=len(ref), threshold=cfg.scanner.momentum_threshold,
                        rank=rank, passed_count=len(passed), candidate=candidate, reasons=reasons)


def _why_not(asset: Asset, eligibility: tuple[Check, ...], score: float | None,
             rank: int | None, free: list[str], cfg: StrategyConfig) -> tuple[str, ...]:
    failed = tuple(f"{c.name} fails ({c.rule})" for c in eligibility if not c.passed)
    if failed:
        return failed
    if score is None:
        return (f"no eligible {asset.asset_type.value} to score against (R3.3)",)
    if rank is None:
        return (f"score {score:.1f} is below the threshold "
                f"{cfg.scanner.momentum_threshold:g} (R3.4)",)
    if asset.ticker not in free:
        return ("already held or ordered (R3.6)",)
    return (f"ranked {free.index(asset.ticker) + 1} of {len(free)} not held; only the first "
            f"{cfg.scanner.max_candidates} are kept (R3.6)",)


# ---------------------------------------------------------------- entry (R4.1)
def _entry_conditions(c: Candidate, cfg: EntryConfig) -> EntryConditions:
    rsi, surge, need = c.rsi14, c.surge_ratio, cfg.volume_surge_threshold
    in_window = math.isfinite(rsi) and cfg.rsi_min <= rsi <= cfg.rsi_max
    surge_check = (Check("R4.1", "volume surge ratio", surge, ">=", need,
                         not math.isnan(surge) and surge >= need, "times")
                   if cfg.require_volume_surge else
                   Check("R4.1", "volume surge ratio", surge, "is", "not required", True, "times"))
    return EntryConditions((Check("R4.1", "RSI14 in the entry window", rsi, "in",
                                  (cfg.rsi_min, cfg.rsi_max), in_window), surge_check),
                           is_entry_signal(c, cfg))


# ---------------------------------------------------------------- risk (R6)
def _book(state: EngineState | None, cfg: StrategyConfig, day: date) -> tuple[RiskBook, str]:
    if state is None:
        capital = to_money(cfg.risk.initial_capital)
        return (RiskBook.of(Portfolio(cash=capital), None),
                f"an empty book with the initial capital ${capital:,.2f}")
    earlier = [p.equity for p in state.equity_curve if p.day < day]  # the step before D's
    return (RiskBook.of(state.portfolio, earlier[-1] if earlier else None),
            f"the paper portfolio (last step {state.last_step})")


def _risk_decision(c: Candidate, state: EngineState | None, cfg: StrategyConfig, day: date,
                   considered: bool) -> RiskDecision:
    manager = RiskManager(cfg.risk, cfg.signals.exit, cfg.trading)
    book, source = _book(state, cfg, day)
    close = to_money(c.close)
    qty = manager.position_size(book.equity, close, c.asset_type)
    checks = _risk_checks(manager, book, c, close, qty)
    # approve_entries grows the book it is given: hand it a copy
    approved, rejected = manager.approve_entries(
        day, [EntrySignal(c)], replace(book, sector_values=dict(book.sector_values)))
    return RiskDecision(book=source, considered=considered, equity=book.equity, close=close,
                        risk_per_trade=cfg.risk.risk_per_trade,
                        stop_loss_pct=cfg.signals.exit.stop_loss(c.asset_type), quantity=qty,
                        checks=checks, order=approved[0] if approved else None,
                        rejection=rejected[0] if rejected else None)


def _risk_checks(manager: RiskManager, book: RiskBook, c: Candidate, close: Decimal,
                 qty: Decimal) -> tuple[Check, ...]:
    r, equity, value = manager.cfg, book.equity, qty * close
    gross = book.gross_value + value
    sector = book.sector_values.get(c.sector, ZERO) + value
    cost = manager.entry_cost(qty, close, c.asset_type)
    stop_pct = to_money(manager.exit.stop_loss(c.asset_type))
    raw = equity * to_money(r.risk_per_trade) / (close * stop_pct)  # R6.3 before the floor
    return (
        _breaker_check(manager, book),
        Check("R6.2", "open positions + pending entries", book.open_count, "<", r.max_positions,
              book.open_count < r.max_positions, "count"),
        Check("R6.3", "position size", qty, ">", 0, qty > ZERO, "qty",
              detail=f"floor of {raw:.6f}"),
        Check("R6.4", "gross exposure", _ratio(gross, equity), "<=", r.max_portfolio_exposure,
              gross <= to_money(r.max_portfolio_exposure) * equity, "ratio",
              detail=f"${gross:,.2f} incl. this entry's ${value:,.2f}"),
        Check("R6.5", f"sector exposure ({c.sector})", _ratio(sector, equity), "<=",
              r.max_sector_exposure, sector <= to_money(r.max_sector_exposure) * equity,
              "ratio", detail=f"${sector:,.2f}"),
        Check("R6.6", "entry cost vs free cash", cost, "<=", book.free_cash,
              cost <= book.free_cash, "usd", detail="qty x close x (1 + slippage + commission)"),
    )


def _breaker_check(manager: RiskManager, book: RiskBook) -> Check:
    ok = not manager.breaker_tripped(book.equity, book.previous_equity)
    prev = book.previous_equity
    change = None if not prev else float(book.equity / prev - ONE)
    return Check("R6.1", "equity change since the last step", change, ">",
                 -manager.cfg.max_daily_loss, ok, "pct",
                 detail="" if prev else "no earlier step: the breaker cannot trip")


def _ratio(value: Decimal, equity: Decimal) -> float:
    return float(value / equity) if equity > 0 else math.inf


# ---------------------------------------------------------------- levels (R4.2-R4.5)
def _levels(close: Decimal, *named: tuple[str, Decimal]) -> tuple[Level, ...]:
    return tuple(Level(name, price, float((price - close) / close) if close > 0 else None)
                 for name, price in named)


def _held(state: EngineState | None, ticker: str, ind: IndicatorValues | None,
          cfg: ExitConfig) -> HeldPosition | None:
    pos = None if state is None else state.portfolio.positions.get(ticker)
    if pos is None:
        return None
    close = pos.last_close if ind is None else to_money(ind.close)
    trail = (("trailing stop", pos.trailing_stop) if pos.trailing_stop is not None else
             ("trailing activation",
              pos.entry_price * (ONE + to_money(cfg.trailing_stop_activation))))  # R4.3
    levels = _levels(close, ("stop", pos.stop_price), ("target", pos.target_price), trail,
                     ("protective stop", pos.protective_stop))
    return HeldPosition(position=pos, last_close=close,
                        trailing_active=pos.trailing_stop is not None, levels=levels)


def _what_if_levels(c: Candidate, cfg: ExitConfig) -> tuple[Level, ...]:
    close = to_money(c.close)
    stop, target = exit_levels(close, c.asset_type, cfg)
    return _levels(close, ("stop (if filled at the close)", stop),
                   ("target (if filled at the close)", target),
                   ("trailing activation", close * (ONE + to_money(cfg.trailing_stop_activation))))


# ---------------------------------------------------------------- state and history
def _trade_rows(ticker: str, state: EngineState | None,
                trades: Sequence[TradeRow] | None) -> tuple[TradeRow, ...]:
    if trades is None:
        trades = [] if state is None else [TradeRow.of(t) for t in state.portfolio.trades()]
    return tuple(sorted((t for t in trades if t.ticker == ticker), key=lambda t: t.entry_date))


def _notes(view: MarketView, state: EngineState | None) -> tuple[str, ...]:
    notes = []
    if state is not None and state.last_step != view.day:
        notes.append(f"the paper portfolio's last step is {state.last_step}, not {view.day}: "
                     f"its book is valued at that step's closes")
    cache = None if state is None else state.scan_cache
    if cache is not None and cache.full_scan_date != view.day:
        notes.append(f"this is a full scan of {view.day}; the paper engine's last full scan was "
                     f"{cache.full_scan_date}, and between full scans it re-scores only that "
                     f"scan's candidates (R3.5)")
    return tuple(notes)
