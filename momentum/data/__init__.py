"""Market data: the source interface, the CSV, synthetic and Tiingo sources, the market.

May import ``core`` only. ``base.MarketDataSource`` is the interface every source implements;
``sources.build_source`` picks one from the config; ``market.Market.load`` reads a source once,
computes the R2 indicators per asset (``indicators``, vectorized) and hands out
``market.until(day)`` views that cannot see a bar after ``day`` (R1.2). The Tiingo client, its
cache and its parsing live in ``data/tiingo/``.
"""
