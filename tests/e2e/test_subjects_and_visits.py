"""Households, projects, pairing as data and visits (issue 15), end to end: the five services as
processes on the real broker and PostgreSQL, driven through their public HTTP interfaces only.
One campaign per mechanism, each from the profile that states it:

* Wuhan (seed 000): a household in hardship is a subject; its name is masked outside intake; its
  paired cadre's unit co-handles its 生活困难 (``cadre_unit``).
* Baoding (seed 004): a project is a subject, routed to its own responsible department (六个一).
* Hanzhong (seed 003): an enterprise's own lead department leads its project approvals (四个一);
  every firm is visited at least monthly: the bulletin's visits section lists who was not, counts
  visits per cadre and unit, and shows pairing coverage; the office exports it as CSV and XLSX.

The expected figures are counted here by hand from the definitions (services/assessment/visit_rules.py).
"""
import csv
import io
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import yaml
from openpyxl import load_workbook

from scripts.client import OFFICE_TOKEN, Suqiu, write_tokens
from shared.auth import token_hash
from shared.profile import load_units

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 16)
CADRES = {"yanghy": "e2e-cadre-yanghy", "wangli": "e2e-cadre-wangli"}
CODES = ["916107001590830106", "91610700913909960G", "91610700819482190E"]


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI)


@pytest.fixture
def mesh_of(start_mesh, tmp_path):
    def start(profile: str):
        units = load_units(f"deploy/profiles/{profile}")
        path = write_tokens(units["units"], tmp_path / f"tokens-{profile}.yaml")
        tokens = yaml.safe_load(path.read_text(encoding="utf-8"))
        tokens["tokens"] += [{"sha256": token_hash(token), "role": "cadre", "name": name}
                             for name, token in CADRES.items()]
        path.write_text(yaml.safe_dump(tokens, allow_unicode=True), encoding="utf-8")
        mesh = start_mesh(profile, services=["intake", "dispatch", "supervision", "assessment", "notify"],
                          env={"AUTH_TOKENS_FILE": str(path), "TICK_TIMER": "false"})
        return Suqiu({name: mesh.url(name) for name in mesh.services}, mesh.amqp_uri)
    return start


def put(client: Suqiu, path: str, body: dict, token: str = OFFICE_TOKEN) -> dict:
    return client._call("PUT", "intake", path, token, at(DAY, 8), json=body).json()


def post(client: Suqiu, path: str, body: dict, token: str, now: datetime) -> dict:
    return client._call("POST", "intake", path, token, now, json=body).json()


@pytest.mark.timeout(600)
def test_wuhan_a_household_appeal_is_masked_outside_intake_and_its_cadres_unit_co_handles(mesh_of):
    client = mesh_of("wuhan")
    put(client, "/api/v1/people/yanghy", {"name": "杨海垚", "role": "cadre", "unit": "ee"})
    put(client, "/api/v1/households/WC-0001", {"name": "谭银珠", "community": "傅家坡社区", "phone": "13812345678",
                                               "district": "江岸区", "cadre_id": "yanghy"})
    appeal_id = post(client, "/api/v1/appeals", {
        "subject_type": "household", "subject_id": "WC-0001", "title": "独居老人生活困难",
        "description": "入户水表安装费交不起", "category": "生活困难", "district": "江岸区", "channel": "visit",
        "collected_at": at(DAY, 9).isoformat()}, CADRES["yanghy"], at(DAY, 10))["id"]
    client.quiesce()
    dispatched = client.appeal(appeal_id)
    assert (dispatched["lead_unit"], dispatched["co_units"]) == ("jiangan", ["ee", "civil"])
    assert (dispatched["subject_type"], dispatched["credit_code"], dispatched["enterprise_name"]) == \
        ("household", None, "谭*珠")
    own = client._call("GET", "intake", f"/api/v1/appeals/{appeal_id}", CADRES["yanghy"]).json()
    assert own["subject_name"] == "谭银珠"  # the paired cadre sees the household whole


@pytest.mark.timeout(600)
def test_baoding_a_projects_appeal_goes_to_its_own_responsible_department(mesh_of):
    client = mesh_of("baoding")
    put(client, "/api/v1/people/hou", {"name": "侯晓平", "role": "leader", "unit": "fgw"})
    put(client, "/api/v1/projects/BD-2018-017", {"name": "涿州新上项目", "leader_id": "hou", "lead_department": "jxj"})
    appeal_id = post(client, "/api/v1/appeals", {
        "subject_type": "project", "subject_id": "BD-2018-017", "title": "技术创新资金未到位",
        "description": "科技型中小企业技术创新资金申请", "category": "资金保障", "district": "涿州市",
        "channel": "platform", "collected_at": at(DAY, 9).isoformat()}, OFFICE_TOKEN, at(DAY, 10))["id"]
    client.quiesce()
    assert client.appeal(appeal_id)["lead_unit"] == "jxj"  # without 六个一, 科技 would go to st


