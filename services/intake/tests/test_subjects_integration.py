"""Households, projects, people, pairing and visits through intake's HTTP API, on the real broker
and PostgreSQL (issue 15); the demo profile has all three subject types."""
import pytest
import requests

from shared.testing import EventTap, wait_for

pytestmark = pytest.mark.integration

CODE = "91350100M000100Y43"
NOW = {"X-Suqiu-Now": "2026-11-23T10:00:00+08:00"}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def intake(container_factory, service_config):
    container = container_factory(IntakeService(), {**service_config, "SIMULATED_CLOCK": True})
    container.start()
    return f"http://{service_config['WEB_SERVER_ADDRESS']}"


def IntakeService():
    from services.intake.service import IntakeService as cls
    return cls


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "intake")
    yield tap
    tap.close()


@pytest.fixture
def paired(intake):
    """A cadre of the tax bureau (t-cadre), a leader, and a household paired with the cadre."""
    office = auth("t-office")
    assert requests.put(f"{intake}/api/v1/people/t-cadre", json={"name": "杨海垚", "role": "cadre", "unit": "tax"},
                        headers=office).status_code == 201
    assert requests.put(f"{intake}/api/v1/people/t-cadre-2", json={"name": "杨运", "role": "cadre", "unit": "hrss"},
                        headers=office).status_code == 201
    assert requests.put(f"{intake}/api/v1/people/hou", json={"name": "侯晓平", "role": "leader"},
                        headers=office).status_code == 201
    response = requests.put(f"{intake}/api/v1/households/WC-0001", json={
        "name": "谭银珠", "community": "傅家坡社区", "phone": "13812345678", "district": "汉台区",
        "cadre_id": "t-cadre", "leader_id": "hou", "lead_department": "district-a"}, headers=office)
    assert response.status_code == 201, response.text
    return intake


def test_a_household_is_shown_whole_to_the_office_and_its_cadre_and_masked_to_another_cadre(paired):
    seen = {token: requests.get(f"{paired}/api/v1/households/WC-0001", headers=auth(token)).json()
            for token in ("t-office", "t-cadre", "t-cadre-2")}
    assert [(s["name"], s["phone"]) for s in seen.values()] == [
        ("谭银珠", "13812345678"), ("谭银珠", "13812345678"), ("谭*珠", "138****5678")]
    assert (seen["t-office"]["cadre"], seen["t-office"]["leader"], seen["t-office"]["cadre_unit"]) == \
        ("杨海垚", "侯晓平", "tax")


def test_the_people_list_by_role(paired):
    cadres = requests.get(f"{paired}/api/v1/people", params={"role": "cadre"}, headers=auth("t-cadre")).json()
    assert [(p["id"], p["name"], p["unit"]) for p in cadres["items"]] == [("t-cadre", "杨海垚", "tax"),
                                                                        ("t-cadre-2", "杨运", "hrss")]


def test_the_import_path_of_households_answers_post_only(paired):
    answer = requests.get(f"{paired}/api/v1/households/import", headers=auth("t-office"))
    assert (answer.status_code, answer.headers["Allow"]) == (405, "POST")


def test_a_pairing_that_names_an_unknown_or_wrong_person_is_refused(paired):
    response = requests.put(f"{paired}/api/v1/households/WC-0002", json={
        "name": "李萍", "community": "劳动街", "cadre_id": "hou", "leader_id": "nobody"}, headers=auth("t-office"))
    assert response.status_code == 409  # well formed; the registry does not hold them as such
    assert set(response.json()["fields"]) == {"cadre_id", "leader_id"}
    assert requests.get(f"{paired}/api/v1/households/WC-0002", headers=auth("t-office")).status_code == 404


def test_a_household_appeal_carries_its_pairing_and_a_masked_name(paired, tap):
    response = requests.post(f"{paired}/api/v1/appeals", json={
        "subject_type": "household", "subject_id": "WC-0001", "title": "入户水表安装费",
        "description": "老人担心交不起安装费", "district": "汉台区", "channel": "visit",
        "collected_at": "2026-11-23T09:00:00+08:00", "contact": {"name": "谭银珠", "phone": "13812345678"}},
        headers={**auth("t-cadre"), **NOW})
    assert response.status_code == 201, response.text
    assert response.json()["appeal"]["subject_name"] == "谭银珠"  # the paired cadre sees it whole
    event = wait_for(lambda: tap.of_type("appeal_received"), message="appeal_received")[0]
    assert event["dataversion"] == 2
    data = event["data"]
    assert (data["subject_type"], data["subject_id"], data["subject_name"], data["credit_code"]) == \
        ("household", "WC-0001", "谭*珠", None)
    assert (data["cadre_id"], data["cadre"], data["leader_id"], data["lead_department"], data["cadre_unit"]) == \
        ("t-cadre", "杨海垚", "hou", "district-a", "tax")
    assert data["contact"] == {"name": "谭*珠", "phone": "138****5678"}


def test_an_appeal_about_an_unregistered_household_conflicts_with_the_registry(paired):
    response = requests.post(f"{paired}/api/v1/appeals", json={
        "subject_type": "household", "subject_id": "WC-9999", "title": "t", "description": "d",
        "district": "汉台区", "channel": "visit", "collected_at": "2026-11-23T09:00:00+08:00"},
        headers={**auth("t-cadre"), **NOW})
    assert (response.status_code, list(response.json()["fields"])) == (409, ["subject_id"])


