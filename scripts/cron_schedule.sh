#!/usr/bin/env bash
# Run one scheduled paper-trading step: `scheduler.py --once` (docs/SCHEDULING.md).
#
# crontab (scheduler.py --install cron prints these lines):
#   CRON_TZ=America/New_York
#   5 16 * * 1-5 /path/to/momentum/scripts/cron_schedule.sh
#
# It cds to the project, activates its virtualenv when there is one (.venv/ or venv/), runs
# the scheduler once (which skips NYSE holidays, retries exit 75 and alerts on failure) and
# appends everything to logs/cron.log. Extra arguments (e.g. --config FILE) go to scheduler.py.
# The exit code is the scheduler's: 0 done, 2 a configuration mistake, 75 try again later.
set -u

cd "$(dirname "$0")/.." || exit 1
if [ -f .venv/bin/activate ]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
elif [ -f venv/bin/activate ]; then
    # shellcheck disable=SC1091
    . venv/bin/activate
fi
# cron's PATH is short: python3 from the virtualenv, else MOMENTUM_PYTHON, else the system's.
PYTHON="${MOMENTUM_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON=python; else PYTHON=python3; fi
fi

mkdir -p logs
{
    echo "[$(date -u '+%Y-%m-%dT%H:%M:%SZ')] cron_schedule.sh: $PYTHON scheduler.py --once $*"
    "$PYTHON" scheduler.py --once "$@"
    code=$?
    echo "[$(date -u '+%Y-%m-%dT%H:%M:%SZ')] cron_schedule.sh: exit $code"
    exit "$code"
} >> logs/cron.log 2>&1
