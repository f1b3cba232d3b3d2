"""Tiingo: the REST client, its request budget, response parsing, the SQLite cache and the source.

Part of the data layer: may import ``core`` and ``data.base`` only. ``client.TiingoClient``
sends the key as a header and retries within a budget (``limits``); ``parse`` turns JSON into
frames; ``cache`` stores bars incrementally; ``source.TiingoSource`` is the ``MarketDataSource``.
"""
