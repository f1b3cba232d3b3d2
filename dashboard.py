"""The monitoring dashboard (spec 7.2.5): six tabs over the saved paper state or a backtest.

    streamlit run dashboard.py                               the portfolio of logging.snapshot_dir
    streamlit run dashboard.py -- --state-dir DIR            another paper portfolio
    streamlit run dashboard.py -- --backtest output/backtest_2022-01-01_2024-01-01
    streamlit run dashboard.py -- --config FILE              another configuration

It reads files only (never the network, the engine or the broker) through
momentum/reports/dashboard/; .streamlit/config.toml binds it to 127.0.0.1.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `streamlit run` from any folder

from momentum.reports.dashboard.app import main  # noqa: E402

main(sys.argv[1:])
