"""HTTP plumbing: one error table, JSON responses, paging.

Every domain error maps to one HTTP status and a JSON body in
:data:`ERROR_TABLE`; the :func:`http` entrypoint applies it, so entrypoints stay
parse -> call -> serialize.
"""
from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import eventlet
from marshmallow import ValidationError
from nameko.exceptions import BadRequest
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

from shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)


ERROR_TABLE: dict[type[Exception], int] = {
    InvalidInput: 400,
    ValidationError: 400,
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unavailable: 503,
}


def error_response(exc: Exception) -> Response:
    """The response for any exception: its row of the table, else a 500 that hides internals."""
    if isinstance(exc, SQLAlchemyOperationalError):  # the database is down or restarting: retry later
        log.warning("database unavailable: %s", exc.orig if hasattr(exc, "orig") else exc)
        return json_response({"error": "unavailable", "message": "the database is not answering; retry shortly"},
                             status=503, headers={"Retry-After": "5"})
    for kind in type(exc).__mro__:
        status = ERROR_TABLE.get(kind)
        if status is not None:
            break
    else:
        log.exception("unexpected error", exc_info=exc)
        return json_response({"error": "internal", "message": "internal error"}, status=500)
    if isinstance(exc, ValidationError):
        body = {"error": "invalid_input", "message": "invalid input", "fields": _messages(exc.messages)}
    elif isinstance(exc, DomainError):
        body = {"error": exc.code, "message": exc.message}
        if exc.fields:
            body["fields"] = exc.fields
    else:
        body = {"error": "bad_request", "message": str(exc) or "bad request"}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response(body, status=status, headers=headers)


def _messages(messages: Any) -> Any:
    if isinstance(messages, list):
        return {"_schema": messages}
    return messages


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(body: Any, status: int = 200, headers: dict[str, Any] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=_default), status=status,
                    headers=headers, mimetype="application/json")


MAX_BODY_BYTES = 10 * 1024 * 1024


