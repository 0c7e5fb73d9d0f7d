"""Generated bad inputs against every HTTP endpoint of the five services.

The requests are generated with hypothesis from each service's OpenAPI document: every
request is wrong in at least one way (a body of the wrong shape, a field of the wrong
type or out of its range, a missing required field or query argument, an unknown field,
bytes that are not JSON, the wrong content type, an unknown path id, a NUL byte, no or
a bad token ...). Most carry a valid token of an admitted role, so they reach
validation and not only the 401.

For each service, running alone in-process on its own vhost and database, with one appeal
of a unit seeded where the service keeps appeals (a path id is often that appeal's):

* no answer is a 5xx;
* every refusal is a 4xx with the error table's JSON body (``error``, a non-empty ``message``);
* a bad input is never accepted (no 2xx on a POST/PUT, except an import's report, which
  refuses row by row with a 200);
* nothing changed: every table holds the rows it held before, and the service published
  no event.

``FAULTS_BAD_INPUTS`` (default 10000) is the total number of requests over the five
services, shared evenly between their endpoints; ``FAULTS_SEED`` fixes hypothesis' seed.
"""
from __future__ import annotations

import json
import math
import os
import string
import time
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from shared.testing import EventTap, wait_for
from tests.faults.mesh import (
    ACCESS,
    ANYONE,
    KEY,
    LINK,
    PUBLIC,
    SERVICE_NAMES,
    Operation,
    operations,
    outbox_drained,
    resolve,
    row_counts,
    start,
)
from tests.faults.mesh import seed as seed_appeal

pytestmark = pytest.mark.integration

TOTAL = int(os.environ.get("FAULTS_BAD_INPUTS", "10000"))
SEED = int(os.environ.get("FAULTS_SEED", "20261123"))
IMPORTS = {("intake", "/api/v1/appeals/import"), ("intake", "/api/v1/enterprises/import"),
           ("intake", "/api/v1/households/import"), ("intake", "/api/v1/projects/import")}
VALID_CODE = "91350100M000100Y43"
VALID_TIME = "2026-11-20T10:00:00+08:00"
TOKEN_OF_ROLE = {"office": "t-office", "unit": "t-unit-hrss", "cadre": "t-cadre", "platform": "t-platform",
                 "enterprise": "t-enterprise"}


def weight(op: Operation) -> float:
    """An endpoint with no input of its own (health, metrics) gets a fifth of the share: only
    its headers and query can be wrong."""
    return 1.0 if op.spec.get("parameters") or op.spec.get("requestBody") or op.method != "GET" else 0.2


def examples_for(op: Operation) -> int:
    """``op``'s share of the ``FAULTS_BAD_INPUTS`` requests over the endpoints of the five services."""
    total_weight = sum(weight(o) for name in SERVICE_NAMES for o in operations(name))
    return max(1, math.ceil(TOTAL * weight(op) / total_weight))


# ---------------------------------------------------------------- the pieces of a bad request
anything_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)
path_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=60),
    st.sampled_from(["SQ20261120-0000000001", "0", "-1", "' OR 1=1 --", "%", "\x00", "a\x00b", "x" * 300,
                     VALID_CODE, "9135010" + "\x00" * 11, "null", "..%2F", "$", "\u4f01\u4e1a"]),
).filter(lambda s: s not in (".", ".."))

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), anything_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(anything_text, inner, max_size=4)), max_leaves=8)
# a value no marshmallow field of the given OpenAPI type accepts
wrong_for = {
    "string": st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(json_scalars, max_size=3),
                        st.dictionaries(anything_text, json_scalars, max_size=3)),
    "integer": st.one_of(st.sampled_from(["abc", "1.5", "", "1e400", "--1"]), st.just(1.5),
                         st.lists(st.integers(), max_size=2),
                         st.dictionaries(anything_text, json_scalars, max_size=2)),
    "boolean": st.one_of(st.sampled_from(["maybe", "2", "", "yes please"]), st.integers(min_value=2),
                         st.lists(st.booleans(), max_size=2), st.dictionaries(anything_text, json_scalars, max_size=2)),
    "array": st.one_of(st.integers(), anything_text.filter(bool),
                       st.dictionaries(anything_text, json_scalars, max_size=2)),
    "object": st.one_of(st.integers(), anything_text, st.lists(json_scalars, max_size=3)),
}


