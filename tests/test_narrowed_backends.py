"""Narrowing LINLI_TEST_BACKENDS is loud: a run that skipped a database says so at the end."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(**env):
    full = {k: v for k, v in os.environ.items() if k != "LINLI_TEST_BACKENDS"} | env
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "tests/test_layering.py"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=120)


def test_a_run_on_one_backend_ends_with_a_warning_naming_the_missing_one():
    out = run_pytest(LINLI_TEST_BACKENDS="sqlite")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "NARROWED BACKENDS" in out.stdout and "NOT testing postgresql" in out.stdout
    run_all = run_pytest(LINLI_TEST_BACKENDS="sqlite,postgresql")
    assert "NARROWED" not in run_all.stdout

