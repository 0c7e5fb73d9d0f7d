"""The access matrix: every caller (no token, office, unit, another unit, cadre, platform)
against every HTTP endpoint of the five services, read from their OpenAPI documents.

The answer each caller must get comes from :data:`tests.faults.mesh.ACCESS` (the roles
an endpoint admits) and :data:`ANOTHER_UNITS_APPEAL` (what a unit gets for an appeal
that is not its own, as each service documents it):

* no token: 401 (an open endpoint answers; a forged callback link is a 403);
* a role the endpoint does not admit: 403, never a 2xx;
* an admitted role: neither 401 nor 403 (the request may still be a 400, 404 or 409);
* another unit on a unit's appeal: 404, as for an appeal that does not exist, at dispatch and
  at supervision (and its listings leave that appeal out).

A new endpoint without a row in ``ACCESS`` fails the test.

The console's pages have their own table (:data:`CONSOLE_ACCESS`, by console role), checked
against the whole mesh with a signed-in person of every role; a new page without a row fails.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from tests.console_mesh import CODE as CONSOLE_CODE
from tests.console_mesh import (
    CONSOLE_SECRET,
    LABOUR,
    NOW,
    OTHER_CODE,
    PASSWORD,
    PEOPLE,
    console_mesh,  # noqa: F401 (the fixture: the module's mesh with the console)
)
from tests.faults.mesh import (
    ACCESS,
    APPEAL_ID,
    CODE,
    KEY,
    LINK,
    PUBLIC,
    ROLE_OF,
    SERVICE_NAMES,
    TOKENS,
    Operation,
    operations,
    seed,
    start,
)

pytestmark = pytest.mark.integration

# (service, method, path) -> the status another unit gets for the seeded appeal of the unit
ANOTHER_UNITS_APPEAL = {
    ("dispatch", "GET", "/api/v1/desk/appeals/{appeal_id}"): 404,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/accept"): 404,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/progress"): 404,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/reply"): 404,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/return"): 404,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/escalation-request"): 404,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/plan"): 404,
    ("supervision", "GET", "/api/v1/appeals/{appeal_id}"): 404,
    ("supervision", "POST", "/api/v1/appeals/{appeal_id}/pause-requests"): 404,
    ("supervision", "POST", "/api/v1/appeals/{appeal_id}/resume"): 404,
}
# a cadre or a platform sees only the appeals it submitted (the seeded one is the cadre's)
OTHERS_SUBMISSION = {("intake", "GET", "/api/v1/appeals/{appeal_id}", "platform"): 404,
                     ("intake", "GET", "/api/v1/appeals/{appeal_id}", "other_enterprise"): 404}
# the body an operation gets where {} would be refused (400) before the check the matrix is after:
# dispatch checks who (401/403), then what (400), then whose appeal (404, as for no appeal)
BODIES = {
    ("assessment", "POST", "/api/v1/callback/{token}"): {"solved": True, "satisfaction": "满意"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/progress"): {"note": "已联系企业"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/plan"): {"plan": "三日内协调用地指标"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/reply"): {"outcome": "solved", "reply_text": "已解决"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/return"): {"reason": "不属本单位职责"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/escalation-request"): {"note": "需要协调"},
    ("supervision", "POST", "/api/v1/appeals/{appeal_id}/pause-requests"): {"reason": "等待企业补充材料", "days": 2},
}


def call(base: str, op: Operation, caller: str | None, appeal_id: str) -> requests.Response:
    path = op.path.replace("{appeal_id}", appeal_id).replace("{credit_code}", CODE) \
        .replace("{token}", "forged-callback-link").replace("{format}", "json").replace("{service_code}", "用工") \
        .replace("{service_request_id}", appeal_id)
    headers = {"Authorization": f"Bearer {TOKENS[caller]}"} if caller else {}
    kwargs = {}
    if op.spec.get("requestBody") or op.method in ("POST", "PUT"):
        kwargs["json"] = BODIES.get((op.service, op.method, op.path), {})
    return requests.request(op.method, base + path, headers=headers, timeout=30, **kwargs)


def expected(op: Operation, caller: str | None) -> tuple[str, callable]:
    """(what the documentation says, a check of the status)."""
    access = op.access
    if access == PUBLIC:
        return "open", lambda status: status < 400
    if access == LINK:
        return "403 (forged link)", lambda status: status == 403
    if access == KEY:  # a bearer token is no api_key
        return "403 (no api_key)", lambda status: status == 403
    if caller is None:
        return "401", lambda status: status == 401
    special = ANOTHER_UNITS_APPEAL.get((op.service, op.method, op.path)) if caller == "other_unit" else None
    special = special or OTHERS_SUBMISSION.get((op.service, op.method, op.path, caller))
    if special:
        return str(special), lambda status: status == special
    if ROLE_OF[caller] not in access:
        return "403", lambda status: status == 403
    return "admitted", lambda status: status not in (401, 403) and status < 500


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_caller_gets_the_documented_answer_at_every_endpoint(service, container_factory, service_config,
                                                                    amqp_uri):
    base = start(container_factory, service, service_config)
    ops = operations(service, requests.get(f"{base}/openapi.json", timeout=10).json())
    missing = {op.key for op in ops} - set(ACCESS[service])
    assert not missing, f"endpoints without a row in tests/faults/mesh.py ACCESS: {sorted(missing)}"
    assert {op.key for op in ops} == set(ACCESS[service]), "ACCESS names endpoints the service does not serve"
    appeal_id = seed(service, base, amqp_uri)
    wrong = []
    for op in ops:
        for caller in (None, *TOKENS):
            response = call(base, op, caller, appeal_id)
            documented, check = expected(op, caller)
            if not check(response.status_code):
                wrong.append(f"{op.method} {op.path} as {caller or 'no token'}: {response.status_code}, "
                             f"documented {documented}: {response.text[:150]}")
    assert not wrong, "\n".join(wrong)


def listed(base: str, path: str, token: str) -> str:
    response = requests.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("service, paths", [
    ("dispatch", ["/api/v1/desk"]),
    ("supervision", ["/api/v1/ledger", "/api/v1/ledger.csv"]),
])
def test_another_unit_does_not_find_the_units_appeal_in_any_listing(service, paths, container_factory,
                                                                    service_config, amqp_uri):
    base = start(container_factory, service, service_config)
    seed(service, base, amqp_uri)
    seen = {(path, who): APPEAL_ID in listed(base, path, TOKENS[who]) for path in paths
            for who in ("unit", "other_unit")}
    assert seen == {**{(path, "unit"): True for path in paths}, **{(path, "other_unit"): False for path in paths}}


@pytest.mark.timeout(120)
def test_another_cadre_a_platform_or_another_enterprise_neither_reads_nor_lists_a_cadres_appeal(
        container_factory, service_config, amqp_uri):
    base = start(container_factory, "intake", service_config)
    appeal_id = seed("intake", base, amqp_uri)
    answers = {}
    for token in ("t-cadre", "t-cadre-2", "t-platform", "t-office", "t-enterprise", "t-enterprise-2"):
        headers = {"Authorization": f"Bearer {token}"}
        one = requests.get(f"{base}/api/v1/appeals/{appeal_id}", headers=headers, timeout=30)
        listing = requests.get(f"{base}/api/v1/appeals", headers=headers, timeout=30).json()
        answers[token] = (one.status_code, [a["id"] for a in listing["items"]] == [appeal_id])
    assert answers == {"t-cadre": (200, True), "t-cadre-2": (404, False), "t-platform": (404, False),
                       "t-office": (200, True), "t-enterprise": (200, True), "t-enterprise-2": (404, False)}


# ---------------------------------------------------------------- the console's pages

OPEN = "open"
ENTERPRISE_LINK = "enterprise link"
UNIT_PEOPLE = ("unit_clerk", "unit_leader")
# (method, route as the service declares it) -> the console roles admitted, OPEN, or ENTERPRISE_LINK
CONSOLE_ACCESS = {
    ("GET", "/"): OPEN, ("GET", "/login"): OPEN, ("POST", "/login"): OPEN, ("POST", "/logout"): OPEN,
    ("GET", "/login/oidc"): OPEN, ("GET", "/login/oidc/callback"): OPEN, ("GET", "/.well-known/jwks.json"): OPEN,
    ("GET", "/static/<path:name>"): OPEN, ("GET", "/healthz"): OPEN, ("GET", "/metrics"): OPEN,
    ("GET", "/<path:rest>"): OPEN,
    ("GET", "/desk"): UNIT_PEOPLE,
    ("GET", "/appeals/<string:appeal_id>"): (*UNIT_PEOPLE, "office", "leader"),
    ("POST", "/appeals/<string:appeal_id>/accept"): UNIT_PEOPLE,
    ("POST", "/appeals/<string:appeal_id>/progress"): UNIT_PEOPLE,
    ("POST", "/appeals/<string:appeal_id>/reply"): UNIT_PEOPLE,
    ("POST", "/appeals/<string:appeal_id>/return"): UNIT_PEOPLE,
    ("POST", "/appeals/<string:appeal_id>/escalate"): UNIT_PEOPLE,
    ("POST", "/appeals/<string:appeal_id>/pause"): (*UNIT_PEOPLE, "office"),
    ("POST", "/appeals/<string:appeal_id>/resume"): (*UNIT_PEOPLE, "office"),
    ("POST", "/appeals/<string:appeal_id>/assign"): ("office",),
    ("POST", "/appeals/<string:appeal_id>/classify"): ("office",),
    ("POST", "/appeals/<string:appeal_id>/order"): ("office",),
    ("POST", "/appeals/<string:appeal_id>/callback"): ("office",),
    ("GET", "/ledger"): (*UNIT_PEOPLE, "office", "leader"),
    ("GET", "/ledger.<string:fmt>"): (*UNIT_PEOPLE, "office", "leader"),
    ("GET", "/office/queue"): ("office",), ("GET", "/office/callbacks"): ("office",),
    ("GET", "/office/pauses"): ("office",), ("GET", "/office/reports"): ("office",),
    ("POST", "/office/pauses/<string:request_id>/<string:decision>"): ("office",),
    ("GET", "/office/rounds"): ("office",), ("POST", "/office/rounds"): ("office",),
    ("GET", "/office/rounds/<string:round_id>"): ("office",),
    ("GET", "/office/reports/<string:kind>.<string:fmt>"): ("office",),
    ("POST", "/office/reports/publish"): ("office",), ("GET", "/office/agenda"): ("office",),
    ("GET", "/office/rankings"): ("office", "leader"), ("GET", "/enterprises"): ("office",),
    ("GET", "/enterprises/<string:credit_code>/link"): ("office", "cadre"),
    ("GET", "/enterprises/<string:credit_code>/qr.png"): ("office", "cadre"),
    ("GET", "/cadre"): ("cadre",), ("GET", "/cadre/submit"): ("cadre",), ("POST", "/cadre/submit"): ("cadre",),
    ("GET", "/cadre/check-code"): ("cadre", "office"),
    ("GET", "/cadre/visit"): ("cadre",), ("POST", "/cadre/visit"): ("cadre",),
    ("GET", "/leader"): ("office", "leader"),
    ("GET", "/admin/accounts"): ("admin",), ("POST", "/admin/accounts"): ("admin",),
    ("POST", "/admin/accounts/<string:username>/<string:action>"): ("admin",),
    ("GET", "/e/<string:token>"): ENTERPRISE_LINK, ("POST", "/e/<string:token>/appeals"): ENTERPRISE_LINK,
    ("GET", "/e/<string:token>/callback/<string:callback>"): ENTERPRISE_LINK,
    ("POST", "/e/<string:token>/callback/<string:callback>"): ENTERPRISE_LINK,
}
ROLE_OF_PERSON = {username: role for username, (_, role, _) in PEOPLE.items()}


def console_routes() -> set[tuple[str, str]]:
    from services.console.service import ConsoleService

    return {(ep.method, ep.url) for name in dir(ConsoleService)
            for ep in getattr(getattr(ConsoleService, name), "nameko_entrypoints", ())}


def test_every_console_page_has_a_row_in_the_access_table():
    assert console_routes() == set(CONSOLE_ACCESS)


def console_url(route: str, appeal_id: str) -> str:
    return (route.replace("<string:appeal_id>", appeal_id).replace("<string:credit_code>", CONSOLE_CODE)
            .replace("<string:fmt>", "csv").replace("<string:kind>", "weekly").replace("<string:username>", "nobody")
            .replace("<string:action>", "disable").replace("<string:request_id>", "nope")
            .replace("<string:decision>", "refuse").replace("<string:round_id>", "nope"))


def person_session(console: str, username: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    browser.headers["X-Suqiu-Now"] = NOW.isoformat()
    form = browser.get(f"{console}/login").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form).group(1)
    signed = browser.post(f"{console}/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                          allow_redirects=False)
    assert signed.status_code == 303, signed.text
    return browser, token


@pytest.mark.timeout(600)
def test_every_person_gets_the_documented_answer_at_every_console_page(console_mesh):  # noqa: F811
    """No session: sent to sign in (303 to /login); a role the page does not admit: 403 and nothing
    done; an admitted role: the page or the action (a unit clerk of another unit: refused on the
    unit's appeal, and the appeal's history records nothing of that unit)."""
    mesh = console_mesh
    appeal_id = mesh.submit({**LABOUR, "title": "访问矩阵"})
    mesh.dispatched(appeal_id)  # hrss leads; zhaolei is tax's clerk
    sessions = {username: person_session(mesh.console, username) for username in PEOPLE}
    anonymous = requests.Session()
    anonymous.headers["X-Suqiu-Now"] = NOW.isoformat()
    wrong = []
    for (method, route), admitted in sorted(CONSOLE_ACCESS.items()):
        if admitted in (OPEN, ENTERPRISE_LINK):
            continue
        url = mesh.console + console_url(route, appeal_id)
        answer = anonymous.request(method, url, allow_redirects=False, data={})
        if answer.status_code != 303 or not answer.headers["Location"].startswith("/login"):
            wrong.append(f"{method} {route} without a session: {answer.status_code}")
        for username, (browser, csrf) in sessions.items():
            role = ROLE_OF_PERSON[username]
            answer = browser.request(method, url, allow_redirects=False, data={"csrf_token": csrf})
            if role not in admitted:
                ok = answer.status_code == 403
            elif route.startswith("/appeals/") and username == "zhaolei":
                # another unit's appeal: refused as the services document it (404, as for no appeal, or
                # 400 for an empty form before it looks whose appeal it is), never done
                ok = answer.status_code == 404 if method == "GET" else answer.status_code in (400, 403, 404)
            else:
                ok = answer.status_code not in (401, 403) and answer.status_code < 500
            if not ok:
                wrong.append(f"{method} {route} as {username} ({role}): {answer.status_code}")
    assert not wrong, "\n".join(wrong)
    history = mesh.api("GET", "dispatch", f"/api/v1/office/appeals/{appeal_id}", "t-office")["history"]
    assert not [line for line in history if (line["actor"] or "").startswith("unit:tax")]


@pytest.mark.timeout(300)
def test_an_enterprise_link_shows_only_its_own_enterprise(console_mesh):  # noqa: F811
    from services.console import domain

    mesh = console_mesh
    own = mesh.submit({**LABOUR, "title": "本企业的诉求"})
    other = mesh.submit({**LABOUR, "credit_code": OTHER_CODE, "title": "别家企业的诉求"})
    mesh.dispatched(own), mesh.dispatched(other)
    expires = NOW + timedelta(days=30)
    headers = {"X-Suqiu-Now": NOW.isoformat()}
    pages = {code: requests.get(f"{mesh.console}/e/{domain.sign_enterprise_link(CONSOLE_SECRET, code, expires)}",
                                headers=headers, timeout=30).text for code in (CONSOLE_CODE, OTHER_CODE)}
    seen = {code: ("本企业的诉求" in text, "别家企业的诉求" in text) for code, text in pages.items()}
    assert seen == {CONSOLE_CODE: (True, False), OTHER_CODE: (False, True)}
    forged = domain.sign_enterprise_link("another secret", CONSOLE_CODE, expires)
    assert requests.get(f"{mesh.console}/e/{forged}", headers=headers, timeout=30).status_code == 403