def single_type(kind):
    """OpenAPI 3.1 writes a field that may be null as ``type: [string, "null"]``: its own type."""
    if isinstance(kind, list):
        return next((k for k in kind if k != "null"), None)
    return kind


def plausible(document: dict, name: str, schema: dict) -> st.SearchStrategy:
    """A value of the property's type (often valid), to carry a request deep into validation."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        return st.one_of(*(plausible(document, name, s) for s in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if v is not None])
    kind = single_type(schema.get("type"))
    if name == "credit_code":
        return st.just(VALID_CODE)
    if schema.get("format") == "date-time":
        return st.sampled_from([VALID_TIME, "2026-11-20T02:00:00Z", "2026-11-20 10:00:00"])
    if kind == "string":
        upper = min(schema.get("maxLength", 40), 40)
        return st.text(st.characters(blacklist_categories=("Cs",)), min_size=max(1, schema.get("minLength", 0)),
                       max_size=max(upper, 1))
    if kind == "integer":
        return st.integers(schema.get("minimum", -5), schema.get("maximum", 1000))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(plausible(document, name, schema.get("items", {"type": "string"})), max_size=3)
    if kind == "object":
        props = schema.get("properties", {})
        if not props:
            return st.dictionaries(st.sampled_from(["name", "phone", "email"]), anything_text, max_size=3)
        return st.fixed_dictionaries({}, optional={k: plausible(document, k, v) for k, v in props.items()})
    return json_values


def invalid_value(document: dict, name: str, schema: dict) -> st.SearchStrategy:
    """A value the property must refuse."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        return st.one_of(st.integers(), st.lists(json_scalars, min_size=1, max_size=3))
    options = []
    if "enum" in schema:
        options.append(anything_text.filter(lambda s: s not in schema["enum"]))
    kind = single_type(schema.get("type", "object"))
    options.append(wrong_for.get(kind, wrong_for["object"]))
    if kind == "string" and "maxLength" in schema:
        options.append(st.just("长" * (schema["maxLength"] + 1)))
    if kind == "string" and schema.get("minLength", 0) >= 1:
        options.append(st.just(""))
    if kind == "string" and (schema.get("format") == "date-time" or name == "credit_code"):
        options.append(anything_text.filter(lambda s: s.strip() != ""))
    if kind == "integer" and "maximum" in schema:
        options.append(st.integers(min_value=schema["maximum"] + 1))
    if kind == "integer" and "minimum" in schema:
        options.append(st.integers(max_value=schema["minimum"] - 1))
    if kind == "array":
        options.append(st.lists(wrong_for["string"], min_size=1, max_size=3))
    if kind == "object" and schema.get("properties"):
        options.append(invalid_object(document, schema))
    return st.one_of(*options)


def invalid_object(document: dict, schema: dict) -> st.SearchStrategy:
    """An object of the schema's shape with at least one fault."""
    props = schema.get("properties", {})
    required = schema.get("required", [])
    # strategies are built once, not at each draw (building one costs more than drawing from it)
    valid = {k: plausible(document, k, v) for k, v in props.items()}
    invalid = {k: invalid_value(document, k, v) for k, v in props.items()}

    @st.composite
    def build(draw):
        body = {k: draw(valid[k]) for k in props if k in required or draw(st.booleans())}
        faults = ["wrong_field"] if props else []
        if required:
            faults.append("missing")
        if schema.get("additionalProperties") is False:
            faults.append("unknown")
        fault = draw(st.sampled_from(faults or ["not_object"]))
        if fault == "missing":
            body.pop(draw(st.sampled_from(required)), None)
        elif fault == "unknown":
            body[draw(st.text(string.ascii_lowercase, min_size=1, max_size=12).filter(lambda k: k not in props))] = \
                draw(json_values)
        elif fault == "wrong_field":
            name = draw(st.sampled_from(sorted(props)))
            body[name] = draw(invalid[name])
        else:
            return draw(st.one_of(st.lists(json_values, max_size=3), json_scalars))
        return body

    return build()


