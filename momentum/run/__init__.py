"""Run: the one daily step and the runners that call it.

May import ``core``, ``data`` and ``rules``. ``engine.run_day`` is the single daily step (R7);
``backtester.run_backtest``, ``paper.PaperTrader`` and ``validation`` are its only callers.
``state`` / ``state_codec`` save and load the paper portfolio atomically and validate it on load.
"""
