"""Operations: running the system day after day (scheduling, preflight checks, test alerts).

May import every layer below it (``core``, ``data``, ``rules``, ``run``, ``reports``, ``notify``);
nothing imports it but the entry points. Start with ``preflight.run_preflight``: each item of
DEPLOYMENT_CHECKLIST.md that a program can check is one small function in ``checks`` or
``checks_paper``.
"""