def json_body(document: dict, schema: dict) -> st.SearchStrategy:
    """(body bytes, content type): malformed JSON, a non-object, or an object with a fault."""
    schema = resolve(document, schema)
    encode = lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8")  # noqa: E731
    return st.one_of(
        invalid_object(document, schema).map(lambda v: (encode(v), "application/json")),
        invalid_object(document, schema).map(lambda v: (encode(v), "application/json; charset=utf-8")),
        st.one_of(st.lists(json_values, max_size=3), json_scalars).map(lambda v: (encode(v), "application/json")),
        st.binary(min_size=1, max_size=80).filter(_not_json).map(lambda b: (b, "application/json")),
        st.sampled_from([b"{", b'{"a":', b"\xff\xfe{}", b"[1,2", b"NaN", b"{'single': 1}", b"\x00"])
        .map(lambda b: (b, "application/json")),
        st.sampled_from([b'"a bare string"', b"null", b"42", b"[]", b"true", b'"\\u0000"'])
        .map(lambda b: (b, "application/json")),  # well-formed JSON, but not an object
        invalid_object(document, schema).map(lambda v: (encode(v), "text/plain")),
        st.sampled_from(["application/xml", "application/x-www-form-urlencoded", "text/csv"]).map(
            lambda ct: (b"a=1&b=2", ct)),
    )


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return True
    return False


@st.composite
def sheet_body(draw):
    """A problem sheet or registry file that cannot be read, or whose every row is wrong."""
    headings = "统一社会信用代码,企业名称,问题标题,问题描述,问题类别,所属区县,收集渠道,收集时间,外部编号"
    kind = draw(st.sampled_from(["garbage_csv", "bad_rows", "bad_xlsx", "multipart_no_file", "empty", "json",
                                 "gb18030_garbage", "multipart_bad_file"]))
    if kind == "garbage_csv":
        return draw(st.binary(max_size=200)), "text/csv"
    if kind == "bad_rows":
        rows = draw(st.lists(st.lists(st.text(st.characters(blacklist_categories=("Cs",),
                                                            blacklist_characters=",\r\n\"\x00"), max_size=12),
                                      min_size=1, max_size=10), min_size=1, max_size=4))
        text = headings + "\n" + "\n".join(",".join(r) for r in rows)
        return text.encode("utf-8"), "text/csv"
    if kind == "bad_xlsx":
        return b"PK\x03\x04" + draw(st.binary(max_size=100)), \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if kind == "multipart_no_file":
        return (b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--XX--\r\n",
                "multipart/form-data; boundary=XX")
    if kind == "multipart_bad_file":
        payload = draw(st.binary(max_size=80))
        return (b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.xlsx\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n--XX--\r\n",
                "multipart/form-data; boundary=XX")
    if kind == "empty":
        return b"", draw(st.sampled_from(["text/csv", "multipart/form-data; boundary=XX"]))
    if kind == "gb18030_garbage":
        return "问题,,,\n\xff".encode("gb18030", errors="replace") + draw(st.binary(max_size=40)), "text/csv"
    return b'{"rows": []}', "application/json"


wrong_query_value = st.one_of(
    anything_text, st.sampled_from(["-1", "0", "99999999999999999999", "1e5", "true", "\x00", "2026-13-40", "2026-W99",
                                    "yes", " ", "%", "'"]),
    st.integers().map(str))


def query_args(op: Operation) -> st.SearchStrategy:
    """Query arguments: declared ones with wrong values or missing, and unknown ones."""
    params = [p for p in op.spec.get("parameters", []) if p["in"] == "query"]

    @st.composite
    def build(draw):
        args = {}
        for p in params:
            schema = p.get("schema", {})
            if p.get("required") and draw(st.integers(0, 4)) == 0:
                continue  # a required argument left out
            choice = draw(st.integers(0, 3))
            if choice == 0 and not p.get("required"):
                continue
            if choice == 1 and "example" in schema:
                args[p["name"]] = schema["example"]
            else:
                args[p["name"]] = draw(wrong_query_value)
        if draw(st.booleans()):
            args[draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))] = draw(anything_text)
        return args

    return build()