def json_body(request: Request) -> Any:
    """The request's JSON body, or a 400/413/415 that says why not."""
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body larger than {MAX_BODY_BYTES} bytes")
    if request.mimetype not in ("application/json", ""):
        raise UnsupportedMediaType("send JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)
    if not raw:
        raise InvalidInput("the request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if _holds_nul(body):
        raise InvalidInput("the body holds a NUL character (\\u0000), which no text may contain")
    return body


def _holds_nul(value: Any) -> bool:
    """Whether a NUL is in any string of ``value``: PostgreSQL text cannot store one (a 500 otherwise)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def paging(request: Request, default_size: int = 20, max_size: int = 200) -> tuple[int, int]:
    """``page`` (from 1) and ``page_size`` query arguments, validated."""
    errors = {}
    values = {}
    for name, default, upper in (("page", 1, 10**6), ("page_size", default_size, max_size)):
        raw = request.args.get(name)
        if raw is None:
            values[name] = default
            continue
        try:
            value = int(raw)
        except ValueError:
            errors[name] = ["must be a whole number"]
            continue
        if not 1 <= value <= upper:
            errors[name] = [f"must be between 1 and {upper}"]
        values[name] = value
    if errors:
        raise InvalidInput("invalid paging", errors)
    return values["page"], values["page_size"]


def page_body(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def routing_error_response(exc: HTTPException) -> Response:
    """No such path (404) or method (405): the error table's JSON, not werkzeug's HTML page."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.code or 400, "bad_request")
    headers = {key: value for key, value in exc.get_headers() if key.lower() == "allow"}
    return json_response({"error": code, "message": exc.description or exc.name}, status=exc.code or 400,
                         headers=headers or None)


class JsonWsgiApp(WsgiApp):
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ, shallow=True)  # as nameko's: nobody reads the body before the entrypoint
        refused = self._concrete_path_refuses(environ)
        if refused is not None:
            return routing_error_response(refused)(environ, start_response)
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
        except HTTPException as exc:
            if exc.code is not None and exc.code < 400:  # a redirect (e.g. a trailing slash): as nameko does
                return exc(environ, start_response)
            return routing_error_response(exc)(environ, start_response)
        request.path_values = values  # type: ignore[attr-defined]  # what nameko's handlers read
        response: Iterable[bytes] = provider.handle_request(request)(environ, start_response)
        return response

    def _concrete_path_refuses(self, environ: WSGIEnvironment) -> MethodNotAllowed | None:
        """A 405 when a concrete path has no rule for the method, even if a templated one would match.

        OpenAPI matches a concrete path (``/api/v1/appeals/import``) before a templated one
        (``/api/v1/appeals/{appeal_id}``); werkzeug would route ``GET /api/v1/appeals/import`` to
        the template and advertise its methods in ``Allow``. The document is the contract.
        """
        concrete = getattr(self, "_concrete_methods", None)
        if concrete is None:
            concrete = {}
            for rule in self.url_map.iter_rules():
                if not rule.arguments:
                    concrete.setdefault(rule.rule, set()).update(rule.methods or ())
            self._concrete_methods = concrete
        methods = concrete.get(environ.get("PATH_INFO", ""))
        if methods is None or environ.get("REQUEST_METHOD", "GET").upper() in methods:
            return None
        return MethodNotAllowed(valid_methods=sorted(methods))


class JsonWebServer(WebServer):
    """nameko's web server whose routing errors answer in JSON like every other error."""

    def get_wsgi_app(self) -> WsgiApp:
        return JsonWsgiApp(self)

    def start(self) -> None:
        # nameko's, but without SO_REUSEPORT, which eventlet.listen sets by default: with it a second
        # copy of the mesh binds the same port and the kernel shares the connections between the two
        # processes (issue 11: /healthz answered from the other mesh, then a 401). Now it fails to bind.
        if not getattr(self, "_starting", False):
            self._starting = True
            self._sock = listen(self.bind_addr)
            self._sock.settimeout(None)  # https://github.com/celery/kombu/issues/838, as nameko
            self._serv = self.get_wsgi_server(self._sock, self.get_wsgi_app())
            self._gt = self.container.spawn_managed_thread(self.run)

    def kill(self) -> None:
        # nameko closes the socket on stop only; a killed process would lose it too, so a container
        # started after a kill (the crash tests) can bind the same port now that it is not shared
        if self._sock is not None:
            self._sock.close()
        super().kill()


def listen(address: tuple[str, int]) -> socket.socket:
    """A listening socket that no other process can share (SO_REUSEADDR, never SO_REUSEPORT)."""
    sock: socket.socket = eventlet.listen(address, reuse_port=False)
    return sock


class HttpEntrypoint(HttpRequestHandler):
    """nameko's ``http`` entrypoint answering every error through :data:`ERROR_TABLE`."""

    server = JsonWebServer()

    def __init__(self, method: str, url: str, **kwargs: Any) -> None:
        # client errors are expected: nameko should not log them as failures
        kwargs.setdefault("expected_exceptions", (DomainError, ValidationError, BadRequest))
        super().__init__(method, url, **kwargs)

    def get_entrypoint_parameters(self, request: Request) -> Any:
        # a NUL in the path or the query would reach PostgreSQL, which refuses it with a 500
        path_values = request.path_values  # type: ignore[attr-defined]  # set by JsonWsgiApp
        if any("\x00" in str(value) for value in path_values.values()) or \
                any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
            raise InvalidInput("the URL holds a NUL character (%00), which no text may contain")
        repeated = sorted({key for key, values in request.args.lists() if len(values) > 1})
        if repeated:  # no argument of the API is a list: a second value would be silently dropped
            raise InvalidInput("give each query argument once", {key: ["given more than once"] for key in repeated})
        return super().get_entrypoint_parameters(request)

    def response_from_exception(self, exc: Exception) -> Response:
        return error_response(exc)


_Handler = TypeVar("_Handler", bound=Callable[..., Any])
# nameko's decorator, typed: it registers the method and returns it unchanged
http: Callable[..., Callable[[_Handler], _Handler]] = HttpEntrypoint.decorator
