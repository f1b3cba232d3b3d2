"""Notify: alerts built from a day's results, and their delivery (log, console, e-mail, Slack).

May import ``core``, ``data``, ``rules`` and ``run``. ``alerts.build_alerts`` decides what to say
(and masks secrets); ``delivery.dispatcher_from_config`` sends it over the configured channels, a
failed channel logged and never stopping the day.
"""