def caller(op: Operation) -> st.SearchStrategy:
    """Headers that mostly admit the caller (so the request reaches validation)."""
    access = op.access
    admitted = ANYONE if access in (PUBLIC, LINK, KEY) else access
    refused = [r for r in ANYONE if r not in admitted]
    good = st.sampled_from([TOKEN_OF_ROLE[r] for r in admitted]).map(lambda t: {"Authorization": f"Bearer {t}"})
    bad = st.one_of(
        st.just({}),
        header_text.map(lambda t: {"Authorization": f"Bearer {t}"}),
        st.sampled_from(["Basic dDpvZmZpY2U=", "Bearer", "bearer  ", "t-office", "Token t-office"]).map(
            lambda h: {"Authorization": h}),
        *([st.sampled_from([TOKEN_OF_ROLE[r] for r in refused]).map(lambda t: {"Authorization": f"Bearer {t}"})]
          if refused else []),
    )
    extra = st.one_of(st.just({}), st.just({"X-Suqiu-Now": "not a time"}), st.just({"X-Suqiu-Now": "2026-11-20T10:00"}),
                      header_text.map(lambda v: {"Idempotency-Key": v}),
                      st.just({"Idempotency-Key": "k" * 129}))

    @st.composite
    def build(draw):
        # hypothesis favours the simpler branch of a one_of: choose with a plain random instead,
        # so that about 85% of the requests carry an admitted role's token
        chance = draw(st.randoms(use_true_random=True)).random()
        headers = draw(good) if chance < 0.85 else draw(bad)
        return {**headers, **draw(extra)}

    return build()


def requests_for(op: Operation, known: dict[str, str]) -> st.SearchStrategy:
    """A bad request to ``op``; a path parameter is often a ``known`` one (the seeded appeal)."""
    headers_of = caller(op)
    query_of = query_args(op)
    request_body = op.spec.get("requestBody")
    body_of = None
    if request_body:
        content = request_body["content"]
        body_of = json_body(op.document, content["application/json"]["schema"]) \
            if "application/json" in content else sheet_body()

    @st.composite
    def build(draw):
        path = op.path
        for p in op.spec.get("parameters", []):
            if p["in"] == "path":
                chance = draw(st.randoms(use_true_random=True)).random()
                value = known[p["name"]] if p["name"] in known and chance < 0.4 else draw(path_text)
                path = path.replace("{" + p["name"] + "}", requests.utils.quote(value, safe=""))
        headers = draw(headers_of)
        body, content_type = None, None
        if body_of is not None:
            body, content_type = draw(body_of)
        elif op.method in ("POST", "PUT") and draw(st.booleans()):
            body, content_type = draw(st.one_of(st.binary(max_size=40), json_values.map(
                lambda v: json.dumps(v).encode()))), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        return {"method": op.method, "path": path, "params": draw(query_of), "headers": headers,
                "data": body}

    return build()


# ---------------------------------------------------------------- judging one answer
def problem_with(op: Operation, request: dict, response: requests.Response) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:300]}"
    if status >= 400:
        if op.path.startswith("/open311/") and _open311_error(response):
            return None  # Open311 answers its errors in its own format (services/intake/open311.py)
        if (op.service, op.method, op.path) == ("assessment", "POST", "/api/v1/callback/{token}") and \
                request["headers"].get("Content-Type", "").startswith(("application/x-www-form-urlencoded",
                                                                       "multipart/form-data")):
            # the enterprise's browser posted the HTML form: the answer is an HTML page
            return None if response.headers.get("Content-Type", "").startswith("text/html") and response.text \
                else f"{status} to a form without an HTML page"
        try:
            body = response.json()
        except ValueError:
            return f"{status} without a JSON body: {response.headers.get('Content-Type')} {response.text[:200]!r}"
        if not (isinstance(body, dict) and isinstance(body.get("error"), str)
                and isinstance(body.get("message"), str) and body["message"].strip()):
            return f"{status} whose body is not the error table's: {body!r:.300}"
        if "fields" in body and not isinstance(body["fields"], dict):
            return f"{status} whose fields are not an object: {body!r:.300}"
        return None
    if op.method in ("POST", "PUT") and (op.service, op.path) not in IMPORTS:
        return f"{status}: a bad input was accepted: {response.text[:200]}"
    return None


