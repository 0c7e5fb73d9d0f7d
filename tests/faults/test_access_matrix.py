"""The access matrix: every caller (no token, office, unit, another unit, cadre, platform)
against every HTTP endpoint of the five services, read from their OpenAPI documents.

The answer each caller must get comes from :data:`tests.faults.mesh.ACCESS` (the roles
an endpoint admits) and :data:`ANOTHER_UNITS_APPEAL` (what a unit gets for an appeal
that is not its own, as each service documents it):

* no token: 401 (an open endpoint answers; a forged callback link is a 403);
* a role the endpoint does not admit: 403, never a 2xx;
* an admitted role: neither 401 nor 403 (the request may still be a 400, 404 or 409);
* another unit on a unit's appeal: 403 at dispatch, 404 at supervision (and its listings
  leave that appeal out).

A new endpoint without a row in ``ACCESS`` fails the test.
"""
from __future__ import annotations

import pytest
import requests

from tests.faults.mesh import (ACCESS, APPEAL_ID, CODE, LINK, PUBLIC, ROLE_OF, SERVICE_NAMES, TOKENS, Operation,
                               operations, seed, start)

pytestmark = pytest.mark.integration

# (service, method, path) -> the status another unit gets for the seeded appeal of the unit
ANOTHER_UNITS_APPEAL = {
    ("dispatch", "GET", "/api/v1/desk/appeals/{appeal_id}"): 403,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/accept"): 403,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/progress"): 403,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/reply"): 403,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/return"): 403,
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/escalation-request"): 403,
    ("supervision", "GET", "/api/v1/appeals/{appeal_id}"): 404,
    ("supervision", "POST", "/api/v1/appeals/{appeal_id}/pause"): 404,
    ("supervision", "POST", "/api/v1/appeals/{appeal_id}/resume"): 404,
}
# a cadre or a platform sees only the appeals it submitted (the seeded one is the cadre's)
OTHERS_SUBMISSION = {("intake", "GET", "/api/v1/appeals/{appeal_id}", "platform"): 404,
                     ("intake", "GET", "/api/v1/appeals/{appeal_id}", "other_enterprise"): 404}
# the body an operation gets where {} would be refused (400) before the check the matrix is after:
# dispatch checks who (401/403), then what (400), then whose appeal (403)
BODIES = {
    ("assessment", "POST", "/api/v1/callback/{token}"): {"solved": True, "satisfaction": "满意"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/progress"): {"note": "已联系企业"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/reply"): {"outcome": "solved", "reply_text": "已解决"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/return"): {"reason": "不属本单位职责"},
    ("dispatch", "POST", "/api/v1/desk/appeals/{appeal_id}/escalation-request"): {"note": "需要协调"},
}


def call(base: str, op: Operation, caller: str | None, appeal_id: str) -> requests.Response:
    path = op.path.replace("{appeal_id}", appeal_id).replace("{credit_code}", CODE) \
        .replace("{token}", "forged-callback-link")
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
def test_another_cadre_a_platform_or_another_enterprise_neither_reads_nor_lists_a_cadres_appeal(container_factory, service_config,
                                                                             amqp_uri):
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
