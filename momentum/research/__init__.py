"""Research: parameter search (`main.py optimize`) and walk-forward testing on Dask.

This layer turns a search space into trials, runs each trial as an ordinary backtest
(`momentum.run.backtester.run_backtest`, the one daily step, R7) on Dask workers that load the
market once each, and writes trials.csv, best_config.yaml and report.html. It may import
core, data, rules, run, reports and notify; nothing below imports it.

Start reading at `optimize.run_optimize` and `walkforward.run_walk_forward` (the two entry
points main.py calls); `space` parses --param specs, `search` proposes trials (grid, random,
Optuna TPE), `cluster` owns the Dask client and the per-worker market, `trials` the CSV,
`objective` the metrics and constraints, `overfit` the deflated Sharpe ratio and the stability
checks, `report` the HTML.
"""
