"""promtool, Prometheus' own tool, on the alert rules, their unit tests, the configuration, every
service's /metrics and the Grafana dashboard's queries.

promtool comes from Debian's prometheus package (``scripts/ensure-tools.sh`` unpacks it into
.venv/bin when it is missing).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "suqiu.json"
FIVE = ("intake", "dispatch", "supervision", "assessment", "notify")  # the services with an outbox


def promtool(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool") or str(Path(sys.executable).with_name("promtool"))
    assert Path(tool).exists(), "promtool is needed: bash scripts/ensure-tools.sh (Debian's prometheus package)"
    return subprocess.run([tool, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_alert_rules():
    run = promtool("check", "rules", str(RULES))
    print(f"\n{run.stdout.strip()}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in run.stdout


def test_promtool_unit_tests_pass():
    run = promtool("test", "rules", "alerts_test.yml", cwd=RULES.parent)
    print(f"\n{run.stdout.strip()}")
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def test_the_unit_tests_fail_when_a_rule_is_wrong(tmp_path):
    """promtool test is no rubber stamp: a rule whose threshold moved fails its test."""
    (tmp_path / "alerts.yml").write_text(RULES.read_text(encoding="utf-8").replace(
        "suqiu_outbox_oldest_unsent_age_seconds > 300", "suqiu_outbox_oldest_unsent_age_seconds > 3000"),
        encoding="utf-8")
    shutil.copy(RULES.parent / "alerts_test.yml", tmp_path / "alerts_test.yml")
    run = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert run.returncode != 0 and "SuqiuOutboxBacklog" in run.stdout + run.stderr


def alert_names() -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
            for rule in group["rules"]}


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load((RULES.parent / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert tested == alert_names()


def test_the_prometheus_configuration_loads_the_rules():
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["prometheus/alerts.yml"]
    run = promtool("check", "config", "prometheus.yml", cwd=DEPLOY)
    print(f"\n{run.stdout.strip()}")
    assert run.returncode == 0, run.stdout + run.stderr


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_dashboards_queries_are_promql(tmp_path):
    """Each query of the dashboard, as a recording rule, passes promtool's parser."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(dashboard_queries())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    run = promtool("check", "rules", str(path))
    assert run.returncode == 0, run.stdout + run.stderr


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    volumes = " ".join(compose["services"]["grafana"]["volumes"])
    assert "./grafana/provisioning:/etc/grafana/provisioning" in volumes and "./grafana/dashboards" in volumes
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/suqiu.yml").read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8"))
    uid = source["datasources"][0]["uid"]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])} == {uid}


# ---------------------------------------------------------------- the services' own /metrics
def exposed(mesh) -> dict[str, str]:
    """Every service's exposition text, by service."""
    return {name: requests.get(f"{mesh.url(name)}/metrics", timeout=30).text for name in mesh.services}


@pytest.mark.integration
@pytest.mark.parametrize("service", FIVE)
def test_promtool_checks_each_services_metrics(mesh, service):
    text = requests.get(f"{mesh.url(service)}/metrics", timeout=30).text
    run = promtool("check", "metrics", stdin=text)
    print(f"\npromtool check metrics {service}: exit {run.returncode} {run.stdout.strip()}{run.stderr.strip()}")
    assert run.returncode == 0 and not run.stdout.strip() and not run.stderr.strip(), run.stdout + run.stderr


@pytest.mark.integration
def test_every_suqiu_metric_the_rules_and_dashboard_query_is_exposed(mesh):
    texts = exposed(mesh)
    families = {match for text in texts.values() for match in re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE)}
    wanted = set(re.findall(r"\b(suqiu_[a-z_]+)", RULES.read_text(encoding="utf-8") + " ".join(dashboard_queries())))
    known = families | {f"{f}_{suffix}" for f in families for suffix in ("bucket", "count", "sum", "total")}
    assert wanted - known == set(), f"queried but exposed by no service: {sorted(wanted - known)}"
    for service in FIVE:  # a mesh at rest has nothing waiting in its outboxes (the console keeps none)
        text = texts[service]
        age = re.search(rf'^suqiu_outbox_oldest_unsent_age_seconds{{service="{service}"}} (\S+)$', text, re.MULTILINE)
        assert age is not None and float(age.group(1)) < 60, f"{service}: {age.group(0) if age else 'no outbox age'}"
