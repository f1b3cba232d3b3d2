"""Pure parts of momentum/research: search space, windows, efficiency, deflated Sharpe, trials."""
from __future__ import annotations

from datetime import date

import pytest

from momentum.core.config import StrategyConfig
from momentum.core.errors import ConfigError
from momentum.research.overfit import (deflated_sharpe, edge_params, expected_max_sharpe,
                                       neighbours)
from momentum.research.search import Search, SearchPlan, grid_points
from momentum.research.space import apply_overrides, parse_param, parse_space
from momentum.research.trials import TrialLog, TrialRecord, read_trials
from momentum.research.walkforward import (curve_cagr, efficiency, make_windows, parse_span,
                                           stitch)

BASE = StrategyConfig()


def test_param_list_range_and_log_expand_to_their_values():
    assert parse_param("signals.entry.rsi_min=45,50,55", BASE).values == (45.0, 50.0, 55.0)
    stops = parse_param("signals.exit.stop_loss_stock=0.05:0.12:0.01", BASE)
    assert stops.values == (0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12)
    rates = parse_param("risk.risk_per_trade=0.001:0.1:log3", BASE)
    assert rates.values == pytest.approx((0.001, 0.01, 0.1)) and rates.log
    assert parse_param("risk.max_positions=4,8", BASE).values == (4, 8)


@pytest.mark.parametrize("spec, words", [
    ("signals.entry.rsi_mn=45", "did you mean 'signals.entry.rsi_min'"),
    ("risk.max_positions=0,4", "greater than 0"),
    ("risk.max_positions=four", "not a valid int"),
    ("data.synthetic.seed=1,2", "cannot be searched"),
    ("signals.entry=1", "is a section"),
    ("rsi_min", "KEY=v1,v2"),
    ("signals.exit.stop_loss_stock=0.2:0.1:0.01", "lo must be below hi"),
])
def test_param_bad_key_or_value_is_one_config_error_line(spec, words):
    with pytest.raises(ConfigError) as caught:
        parse_param(spec, BASE)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_space_refuses_a_key_given_twice():
    with pytest.raises(ConfigError, match="given twice"):
        parse_space(["risk.max_positions=4", "risk.max_positions=8"], BASE)


def test_apply_overrides_validates_through_the_model():
    cfg = apply_overrides(BASE, {"signals.entry.rsi_min": 45.0, "risk.max_positions": 3})
    assert cfg.signals.entry.rsi_min == 45.0 and cfg.risk.max_positions == 3
    assert BASE.risk.max_positions == 8  # the base is untouched


def test_grid_is_every_combination_last_key_fastest():
    space = parse_space(["risk.max_positions=4,8", "signals.entry.rsi_min=45,50"], BASE)
    assert grid_points(space) == [
        {"risk.max_positions": 4, "signals.entry.rsi_min": 45.0},
        {"risk.max_positions": 4, "signals.entry.rsi_min": 50.0},
        {"risk.max_positions": 8, "signals.entry.rsi_min": 45.0},
        {"risk.max_positions": 8, "signals.entry.rsi_min": 50.0}]


def _run_tpe(order: list[int]) -> list[dict]:
    """Drive a TPE search, telling each batch's results in the given completion order."""
    space = parse_space(["signals.exit.stop_loss_stock=0.05:0.12:0.01",
                         "risk.max_positions=1:10:1"], BASE)
    search = Search(SearchPlan("bayes", tuple(space), 24, seed=3, batch_size=8))
    asked = []
    for batch in search.batches():
        asked += [p for _, p in batch]
        scores = {n: p["signals.exit.stop_loss_stock"] * p["risk.max_positions"]
                  for n, p in batch}
        search.tell({n: scores[n] for n in sorted(scores, key=lambda n: order[n % 8])})
    return asked


def test_tpe_batches_do_not_depend_on_completion_order():
    assert _run_tpe(list(range(8))) == _run_tpe(list(reversed(range(8))))


def test_windows_train_ends_before_test_and_tests_follow_each_other():
    windows = make_windows(date(2016, 1, 1), date(2020, 3, 31), parse_span("3y"),
                           parse_span("6m"))
    assert [(w.train_start, w.train_end, w.test_start, w.test_end) for w in windows] == [
        (date(2016, 1, 1), date(2018, 12, 31), date(2019, 1, 1), date(2019, 6, 30)),
        (date(2016, 7, 1), date(2019, 6, 30), date(2019, 7, 1), date(2019, 12, 31)),
        (date(2017, 1, 1), date(2019, 12, 31), date(2020, 1, 1), date(2020, 3, 31))]
    for w, nxt in zip(windows, windows[1:], strict=False):
        assert w.train_end < w.test_start and nxt.test_start > w.test_end


def test_anchored_windows_all_train_from_the_start():
    windows = make_windows(date(2016, 1, 1), date(2020, 12, 31), parse_span("3y"),
                           parse_span("1y"), anchored=True)
    assert {w.train_start for w in windows} == {date(2016, 1, 1)}
    assert [w.train_end for w in windows] == [date(2018, 12, 31), date(2019, 12, 31)]
    assert windows[-1].test_end == date(2020, 12, 31)


@pytest.mark.parametrize("text", ["3", "0y", "-1m", "3q", ""])
def test_span_bad_text_is_a_config_error(text):
    with pytest.raises(ConfigError):
        parse_span(text)


def test_step_shorter_than_test_is_refused():
    with pytest.raises(ConfigError, match="overlap"):
        make_windows(date(2016, 1, 1), date(2020, 1, 1), parse_span("1y"), parse_span("6m"),
                     parse_span("3m"))


