"""Reports: presenting results (backtest report, charts, daily report, console tables, analysis).

May import ``core``, ``data``, ``rules`` and ``run`` (to read their results and states); never
starts a run itself. ``backtest`` writes the backtest outputs and report.html, ``daily`` the
end-of-day report, ``console`` the rich tables, ``analysis`` / ``analysis_view`` the
``analyze-trade`` explanation, ``validation`` the paper-vs-backtest report.
"""
