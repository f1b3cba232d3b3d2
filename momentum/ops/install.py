"""Installing the daily trigger: the crontab block and the Windows Task Scheduler XML (7.2.4).

Both run ``scheduler.py --once``, which itself skips NYSE holidays, so the triggers only need
"Monday to Friday at run_at". cron gets ``CRON_TZ`` so it fires at New York time on a machine
in any zone; the Task Scheduler has no such setting, so the XML carries the machine's local
time of the next firing (and its weekdays, which shift on machines east of UTC+8 or so).
"""
from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from xml.sax.saxutils import escape

from momentum.core.ops_config import SchedulerConfig
from momentum.core.errors import ConfigError

BEGIN = "# BEGIN momentum scheduler (written by scheduler.py --install cron --write)"
END = "# END momentum scheduler"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def cron_block(cfg: SchedulerConfig, script: Path, extra_args: Sequence[str] = ()) -> str:
    """The crontab lines: CRON_TZ, then run_at Monday-Friday calling cron_schedule.sh."""
    hour, minute = (int(part) for part in cfg.run_at.split(":"))
    args = "".join(f" {_sh_quote(a)}" for a in extra_args)
    return (f"{BEGIN}\nCRON_TZ={cfg.timezone}\n"
            f"{minute} {hour} * * 1-5 {_sh_quote(str(script))}{args}\n{END}\n")


def merge_crontab(current: str, block: str) -> str:
    """`current` with any earlier momentum block replaced by `block`, placed last."""
    kept, inside = [], False
    for line in current.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif inside and line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    body = "\n".join(kept).rstrip("\n")
    # Last, since CRON_TZ applies to every line after it.
    return (body + "\n" if body else "") + block


def install_crontab(block: str, crontab: str = "crontab") -> str:
    """Read the user's crontab, merge the block in, install it; return the new crontab."""
    try:
        listed = subprocess.run([crontab, "-l"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ConfigError("the `crontab` command is not installed; install cron, or add the "
                          "printed lines by hand (docs/SCHEDULING.md)") from None
    # `crontab -l` exits 1 with "no crontab for user" when there is none yet.
    current = listed.stdout if listed.returncode == 0 else ""
    new = merge_crontab(current, block)
    wrote = subprocess.run([crontab, "-"], input=new, capture_output=True, text=True, timeout=30)
    if wrote.returncode != 0:
        raise ConfigError(f"crontab refused the new table: {wrote.stderr.strip()[:200]}")
    return new


def local_trigger(cfg: SchedulerConfig, now: datetime, local: tzinfo) -> tuple[str, list[str]]:
    """The machine-local 'HH:MM:SS' and weekdays of the next Monday-Friday firings."""
    # Here, not at the top: `--install cron` needs no calendar (pandas) at all.
    from momentum.ops.timing import firing_time, local_date
    # Every weekday of the coming week, holidays included: the trigger is weekly.
    days_ahead = (local_date(now, cfg) + timedelta(days=i) for i in range(1, 8))
    times = [firing_time(d, cfg).astimezone(local) for d in days_ahead if d.weekday() < 5]
    days = sorted({t.weekday() for t in times})
    return f"{times[0]:%H:%M:%S}", [_DAYS[d] for d in days]


def task_xml(cfg: SchedulerConfig, python: str, project: Path, now: datetime, local: tzinfo,
             extra_args: Sequence[str] = ()) -> str:
    """A Task Scheduler 1.2 task: weekly, Monday-Friday at run_at, `scheduler.py --once`."""
    at, days = local_trigger(cfg, now, local)
    limit_h = int((cfg.timeout_minutes * (cfg.max_retries + 1)
                   + cfg.retry_minutes * cfg.max_retries) // 60) + 1
    args = " ".join(["scheduler.py", "--once", *(_win_quote(a) for a in extra_args)])
    day_tags = "".join(f"<{d} />" for d in days)
    start = f"{now.astimezone(local):%Y-%m-%d}T{at}"
    return _TASK_XML.format(ns=TASK_NS, run_at=escape(cfg.run_at), zone=escape(cfg.timezone),
                            local_time=at[:5], start=start, day_tags=day_tags, limit_h=limit_h,
                            python=escape(python), args=escape(args),
                            project=escape(str(project)))


_TASK_XML = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="{ns}">
  <RegistrationInfo>
    <Description>momentum: paper trading after the NYSE close ({run_at} \
{zone} = {local_time} on this machine); scheduler.py --once skips holidays. \
See docs/SCHEDULING.md.</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>{start}</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByWeek>
        <DaysOfWeek>{day_tags}</DaysOfWeek>
        <WeeksInterval>1</WeeksInterval>
      </ScheduleByWeek>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT{limit_h}H</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{python}</Command>
      <Arguments>{args}</Arguments>
      <WorkingDirectory>{project}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def _sh_quote(text: str) -> str:
    return shlex.quote(text).replace("%", "\\%")  # cron turns a bare % into a newline


def _win_quote(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ' \t"') else text
