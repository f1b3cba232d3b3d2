"""The preflight checks read from the saved paper portfolio and the checkout: state round trip,
docs, and the paper-trading requirements of DEPLOYMENT_CHECKLIST.md (capital, sessions, trades to
review, kill switch)."""
from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from momentum.core.domain import Trade
from momentum.core.errors import MomentumError
from momentum.core.money import money_str
from momentum.ops.preflight import CheckResult, PreflightEnv, Status
from momentum.run.state import SavedState, StateStore
from momentum.run.state_codec import encode_state

PAPER_CAPITAL = Decimal(10000)   # the checklist: "Start with small paper capital ($10k)"
MIN_SESSIONS = 30                # "Run for 30 days minimum"
GO_LIVE_SESSIONS = 60            # go-live: "Successful paper trading (60+ days)"
DOCS = ("README.md", "docs/USER_GUIDE.md", "DEPLOYMENT_CHECKLIST.md", "docs/STRATEGY.md")
NO_PORTFOLIO_FIX = ("create one: `python main.py paper --init --capital 10000`, then `paper --run` "
                    "daily")


def _portfolio(env: PreflightEnv, name: str) -> SavedState | CheckResult:
    try:
        return StateStore(env.state_dir).load()
    except MomentumError as e:
        first = str(e).splitlines()[0]
        if "no paper portfolio" in first:  # its own hint would repeat the fix
            return CheckResult(name, Status.FAIL, f"no paper portfolio in {env.state_dir}/",
                               NO_PORTFOLIO_FIX)
        return CheckResult(name, Status.FAIL, first[:240], "follow the hint above")


def check_state_round_trip(env: PreflightEnv) -> CheckResult:
    """Checklist: state persistence tested (the saved state saves and reloads equal)."""
    saved = _portfolio(env, "state_round_trip")
    if isinstance(saved, CheckResult):
        return saved
    with tempfile.TemporaryDirectory(prefix="momentum-preflight-state-") as tmp:
        copy = StateStore(Path(tmp))
        copy.save(saved.engine, saved.meta, env.clock.now())
        again = copy.load()
    if encode_state(again.engine) != encode_state(saved.engine) or again.meta != saved.meta:
        return CheckResult("state_round_trip", Status.FAIL, f"{saved.path.name} does not reload "
                           "equal after a save", "report this as a bug, with the snapshot")
    return CheckResult("state_round_trip", Status.PASS, f"{saved.path.name} loads (checksum "
                       "verified), saves and reloads equal")


def check_docs(env: PreflightEnv) -> CheckResult:
    """Checklist: documentation complete (the guide, the checklist, the rules, the README)."""
    missing = [d for d in DOCS if not (env.root / d).is_file() or not (env.root / d).stat().st_size]
    if missing:
        return CheckResult("docs", Status.FAIL, "missing: " + ", ".join(missing),
                           "install the complete release")
    return CheckResult("docs", Status.PASS, "present: " + ", ".join(DOCS))


def check_paper_capital(env: PreflightEnv) -> CheckResult:
    """Paper requirements: start with small paper capital ($10k)."""
    saved = _portfolio(env, "paper_capital")
    if isinstance(saved, CheckResult):
        return saved
    capital = saved.engine.initial_capital
    text = f"started with ${money_str(capital)} on {saved.meta.start_date}"
    if capital <= PAPER_CAPITAL:
        return CheckResult("paper_capital", Status.PASS, text)
    return CheckResult("paper_capital", Status.FAIL, f"{text}, more than the checklist's "
                       f"${PAPER_CAPITAL:,}", "start a portfolio with `paper --init --capital "
                       "10000 --state-dir DIR` sized like the real account you would start with")


def check_paper_sessions(env: PreflightEnv) -> CheckResult:
    """Paper requirements: run for 30 sessions minimum (60+ before going live)."""
    saved = _portfolio(env, "paper_sessions")
    if isinstance(saved, CheckResult):
        return saved
    curve = saved.engine.equity_curve
    if len(curve) < MIN_SESSIONS:
        return CheckResult("paper_sessions", Status.FAIL, f"{len(curve)} session(s) run, fewer "
                           f"than {MIN_SESSIONS}", "keep running `paper --run` after each close "
                           "(the scheduler does it)")
    go_live = "" if len(curve) >= GO_LIVE_SESSIONS else f"; {GO_LIVE_SESSIONS}+ before going live"
    return CheckResult("paper_sessions", Status.PASS, f"{len(curve)} sessions run, "
                       f"{curve[0].day} .. {curve[-1].day}{go_live}")


def check_paper_trades(env: PreflightEnv) -> CheckResult:
    """Paper requirements: review all trades manually (every trade is listed below)."""
    saved = _portfolio(env, "paper_trades")
    if isinstance(saved, CheckResult):
        return saved
    trades = saved.engine.portfolio.trades()
    rows = tuple(_trade_line(t) for t in trades)
    if not trades:
        return CheckResult("paper_trades", Status.NA, "no trade yet to review")
    return CheckResult("paper_trades", Status.PASS, f"{len(trades)} trade(s) listed below for "
                       "manual review (also: `paper --export DIR`)", details=rows)


def _trade_line(t: Trade) -> str:
    entry = f"{t.ticker:<8} {t.entry_date} buy {money_str(t.quantity)} @ {t.entry_price:.4f}"
    if t.exit_date is None or t.pnl is None or t.exit_price is None:
        return f"{entry}  open"
    reason = t.exit_reason.value if t.exit_reason else ""
    return f"{entry}  {t.exit_date} sell @ {t.exit_price:.4f} ({reason})  P&L {t.pnl:,.2f}"


def check_kill_switch(env: PreflightEnv) -> CheckResult:
    """Go-live: have the kill switch ready (and know whether it is engaged now)."""
    saved = _portfolio(env, "kill_switch")
    if isinstance(saved, CheckResult):
        return saved
    halt = saved.engine.halt
    if halt is not None:
        flatten = ", positions flattened" if halt.flatten else ""
        return CheckResult("kill_switch", Status.FAIL, f"trading HALTED since {halt.halted_at}: "
                           f"{halt.reason}{flatten}", "`python main.py paper --resume` when the "
                           "cause is fixed")
    return CheckResult("kill_switch", Status.PASS, "not engaged; `python main.py paper --halt "
                       "[--flatten]` stops new entries from the next run")


PAPER_CHECKS = (check_state_round_trip, check_docs, check_paper_capital, check_paper_sessions,
                check_paper_trades, check_kill_switch)
