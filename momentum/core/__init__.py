"""Core types: domain objects, exact money, errors, the validated config, clock, calendar, files.

Every other layer builds on these; this layer imports nothing else of ``momentum``. Start with
``domain`` (Asset, Bar, Fill, Trade, Rejection, DayResult), ``money`` (Decimal helpers, R5.7),
``config.load_config`` (the only reader of the YAML) and ``errors`` (the exception tree that
``main.py`` maps to exit codes).
"""
