"""The monitoring dashboard's package side (spec 7.2.5): files in, frames and figures out.

Part of the ``reports`` layer, but stricter: it may import ``core``, ``data.market`` (the writer,
for bars), ``rules.metrics`` and ``reports``; it never imports the engine, the broker, the paper
runner, the Tiingo client or ``requests`` (``tests/unit/test_layers.py`` enforces it), so the
dashboard can only read what runs wrote. Start with ``feed`` (what the paper run writes beside
its snapshot, and its reader), then ``readers`` (snapshot and backtest folders into
``Source``), ``views`` (the tab figures as plain frames) and ``app`` (the Streamlit page).
"""
