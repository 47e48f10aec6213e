"""deploy/ stays true to the code: the alert rules and the dashboard name metrics GET /metrics
serves, the Procfile and systemd units run real `linli` commands, the dashboard is valid JSON."""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from app.manifest.jobs import build_manifests_job

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\b(linli_[a-z_]+?)(?:_bucket|_count|_sum)?\b")


def served_names(client) -> set[str]:
    text = client.get("/metrics").get_data(as_text=True)
    return {m.group(1) for m in re.finditer(r"^# TYPE (linli_\w+) ", text, re.M)}


def test_alerts_and_the_dashboard_name_metrics_that_are_served(app, client):
    client.get("/healthz")
    with app.app_context():
        build_manifests_job(date.today().isoformat())  # the build's own metrics appear after one
    served = served_names(client)
    dashboard = json.loads((DEPLOY / "grafana" / "linli-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += re.findall(r"expr: (.+)", (DEPLOY / "alerts.yml").read_text())
    named = {m.group(1) for e in exprs for m in METRIC.finditer(e)}
    # Histograms and counters are served under their family name.
    named = {n.removesuffix("_total") for n in named}
    served = {n.removesuffix("_total") for n in served}
    assert named - served == set()


def test_the_procfile_and_units_run_real_linli_commands():
    lines = [ln.split(":", 1)[1].split() for ln in (DEPLOY / "Procfile").read_text().splitlines()
             if ln and not ln.startswith("#")]
    lines += [ln.split("linli ", 1)[1].split() for unit in (DEPLOY / "systemd").glob("*.service")
              for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    assert {cmd[0] for cmd in lines} >= {"serve", "worker", "scheduler", "db"}
    for cmd in lines:
        words = [w.replace("%i", "8001") for w in (cmd if cmd[0] != "linli" else cmd[1:])]
        if words[0] == "linli":
            words = words[1:]
        args = [w for w in words if not w.startswith("--")][:2] if words[0] == "db" else [words[0]]
        assert CliRunner().invoke(main, [*args, "--help"]).exit_code == 0, words
