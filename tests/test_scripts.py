"""scripts/lib.sh, which scripts/run and scripts/test source: one short line a set-up step, the tools'
output in a log, and on failure the log's tail, its path and a non-zero exit. Cheap: no environment is
created here (the app environment's step only finds it up to date)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

STEP_LINE = re.compile(r"^• (.+) \((\d+\.\d s|\d+ min \d+ s)\)$")


def lib(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``script`` run by bash after sourcing scripts/lib.sh, with its log in tmp_path."""
    environment = {**os.environ, "PANDAWA_LOG": str(tmp_path / "setup.log"),
                   "PANDAWA_CACHE": str(tmp_path / "cache"), "CI": "", **env}
    return subprocess.run(["bash", "-c", f"source scripts/lib.sh; {script}"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_a_step_prints_one_short_line_and_its_output_goes_to_the_log(tmp_path):
    done = lib('step "making noise" bash -c "seq 1 500; echo warning >&2"', tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert STEP_LINE.match(line) and "making noise" in line and done.stdout == ""
    log = (tmp_path / "setup.log").read_text()
    assert "\n500\n" in log and "warning" in log


def test_a_failing_step_prints_the_log_s_tail_and_path_and_stops_the_script(tmp_path):
    script = 'f() { seq 1 100; false; echo "after the failure"; }; step "breaking" f; echo "script went on"'
    failed = lib(script, tmp_path)
    assert failed.returncode == 1
    out = failed.stderr
    assert "✗ breaking failed" in out and f"full log: {tmp_path / 'setup.log'}" in out
    assert "\n100\n" in out and "\n70\n" not in out  # the last 30 lines only
    assert "after the failure" not in out + (tmp_path / "setup.log").read_text()  # set -e inside the step
    assert "script went on" not in out + failed.stdout


def test_on_ci_a_failing_step_prints_the_whole_log(tmp_path):
    failed = lib('step "breaking" bash -c "seq 1 100; exit 4"', tmp_path, CI="true")
    assert failed.returncode == 4
    assert "\n1\n" in failed.stderr and "\n100\n" in failed.stderr and "full log:" in failed.stderr


def test_the_app_environment_step_is_one_line_when_it_is_ready(tmp_path):
    hashed = subprocess.run(["bash", "-c", "cat requirements.lock requirements-dev.lock | sha256sum | cut -c1-16"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    if not (ROOT / ".venv" / f".lock-{hashed}").is_file():
        pytest.skip("the app environment is not up to date (scripts/test brings it up to date first)")
    done = lib("ensure_app_venv", tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert STEP_LINE.match(line) and "app environment" in line


def test_durations_are_short(tmp_path):
    done = lib('echo "$(elapsed $(( $(now_us) - 2100000 )))|$(elapsed $(( $(now_us) - 192000000 )))"', tmp_path)
    assert done.stdout.strip() == "2.1 s|3 min 12 s"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_the_default_log_stays_out_of_git(tmp_path):
    done = lib("echo $SETUP_LOG", tmp_path, PANDAWA_LOG="")
    default = Path(done.stdout.strip())
    assert default.parent == ROOT / ".logs"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(default)], cwd=ROOT)
    assert ignored.returncode == 0


def test_the_scripts_parse():
    for name in ("lib.sh", "run", "test"):
        checked = subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
