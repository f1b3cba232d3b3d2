"""Rules: the strategy's pure functions and objects (STRATEGY.md R3-R6 and R8).

May import ``core`` and ``data`` only; never the clock, the environment, files or the network
(``tests/unit/test_layers.py`` checks). ``scanner`` (R3), ``signals`` (R4), ``risk.RiskManager``
(R6), ``broker`` (R5 fills), ``portfolio.Portfolio`` (the one mutable book) and ``metrics`` (R8).
"""
