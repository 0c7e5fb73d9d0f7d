"""OpenAPI 3 documents built from each service's marshmallow schemas (apispec)."""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

ERROR_BODY = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable machine name, e.g. invalid_input"},
        "message": {"type": "string"},
        "fields": {"type": "object", "description": "field -> list of messages"},
    },
}
BEARER = [{"bearer": []}]


def error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def json_content(schema: Any) -> dict:
    return {"application/json": {"schema": schema}}


def build_spec(title: str, version: str, schemas: dict[str, Any], paths: dict[str, dict]) -> dict:
    spec = APISpec(title=title, version=version, openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR_BODY)
    for name, schema in schemas.items():
        spec.components.schema(name, schema=schema)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    for path in ("/healthz", "/metrics"):
        spec.path(path=path, operations={"get": {"summary": "health (503 when a dependency is down)"
                                                 if path == "/healthz" else "Prometheus metrics",
                                                 "responses": {"200": {"description": "ok"}}}})
    return spec.to_dict()