def test_a_cadre_records_a_visit_that_is_published_with_the_cadres_unit(paired, tap):
    response = requests.post(f"{paired}/api/v1/visits", json={
        "subject_type": "household", "subject_id": "WC-0001", "visited_on": "2026-11-20",
        "findings": "呼吸机老化，家庭无力购买"}, headers={**auth("t-cadre"), **NOW})
    assert response.status_code == 201, response.text
    event = wait_for(lambda: tap.of_type("visit_recorded"), message="visit_recorded")[0]["data"]
    assert (event["cadre_id"], event["cadre"], event["unit"], event["subject_name"], event["visited_on"],
            event["no_problem"]) == ("t-cadre", "杨海垚", "tax", "谭*珠", "2026-11-20", False)
    mine = requests.get(f"{paired}/api/v1/visits", headers=auth("t-cadre")).json()
    theirs = requests.get(f"{paired}/api/v1/visits", headers=auth("t-cadre-2")).json()
    assert (mine["total"], theirs["total"]) == (1, 0)


def test_a_visit_raises_only_its_subjects_appeals(paired):
    other = requests.post(f"{paired}/api/v1/appeals", json={
        "credit_code": CODE, "enterprise_name": "测试公司", "title": "用工难", "description": "招不到熟练工",
        "district": "汉台区", "channel": "visit", "collected_at": "2026-11-23T09:00:00+08:00"},
        headers={**auth("t-cadre"), **NOW}).json()["id"]
    response = requests.post(f"{paired}/api/v1/visits", json={
        "subject_type": "household", "subject_id": "WC-0001", "visited_on": "2026-11-20", "appeal_ids": [other]},
        headers={**auth("t-cadre"), **NOW})
    assert (response.status_code, list(response.json()["fields"])) == (409, ["appeal_ids"])


def test_a_pairing_with_a_unit_outside_the_directory_is_invalid(paired):
    response = requests.put(f"{paired}/api/v1/projects/BD-001", json={"name": "项目", "lead_department": "nowhere"},
                            headers=auth("t-office"))
    assert (response.status_code, list(response.json()["fields"])) == (400, ["lead_department"])


def test_a_visit_by_someone_the_registry_does_not_hold_conflicts(paired):
    response = requests.post(f"{paired}/api/v1/visits", json={
        "subject_type": "household", "subject_id": "WC-0001", "visited_on": "2026-11-20", "no_problem": True},
        headers={**auth("t-office"), **NOW})  # the office names no visitor and is not a person of the registry
    assert (response.status_code, list(response.json()["fields"])) == (409, ["cadre_id"])


def test_a_cadre_cannot_record_anothers_visit(paired):
    response = requests.post(f"{paired}/api/v1/visits", json={
        "subject_type": "household", "subject_id": "WC-0001", "visited_on": "2026-11-20", "no_problem": True,
        "cadre_id": "t-cadre"}, headers={**auth("t-cadre-2"), **NOW})
    assert response.status_code == 403


def test_a_visit_in_the_future_changes_nothing(paired, tap):
    response = requests.post(f"{paired}/api/v1/visits", json={
        "subject_type": "household", "subject_id": "WC-0001", "visited_on": "2026-11-24", "no_problem": True},
        headers={**auth("t-cadre"), **NOW})
    assert response.status_code == 400
    assert requests.get(f"{paired}/api/v1/visits", headers=auth("t-office")).json()["total"] == 0


def test_an_enterprise_paired_by_reference_shows_its_peoples_names(paired, tap):
    response = requests.put(f"{paired}/api/v1/enterprises/{CODE}", json={
        "name": "测试公司", "district": "汉台区", "cadre_id": "t-cadre-2", "leader_id": "hou",
        "lead_department": "tax"}, headers=auth("t-office"))
    assert response.status_code == 201, response.text
    assert (response.json()["cadre"], response.json()["leader"]) == ("杨运", "侯晓平")
    enterprise = wait_for(lambda: [e["data"] for e in tap.of_type("subject_updated")
                                   if e["data"]["subject_type"] == "enterprise"], message="subject_updated")[0]
    assert (enterprise["subject_id"], enterprise["cadre_id"], enterprise["lead_department"]) == \
        (CODE, "t-cadre-2", "tax")


def test_projects_load_from_a_sheet_row_by_row(paired):
    sheet = "subject_id,name,district,leader_id,lead_department\nBD-017,涿州新上项目,汉台区,hou,tax\n" \
            "BD-018,,汉台区,hou,tax\nBD-019,技术改造项目,汉台区,t-cadre,tax\n"
    response = requests.post(f"{paired}/api/v1/projects/import", data=sheet.encode("utf-8"),
                             headers={**auth("t-office"), "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["counts"] == {"accepted": 1, "updated": 0, "refused": 2}
    listed = requests.get(f"{paired}/api/v1/projects", headers=auth("t-cadre")).json()
    assert [(p["subject_id"], p["leader"]) for p in listed["items"]] == [("BD-017", "侯晓平")]