@pytest.mark.timeout(600)
def test_hanzhong_lead_department_routing_and_the_monthly_visit_rule(mesh_of):
    client = mesh_of("hanzhong")
    put(client, "/api/v1/people/yanghy", {"name": "杨海垚", "role": "cadre", "unit": "tax"})
    put(client, "/api/v1/people/wangli", {"name": "王丽", "role": "cadre", "unit": "hrss"})
    for code, cadre in zip(CODES, ["yanghy", "wangli", None], strict=False):  # the third firm has no cadre
        client._call("PUT", "intake", f"/api/v1/enterprises/{code}", OFFICE_TOKEN, at(DAY, 8), json={
            "name": f"{code[-4:]}公司", "district": "汉台区", "cadre_id": cadre, "lead_department": "fgw"})
    appeal_id = post(client, "/api/v1/appeals", {
        "credit_code": CODES[0], "enterprise_name": "0106公司", "title": "项目开工审批慢",
        "description": "新上项目开工手续", "category": "项目建设", "district": "汉台区", "channel": "visit",
        "collected_at": at(DAY, 9).isoformat()}, CADRES["yanghy"], at(DAY, 10))["id"]
    # visits in November: yanghy twice at firm 0 (once raising the appeal), wangli once at firm 1;
    # one October visit to firm 2 does not count for November
    visits = [(CADRES["yanghy"], CODES[0], date(2026, 11, 16), {"appeal_ids": [appeal_id], "findings": "审批慢"}),
              (CADRES["yanghy"], CODES[0], date(2026, 11, 20), {"no_problem": True}),
              (CADRES["wangli"], CODES[1], date(2026, 11, 18), {"no_problem": True})]
    for token, code, day, found in visits:
        post(client, "/api/v1/visits", {"subject_type": "enterprise", "subject_id": code,
                                        "visited_on": day.isoformat(), **found}, token, at(day, 17))
    post(client, "/api/v1/visits", {"subject_type": "enterprise", "subject_id": CODES[2], "cadre_id": "wangli",
                                    "visited_on": "2026-10-30", "no_problem": True}, OFFICE_TOKEN, at(DAY, 17))
    client.quiesce()
    assert client.appeal(appeal_id)["lead_unit"] == "fgw"  # 四个一: the firm's own lead department

    section = client._call("GET", "assessment", "/api/v1/reports/visits", OFFICE_TOKEN, at(date(2026, 12, 1), 9),
                           params={"month": "2026-11"}).json()
    assert section["total"] == 3
    assert [(r["cadre_id"], r["visits"], r["subjects"], r["no_problem"], r["appeals_raised"], r["unit"])
            for r in section["per_cadre"]] == [("yanghy", 2, 1, 1, 1, "tax"), ("wangli", 1, 1, 1, 0, "hrss")]
    assert [(r["unit"], r["visits"]) for r in section["per_unit"]] == [("tax", 2), ("hrss", 1)]
    assert [s["subject_id"] for s in section["not_visited"]] == [CODES[2]]  # its only visit was in October
    assert section["pairing"]["overall"] == {"registered": 3, "paired": 2, "without_cadre": 1, "rate": 2 / 3}
    assert [s["subject_id"] for s in section["pairing"]["unpaired"]] == [CODES[2]]

    bulletin = client.report("monthly", "2026-11", now=at(date(2026, 12, 1), 9))
    assert bulletin["visits"]["not_visited"] == section["not_visited"]
    exported = client._call("GET", "assessment", "/api/v1/reports/visits", OFFICE_TOKEN,
                            params={"month": "2026-11", "format": "csv"}).content.decode("utf-8-sig")
    not_visited_rows = [row for row in csv.reader(io.StringIO(exported)) if row[0] == "未按规定走访"]
    assert [row[2] for row in not_visited_rows[1:]] == [CODES[2]]
    workbook = load_workbook(io.BytesIO(client._call("GET", "assessment", "/api/v1/reports/visits", OFFICE_TOKEN,
                                                     params={"month": "2026-11", "format": "xlsx"}).content))
    per_cadre = list(workbook["走访·按干部"].iter_rows(values_only=True))
    assert [(row[0], row[3]) for row in per_cadre[1:]] == [("yanghy", 2), ("wangli", 1)]
