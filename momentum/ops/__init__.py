"""Ops: running the system day after day: the scheduler (7.2.4), preflight checks, test alerts.

May import ``core``, ``data``, ``rules``, ``run``, ``reports`` and ``notify``; nothing imports it
but the entry points. The scheduler never runs the engine itself: it starts ``python main.py paper
--run`` as a subprocess, so a crash or a hang of the run cannot take the scheduler down. Where to
start reading:

- ``timing``: when a firing is due (``run_at`` in ``timezone`` on NYSE sessions), from an
  injected clock, whatever the machine's own time zone;
- ``job``: one firing: the command with a timeout, retries on exit 75, a per-run log file;
- ``lock``: one scheduler (or cron run) at a time; ``status``: ``logs/scheduler_status.json``;
- ``failure``: the e-mail / Slack alert of a failed run (tail of output, secrets masked);
- ``loop``: ``Scheduler.tick`` (one decision) and ``run_forever`` (the ``schedule`` loop);
- ``install``: the crontab line and the Windows Task Scheduler XML;
- ``preflight.run_preflight``: each item of DEPLOYMENT_CHECKLIST.md that a program can check is
  one small function in ``checks`` or ``checks_paper``; ``alert_test``: ``main.py alerts --test``.
"""
