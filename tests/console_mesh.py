"""The whole mesh with the console, for the browser tests and the console's access matrix.

One mesh per test module (six processes: the five services and the console) on a vhost and
databases of its own, free ports, ``SIMULATED_CLOCK``: every request says when it happens
(``X-Suqiu-Now``), so no test depends on the wall clock. The console's database holds one
account per role; the enterprise registry two enterprises.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from scripts.mesh import Mesh, available_services
from shared.db import normalise_url
from shared.testing import TOKENS_FILE, free_port, fresh_database, fresh_vhost, wait_for
from shared.workdays import SHANGHAI

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)  # a Tuesday in ISO week 2026-W48
WEEK = "2026-W48"
PASSWORD = "suqiu-console-2026"
CONSOLE_SECRET = "browser-tests-console-secret"
CODE = "91350100M000100Y43"  # the enterprise of tests/tokens.yaml's t-enterprise
OTHER_CODE = "91110000600037341L"
# username -> (name, role, unit)
PEOPLE = {
    "wangfang": ("王芳", "unit_clerk", "hrss"),
    "qianjz": ("钱局长", "unit_leader", "hrss"),
    "zhaolei": ("赵磊", "unit_clerk", "tax"),
    "chenzr": ("陈主任", "office", "office"),
    "zhangming": ("张明", "cadre", None),
    "liufs": ("刘副市长", "leader", None),
    "admin": ("系统管理员", "admin", None),
}
LABOUR = {"credit_code": CODE, "enterprise_name": "汉江精密机械有限公司", "title": "招工难", "category": "用工",
          "description": "春节后缺少熟练工人，希望人社部门组织专场招聘", "district": "汉台区", "channel": "visit"}
NOWHERE = {"credit_code": OTHER_CODE, "enterprise_name": "秦岭食品有限公司", "title": "厂区门口路灯不亮",
           "description": "厂区门口道路照明长期损坏", "district": "外省某县", "channel": "visit"}


@dataclass
class ConsoleMesh:
    mesh: Mesh
    console: str

    def url(self, service: str) -> str:
        return self.mesh.url(service)

    def api(self, method: str, service: str, path: str, token: str, at: datetime = NOW, expect=(200, 201),
            **kwargs) -> dict:
        headers = {"Authorization": f"Bearer {token}", "X-Suqiu-Now": at.isoformat()}
        response = requests.request(method, self.url(service) + path, headers=headers, timeout=30, **kwargs)
        assert response.status_code in expect, f"{method} {service}{path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def submit(self, appeal: dict, at: datetime = NOW, token: str = "t-cadre") -> str:
        body = {**appeal, "collected_at": (at - timedelta(hours=2)).isoformat()}
        return self.api("POST", "intake", "/api/v1/appeals", token, at, json=body)["id"]

    def dispatched(self, appeal_id: str, status: str = "dispatched") -> dict:
        def seen():
            response = requests.get(f"{self.url('dispatch')}/api/v1/office/appeals/{appeal_id}",
                                    headers={"Authorization": "Bearer t-office"}, timeout=30)
            return response.json() if response.ok and response.json()["status"] == status else None
        return wait_for(seen, 30, 0.2, f"{appeal_id} {status}")

    def unit_act(self, unit_token: str, appeal_id: str, action: str, at: datetime = NOW, **body) -> dict:
        return self.api("POST", "dispatch", f"/api/v1/desk/appeals/{appeal_id}/{action}", unit_token, at, json=body)


def add_people(database_url: str) -> None:
    from services.console import domain, handlers
    from shared.profile import load_units

    units = [u["code"] for u in load_units("deploy/profiles/demo")["units"]]
    engine = create_engine(normalise_url(database_url))
    try:
        with Session(engine) as session, session.begin():
            for username, (name, role, unit) in PEOPLE.items():
                handlers.add_account(session, domain.validate_account(username, name, role, unit, units), PASSWORD,
                                     NOW)
    finally:
        engine.dispose()


def start_console_mesh(broker_base, database_base, var_dir: Path, stack: ExitStack) -> ConsoleMesh:
    uri, _vhost = stack.enter_context(fresh_vhost(broker_base))
    names = available_services()
    assert "console" in names
    databases = {name: stack.enter_context(fresh_database(database_base)) for name in names}
    mesh = Mesh(names, amqp_uri=uri, database_urls=databases, ports={name: free_port() for name in names},
                var_dir=var_dir, env={
                    "PROFILE_DIR": "deploy/profiles/demo", "SIMULATED_CLOCK": "true", "TICK_TIMER": "false",
                    "AUTH_TOKENS_FILE": str(Path(TOKENS_FILE).resolve()), "OUTBOX_POLL_SECONDS": "0.2",
                    "CONSOLE_SECRET": CONSOLE_SECRET, "CALLBACK_SECRET": "browser-tests-callback-secret",
                    "NOTIFY_SENDER": "false", "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "WARNING")})
    stack.callback(mesh.stop)
    mesh.start(timeout=180)
    add_people(databases["console"])
    office = {"Authorization": "Bearer t-office"}
    for code, name, cadre in ((CODE, LABOUR["enterprise_name"], "张明"),
                              (OTHER_CODE, NOWHERE["enterprise_name"], "李华")):
        requests.put(f"{mesh.url('intake')}/api/v1/enterprises/{code}", headers=office, timeout=30,
                     json={"name": name, "district": "汉台区", "cadre": cadre, "industry": "制造业"}).raise_for_status()
    return ConsoleMesh(mesh, mesh.url("console"))


@pytest.fixture(scope="module")
def console_mesh(broker_base, database_base, tmp_path_factory):
    """A started :class:`ConsoleMesh` for the test module; stopped and dropped afterwards."""
    with ExitStack() as stack:
        yield start_console_mesh(broker_base, database_base, tmp_path_factory.mktemp("console-mesh"), stack)
