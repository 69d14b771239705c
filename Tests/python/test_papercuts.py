"""The papercuts of issue 17, each through the CLI against real processes."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

from conftest import BINARY, Fabric, free_port


def write_spec(directory: Path, name: str, command: str, trials: int = 2, extra: str = "", retries: int = 0,
               budget: str = "") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(f"""
name: {name}
metric: loss
mode: min
space: {{x: {{uniform: [0.0, 1.0]}}}}
searcher: {{type: random, seed: 3}}
trial:
  command: {json.dumps(command)}
  max_retries: {retries}
budget: {{max_trials: {trials}, max_concurrent: 2{budget}}}
{extra}
""")
    return path


def test_submit_wait_exits_non_zero_on_a_failed_study_with_the_reason_config_and_stderr(fabric: Fabric, tmp_path: Path) -> None:
    fabric.worker("w1")
    spec = write_spec(tmp_path, "boom", "echo 'loading data'; echo 'ValueError: bad shape' >&2; exit 3", budget=", fail_fast: true")
    result = fabric.cli("submit", str(spec), "--wait")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"error: study boom-1 failed: fail_fast: trial \d failed: exit code 3: ValueError: bad shape", result.stderr), result.stderr
    assert "  config: x=" in result.stderr and "    ValueError: bad shape" in result.stderr, result.stderr
    trials = fabric.cli("trials", "boom-1")
    assert trials.returncode == 0 and "x=" in trials.stdout and "error: exit code 3: ValueError: bad shape" in trials.stdout, trials.stdout


def test_a_study_whose_every_trial_failed_exits_non_zero_and_a_wrong_script_path_shows_stderr(fabric: Fabric, tmp_path: Path) -> None:
    fabric.worker("w1")
    spec = write_spec(tmp_path, "missing", "python3 /nonexistent/train.py")
    result = fabric.cli("submit", str(spec), "--wait")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "every finished trial failed (2)" in result.stderr, result.stderr
    assert "can't open file '/nonexistent/train.py'" in result.stderr, result.stderr


def test_run_exits_non_zero_when_its_study_fails(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "runfail", "exit 4", trials=1)
    result = subprocess.run([str(BINARY), "run", str(spec), "--workers", "1", "--store", str(tmp_path / "run.db"),
                             "--work-dir", str(tmp_path / "work")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "every finished trial failed (1)" in result.stderr, result.stdout + result.stderr


def test_tell_refuses_nan_and_inf_with_a_clear_error(tmp_path: Path) -> None:
    for value in (["--value", "nan"], ["--value", "inf"], ["--value=-inf"]):
        result = subprocess.run([str(BINARY), "tell", "s-1", "1", *value], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert "--value must be a finite number" in result.stderr and "--state failed" in result.stderr, result.stderr


def test_export_has_each_attempts_own_start_and_csv_values_at_full_precision(fabric: Fabric, tmp_path: Path) -> None:
    fabric.worker("w1")
    script = ('sleep 0.3; if [ "$HYPERLOOM_ATTEMPT" = 1 ]; then exit 3; fi; '
              'echo "@hyperloom {\\"loss\\": 2.2654623982148285}"')
    spec = write_spec(tmp_path, "retried", script, trials=1, retries=1)
    assert fabric.cli("submit", str(spec), "--wait").returncode == 0
    doc = json.loads(fabric.cli("export", "retried-1", "--format", "jsonl").stdout.splitlines()[0])
    first, second = doc["attempt_log"]
    assert second["started_at"] >= first["finished_at"] > first["started_at"], doc["attempt_log"]
    rows = list(csv.DictReader(io.StringIO(fabric.cli("export", "retried-1", "--format", "csv").stdout)))
    assert rows[0]["value"] == "2.2654623982148285" == rows[0]["metric_loss"]


def test_watch_logger_and_logs_find_the_feed_from_hyperloom_broker(fabric: Fabric, tmp_path: Path) -> None:
    fabric.worker("w1")
    spec = write_spec(tmp_path, "watched", "echo out-line; echo '@hyperloom {\"loss\": 0.5}'; echo '@hyperloom {\"loss\": 0.25, \"checkpoint\": true}'", trials=3)
    assert fabric.cli("submit", str(spec), "--wait").returncode == 0
    watch = fabric.cli("watch", "watched-1", timeout=60)  # HYPERLOOM_BROKER only: no --feed
    assert watch.returncode == 0, watch.stderr
    assert "3/3" in watch.stdout and "trial 3 complete" in watch.stdout, watch.stdout + watch.stderr
    assert "did not announce" not in watch.stderr
    out = tmp_path / "feed.jsonl"
    logger = subprocess.Popen([str(BINARY), "logger", "--out", str(out), "--study", "watched-1"], cwd=tmp_path,
                              env={**os.environ, "HYPERLOOM_BROKER": fabric.broker_endpoint},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count('"event":"finished"') < 3):
            time.sleep(0.1)
    finally:
        logger.terminate()
        logger.wait(10)
    assert out.read_text().count('"event":"finished"') == 3
    logs = fabric.cli("logs", "watched-1", "1")
    assert logs.returncode == 0 and "out-line" in logs.stdout, logs.stdout + logs.stderr


def test_a_promotion_study_without_checkpoints_is_warned_about_at_submit_and_in_status(fabric: Fabric, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "promo", "echo '@hyperloom {\"loss\": 0.5, \"epoch\": 1}'", trials=2,
                      extra="scheduler: {type: promotion, resource: epoch, max_t: 3}")
    submitted = fabric.cli("submit", str(spec))
    assert submitted.returncode == 0 and "warning: asha with type: promotion pauses trials" in submitted.stderr, submitted.stderr
    status = fabric.cli("status", "promo-1")
    assert "warning: asha with type: promotion pauses trials" in status.stdout, status.stdout


def test_plot_both_writes_every_svg_when_the_png_converter_fails(fabric: Fabric, tmp_path: Path) -> None:
    fabric.worker("w1")
    spec = write_spec(tmp_path, "plotted", "echo \"@hyperloom {\\\"loss\\\": 0.5}\"", trials=4)
    assert fabric.cli("submit", str(spec), "--wait").returncode == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "rsvg-convert"
    fake.write_text("#!/bin/sh\necho 'rsvg-convert: out of cheese' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "plots"
    result = subprocess.run([str(BINARY), "plot", "plotted-1", "--store", str(fabric.directory / "store.db"), "--out", str(out),
                             "--format", "both"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert "warning: PNG skipped from here on" in result.stderr and "out of cheese" in result.stderr
    svgs = list(out.glob("*.svg"))
    assert len(svgs) >= 2 and len(svgs) == result.stdout.count("wrote "), result.stdout


def test_logger_says_when_nothing_arrives_from_the_feed(tmp_path: Path) -> None:
    quiet = f"tcp://127.0.0.1:{free_port()}"  # nobody publishes there
    logger = subprocess.Popen([str(BINARY), "logger", "--feed", quiet, "--out", str(tmp_path / "x.jsonl")], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(5)
    finally:
        logger.terminate()
        _, err = logger.communicate(timeout=10)
    assert "nothing from the feed for 3 s" in err, err
