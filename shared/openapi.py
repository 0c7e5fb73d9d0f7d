"""OpenAPI 3.1 documents built from each service's marshmallow schemas (apispec).

A document promises two things an outside tool (schemathesis) holds it to: which requests
are well formed (a schema-valid request is accepted, an invalid one refused), and which
statuses each operation answers. The services write the statuses of their own rules; the
ones that come from the shared plumbing are added here, from the operation's shape, so no
service forgets one:

* a ``security`` requirement: 401 without a known token (:mod:`shared.auth`), 403 for a
  role that may not do this;
* a JSON request body: 400 (not JSON, invalid), 413 (over :data:`shared.web.MAX_BODY_BYTES`),
  415 (a content type that is not JSON);
* any parameter: 400 (an invalid value; a NUL in the URL), and a path parameter: 404;
* every operation but ``/metrics``: 503 while the database does not answer.

No text may hold a NUL character (PostgreSQL cannot store one; :func:`shared.web.json_body`
refuses it): every string the document describes says so with a pattern, and every object
with free keys says it of its keys.
"""
from __future__ import annotations

import copy
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

OPENAPI_VERSION = "3.1.0"
NO_NUL = "^[^\\u0000]*$"
"""A pattern (ECMA-262 and Python alike) for text without a NUL character."""

ERROR_BODY = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable machine name, e.g. invalid_input"},
        "message": {"type": "string"},
        "fields": {"type": "object", "description": "field -> list of messages"},
    },
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_MAX = 20, 200, 10**6


def error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def json_content(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def paging_parameters(default_size: int = PAGE_SIZE_DEFAULT, max_size: int = PAGE_SIZE_MAX) -> list[dict[str, Any]]:
    """``page`` and ``page_size`` as :func:`shared.web.paging` reads them."""
    return [
        {"name": "page", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 1}},
        {"name": "page_size", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": max_size, "default": default_size}},
    ]


def query(schema: Any) -> dict[str, Any]:
    """The fields of a marshmallow schema as query parameters (apispec expands it)."""
    return {"in": "query", "schema": schema}


PLUMBING = {
    "401": "no token, or one that is not known",
    "403": "the token's role may not do this",
    "400": "invalid input, a message per field; nothing changed",
    "404": "no such resource",
    "413": "the body is larger than 10 MB",
    "415": "the body is not JSON (send Content-Type: application/json)",
    "503": "the database does not answer; retry after Retry-After seconds",
}


def _declare_plumbing_statuses(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    wanted = []
    if operation.get("security"):
        wanted += ["401", "403"]
    content = (operation.get("requestBody") or {}).get("content", {})
    if "application/json" in content:
        wanted += ["400", "413", "415"]
    parameters = operation.get("parameters", [])
    if parameters:
        wanted.append("400")
    if any(p.get("in") == "path" for p in parameters):
        wanted.append("404")
    if path != "/metrics":
        wanted.append("503")
    for status in wanted:
        responses.setdefault(status, error(PLUMBING[status]))


_FREE_TEXT_FORMATS = (None, "email", "uri", "url")


def forbid_nul(schema: Any) -> None:
    """Say, in ``schema`` and every schema inside it, that no text holds a NUL character."""
    if isinstance(schema, list):
        for item in schema:
            forbid_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if "format" in schema and schema["format"] is None:  # a field that says "no format" (shared.periods.Instant)
        del schema["format"]
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    if "string" in kinds and "pattern" not in schema and "enum" not in schema and "const" not in schema \
            and schema.get("format") in _FREE_TEXT_FORMATS:
        schema["pattern"] = NO_NUL
    if "object" in kinds and schema.get("additionalProperties") is not False and "propertyNames" not in schema:
        schema["propertyNames"] = {"pattern": NO_NUL}
    if "object" in kinds and schema.get("additionalProperties", True) in ({}, True):
        # keys the reader ignores are still read by json_body, which refuses a NUL anywhere
        schema["additionalProperties"] = {"$ref": "#/components/schemas/Json"}
    for key in ("properties", "patternProperties", "$defs"):
        for sub in (schema.get(key) or {}).values():
            forbid_nul(sub)
    for key in ("items", "additionalProperties", "not", "contains"):
        if isinstance(schema.get(key), dict):
            forbid_nul(schema[key])
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        forbid_nul(schema.get(key))


# Any JSON value with no NUL in its text: what a free-form object (``fields.Dict()``) holds.
JSON_VALUE = {
    "description": "any JSON value without a NUL character in its text",
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": {"$ref": "#/components/schemas/Json"}},
        {"type": "object", "propertyNames": {"pattern": NO_NUL},
         "additionalProperties": {"$ref": "#/components/schemas/Json"}},
    ],
}


def build_spec(title: str, version: str, schemas: dict[str, Any], paths: dict[str, dict[str, Any]],
               refinements: dict[str, dict[str, Any]] | None = None,
               vocabulary: dict[tuple[str, ...], list[Any]] | None = None) -> dict[str, Any]:
    """The service's OpenAPI 3.1 document.

    ``refinements`` adds JSON Schema keywords to named component schemas: the rules a
    marshmallow schema checks in code (``validates_schema``) that a document must state too,
    e.g. ``{"ClassifyInput": {"minProperties": 1}}``. ``vocabulary`` gives the values a
    deployment accepts (its unit codes, its categories) as an ``enum``, by the path to the
    property: ``{("AssignInput", "lead"): ["tax", "hrss"]}``.
    """
    spec = APISpec(title=title, version=version, openapi_version=OPENAPI_VERSION, plugins=[MarshmallowPlugin()])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR_BODY)
    spec.components.schema("Json", copy.deepcopy(JSON_VALUE))
    for name, schema in schemas.items():
        spec.components.schema(name, schema=schema)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    spec.path(path="/healthz", operations={"get": {
        "summary": "health (503 when the broker or the database does not answer, or the event consumer "
                   "does not consume its queues yet)",
        "responses": {"200": {"description": "every dependency answers and the consumer consumes"},
                      "503": {"description": "a dependency does not answer or the consumer is not up"}}}})
    spec.path(path="/metrics", operations={"get": {
        "summary": "Prometheus metrics (text exposition format)",
        "responses": {"200": {"description": "the metrics",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}})
    document = spec.to_dict()
    for name, keywords in (refinements or {}).items():
        document["components"]["schemas"][name].update(copy.deepcopy(keywords))
    for (name, *steps), values in (vocabulary or {}).items():
        schema = document["components"]["schemas"][name]
        for step in steps:
            schema = schema[step] if step == "items" else schema["properties"][step]
        schema["enum"] = list(values)
        schema.pop("pattern", None)
    for name, schema in document["components"]["schemas"].items():
        if name != "Json":
            forbid_nul(schema)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            _declare_plumbing_statuses(path, operation)
            for parameter in operation.get("parameters", []):
                forbid_nul(parameter.get("schema"))
            for media_type, media in ((operation.get("requestBody") or {}).get("content") or {}).items():
                if media_type != "multipart/form-data":  # parts are bytes; the ones not read are ignored
                    forbid_nul(media.get("schema"))
    return document
