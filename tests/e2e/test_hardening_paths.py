"""Issue 17 findings 9 and 11: every user-given path is checked before work starts (one line,
exit 2, no traceback), and each --state-dir portfolio keeps its own reports."""
from __future__ import annotations

import os

import pytest

import main as cli
from tests.e2e import test_paper
from tests.e2e.test_paper import SESSIONS, paper

cache_dir, config = test_paper.cache_dir, test_paper.config  # the shared fixtures


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_backtest_output_naming_a_file_fails_before_the_backtest(config, tmp_path, capsys,
                                                                  monkeypatch):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("the backtest ran before the path was checked")

    monkeypatch.setattr(cli.MomentumStrategy, "run_backtest", must_not_run)
    monkeypatch.setattr(cli.MomentumStrategy, "load_market", must_not_run)
    code = cli.main(["backtest", "--start", "2024-01-02", "--end", "2024-02-01",
                     "--config", str(config), "--output", str(target)])
    assert code == 2
    assert one_error_line(capsys) == f"error: --output {target}: is a file, not a folder; pass a " \
                                     f"folder path"


def test_state_dir_and_export_naming_a_file_are_one_line(config, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert paper(config, "--init", "--date", SESSIONS[0], state_dir=afile) == 2
    assert "--state-dir" in one_error_line(capsys)
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    capsys.readouterr()
    assert paper(config, "--export", str(afile)) == 2
    assert "--export" in one_error_line(capsys)
    assert paper(config, "--run", "--from-snapshot", str(tmp_path / "nope.json")) == 2
    assert "--from-snapshot" in one_error_line(capsys)


def test_analyze_html_naming_a_folder_is_one_line(config, tmp_path, capsys):
    code = cli.main(["analyze-trade", "AAPL", "--config", str(config), "--html", str(tmp_path)])
    assert code == 2 and "--html" in one_error_line(capsys)


def test_unreadable_snapshot_is_one_line_naming_the_good_one(config, tmp_path, capsys):
    state = tmp_path / "snapshots"
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    assert paper(config, "--run", "--date", SESSIONS[2]) == 0
    latest = state / f"state_{SESSIONS[2]}.json"
    latest.unlink()
    latest.mkdir()  # unreadable as a file (mode 000 does not stop root)
    capsys.readouterr()
    assert paper(config, "--run", "--date", SESSIONS[3]) == 2
    line = one_error_line(capsys)
    assert "cannot be read" in line and f"--from-snapshot {state / f'state_{SESSIONS[1]}.json'}" \
        in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: permissions cannot be tested")
def test_read_only_state_dir_is_one_line(config, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    assert paper(config, "--init", "--date", SESSIONS[0], state_dir=ro) == 2
    assert "is not writable" in one_error_line(capsys)


def test_each_state_dir_keeps_its_own_reports(config, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for state_dir, capital in ((first, "10000"), (second, "50000")):
        assert paper(config, "--init", "--date", SESSIONS[0], "--capital", capital,
                     state_dir=state_dir) == 0
        assert paper(config, "--run", "--date", SESSIONS[1], state_dir=state_dir) == 0
    name = f"daily_report_{SESSIONS[1]}.txt"
    one, two = (first / "reports" / name).read_text(), (second / "reports" / name).read_text()
    assert "10,0" in one and "50,0" in two and one != two
    assert not (tmp_path / "reports" / name).exists()