def test_efficiency_by_hand_on_a_two_window_case():
    # two test windows of one year each, each starting from the previous final equity
    first = [("2020-01-01", "100"), ("2020-12-31", "110")]
    second = [("2021-01-01", "110"), ("2021-12-31", "121")]
    curve = stitch([first, second])
    assert curve[2] == ("2021-01-01", "110")  # the carry: the next window starts at 110
    # 100 -> 121 over 730 days: (1.21) ** (365.25 / 730) - 1
    oos = curve_cagr(curve)
    assert oos == pytest.approx(1.21 ** (365.25 / 730) - 1)
    # in-sample CAGRs 0.20 and 0.10: mean 0.15, efficiency = oos / 0.15
    assert efficiency(oos, [0.20, 0.10]) == pytest.approx(oos / 0.15)
    assert efficiency(oos, [-0.1, 0.05]) is None  # a losing in-sample mean has no ratio


def test_deflated_sharpe_matches_the_papers_numerical_example():
    # Bailey & Lopez de Prado (2014), "A numerical example": N = 100 trials, annualized Sharpe
    # variance 0.5 across them, T = 1250 daily returns, best annualized Sharpe 2.5, skewness
    # -3, kurtosis 10. The paper gives SR0 ~ 0.1132 (per day) and DSR ~ 0.9004.
    variance, sharpe = 0.5 / 250, 2.5 / 250 ** 0.5
    assert expected_max_sharpe(variance, 100) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe(sharpe, variance, 100, 1250, -3, 10) == pytest.approx(0.9004,
                                                                                 abs=5e-4)


def test_deflated_sharpe_falls_with_more_trials():
    args = (0.1, 0.002)
    assert deflated_sharpe(*args, 10, 1000, 0, 3) > deflated_sharpe(*args, 1000, 1000, 0, 3)


def _records(space, scores):
    return [TrialRecord(n, p, "ok", objective=scores[n], metrics={"sharpe": scores[n]})
            for n, p in enumerate(grid_points(space))]


def test_neighbours_are_one_grid_step_away_and_edges_are_flagged():
    space = parse_space(["signals.entry.rsi_min=40,45,50,55",
                         "signals.exit.stop_loss_stock=0.05,0.08,0.11"], BASE)
    records = _records(space, [float(i) for i in range(12)])
    centre = records[4]  # rsi 45, stop 0.08
    assert sorted(r.number for r in neighbours(records, centre, space)) == [0, 1, 2, 3, 5, 6,
                                                                             7, 8]
    assert edge_params(centre, space) == ()
    assert edge_params(records[11], space) == ("signals.entry.rsi_min",
                                               "signals.exit.stop_loss_stock")


def test_trial_log_round_trips_and_drops_a_cut_off_line(tmp_path):
    space = parse_space(["signals.exit.stop_loss_stock=0.05,0.1", "risk.max_positions=4"], BASE)
    path = tmp_path / "trials.csv"
    log = TrialLog(path, space, [])
    metrics = {"sharpe": 1.2345678901234567, "trades": 31, "final_equity": "101.125",
               "cagr": None}
    log.add(TrialRecord(1, {"signals.exit.stop_loss_stock": 0.1, "risk.max_positions": 4}, "ok",
                        1.2345678901234567, metrics, seed=7, duration_s=0.5))
    log.add(TrialRecord(0, {"signals.exit.stop_loss_stock": 0.05, "risk.max_positions": 4},
                        "rejected", None, metrics, seed=7, note="3 trades < 30"))
    finished = path.read_text()
    with path.open("a") as handle:
        handle.write("2,ok,1.0")  # the line a killed run was writing
    back = read_trials(path, space)
    assert [r.number for r in back] == [1, 0]
    assert back[0].metrics["sharpe"] == 1.2345678901234567 and back[0].metrics["trades"] == 31
    TrialLog(path, space, back).finish()
    assert sorted(path.read_text().splitlines()) == sorted(finished.splitlines())


def test_best_config_names_secrets_by_variable_and_round_trips(tmp_path):
    from momentum.core.config import load_config
    from momentum.research.optimize import best_config_text
    base = StrategyConfig.model_validate({"api": {"tiingo_api_key": "7e3a9c1f5b2d4e6a8c0b1d3f5a7c9e1b2d4f6a8c"},
                                          "alerts": {"smtp_password": "pw-secret-2"}})
    text = best_config_text(base, {"risk.max_positions": 5}, None, "python main.py backtest")
    assert "7e3a9c1f5b2d4e6a8c0b1d3f5a7c9e1b2d4f6a8c" not in text and "pw-secret-2" not in text
    assert "${TIINGO_API_KEY}" in text and "${SMTP_PASSWORD}" in text
    path = tmp_path / "best.yaml"
    path.write_text(text)
    env = {"TIINGO_API_KEY": "7e3a9c1f5b2d4e6a8c0b1d3f5a7c9e1b2d4f6a8c", "SMTP_PASSWORD": "pw-secret-2"}
    loaded = load_config(path, environ=env)
    assert loaded == apply_overrides(base, {"risk.max_positions": 5})


def test_a_clipped_last_test_window_without_a_session_is_dropped():
    # 2019-01-01 + 2y train, 1y test steps: the 5th test window is clipped to 2024-01-01 alone,
    # New Year's Day (no NYSE session): it is dropped instead of failing after four sweeps.
    from momentum.research.walkforward import with_sessions
    windows = make_windows(date(2019, 1, 1), date(2024, 1, 1), parse_span("2y"), parse_span("1y"))
    assert (windows[-1].test_start, windows[-1].test_end) == (date(2024, 1, 1), date(2024, 1, 1))
    kept = with_sessions(windows)
    assert len(kept) == len(windows) - 1 and [w.index for w in kept] == [1, 2, 3]
    assert kept[-1].test_end == date(2023, 12, 31)
