"""momentum: a daily momentum swing-trading system for US stocks and crypto.

The package is cut into layers, one folder each, and imports only go down the list:
``core`` (types) <- ``data`` (bars, sources, indicators) <- ``rules`` (pure R3-R6, R8) <- ``run``
(the one daily step and its runners) <- ``reports`` / ``notify`` (presentation and alerts) <-
``ops`` / ``research`` (scheduling, optimization) <- the top-level entry points (``main.py``,
``scheduler.py``, ``dashboard.py``). ``tests/unit/test_layers.py`` enforces the table. Start
reading at ``momentum.run.engine.run_day``.
"""