def _open311_error(response: requests.Response) -> bool:
    if response.headers.get("Content-Type", "").startswith("text/xml"):
        return response.content.startswith(b"<?xml") and b"<errors>" in response.content
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, list) and bool(body) and all(isinstance(e, dict) and e.get("description") for e in body)


def describe(request: dict) -> str:
    data = request["data"]
    return (f"{request['method']} {request['path']} params={request['params']!r:.200} "
            f"headers={request['headers']!r:.200} body={data[:200] if data else data!r}")


# ---------------------------------------------------------------- the test
@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_bad_inputs_get_a_clear_4xx_and_change_nothing(service, container_factory, service_config, amqp_uri,
                                                       database_url):
    base = start(container_factory, service, service_config, SIMULATED_CLOCK=True)
    tap = EventTap(amqp_uri, service)
    known = {"appeal_id": seed_appeal(service, base, amqp_uri), "credit_code": VALID_CODE}
    wait_for(lambda: outbox_drained(database_url), 20, message="the seed's events published")
    tap.drain()
    tap.messages.clear()  # what the seed published; from here on nothing may be
    served = requests.get(f"{base}/openapi.json", timeout=10).json()
    ops = operations(service, served)
    assert {op.key for op in ops} == set(ACCESS[service]), "every endpoint needs its row in mesh.ACCESS"
    before = row_counts(database_url)
    session = requests.Session()
    problems: dict[str, list[str]] = {}
    statuses: Counter = Counter()
    seconds: dict[str, float] = {}

    for op in ops:
        @seed(SEED)
        @settings(max_examples=examples_for(op), database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(requests_for(op, known))
        def attack(request):
            response = session.request(request["method"], base + request["path"], params=request["params"],
                                       headers=request["headers"], data=request["data"], timeout=30)
            # attack() runs at once, inside this iteration: op is this operation
            statuses[(str(op), response.status_code)] += 1  # noqa: B023
            found = problem_with(op, request, response)  # noqa: B023
            if found:
                problems.setdefault(f"{op}: {found[:120]}", []).append(  # noqa: B023
                    f"{found}\n    {describe(request)}")

        started = time.monotonic()
        attack()
        seconds[str(op)] = time.monotonic() - started

    sent = sum(statuses.values())
    after = row_counts(database_url)
    published = tap.drain()
    tap.close()
    print(f"\n{service}: {sent} bad requests over {len(ops)} endpoints; answers "
          f"{dict(Counter(status for (_, status) in statuses.elements()))}; slowest "
          + ", ".join(f"{name} {s:.0f}s" for name, s in sorted(seconds.items(), key=lambda kv: -kv[1])[:3]))
    report = "\n".join(f"{key} ({len(cases)}x)\n  {cases[0]}" for key, cases in problems.items())
    assert not problems, f"{len(problems)} kinds of wrong answers:\n{report}"
    assert sent >= 0.9 * sum(examples_for(op) for op in ops), f"only {sent} requests were generated"
    assert after == before, "bad inputs changed the state"
    assert published == [], f"bad inputs published events: {published[:3]}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_an_unknown_path_or_method_is_a_json_404_or_405(service, container_factory, service_config):
    """Routing errors, answered before any entrypoint, follow the error table too."""
    base = start(container_factory, service, service_config)
    paths = {op.path: set() for op in operations(service)}
    for op in operations(service):
        paths[op.path].add(op.method)
    answers = {}
    for path, methods in paths.items():
        method = next(m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if m not in methods)
        url = base + path.replace("{format}", "json").replace("{", "x").replace("}", "")
        answers[(method, path)] = requests.request(method, url, headers={"Authorization": "Bearer t-office"},
                                                   timeout=30)
    answers[("GET", "/api/v1/no-such-thing")] = requests.get(f"{base}/api/v1/no-such-thing", timeout=30)
    wrong = {}
    for (method, path), response in answers.items():
        expected = 404 if path == "/api/v1/no-such-thing" else 405
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
        if response.status_code != expected or not (isinstance(body, dict) and body.get("message")):
            wrong[f"{method} {path}"] = (response.status_code, response.headers.get("Content-Type"),
                                         response.text[:80])
    assert wrong == {}
