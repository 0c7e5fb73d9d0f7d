"""The services the console calls, on a person's behalf, through their public HTTP APIs.

A service whose URL is not configured (``INTAKE_URL``, ``DISPATCH_URL``, ...) is not
deployed here: :class:`NotDeployed`, which the pages show plainly. A refusal by a service
(4xx) becomes :class:`ServiceRefused` with the service's own message; a service that does
not answer, :class:`shared.errors.Unavailable`.
"""
from __future__ import annotations

from typing import Any

import requests

from shared.errors import DomainError, Unavailable
from shared.service import SIMULATED_NOW_HEADER

SERVICES = ("intake", "dispatch", "supervision", "assessment", "notify")
SERVICE_NAMES = {"intake": "诉求受理", "dispatch": "派单办理", "supervision": "督办", "assessment": "考核评估",
                 "notify": "通知"}
STATUS_LEADS = {400: "填写有误", 401: "身份未被认可", 403: "无权进行此操作", 404: "未找到",
                409: "当前状态下不能进行此操作", 413: "内容过大", 415: "格式不被接受"}


class NotDeployed(DomainError):
    code = "not_deployed"

    def __init__(self, service: str):
        super().__init__(f"本地未部署{SERVICE_NAMES.get(service, service)}服务（{service}），此项功能在本地不可用")
        self.service = service


class ServiceRefused(DomainError):
    """A service said no (4xx): its status, and its message under a Chinese lead."""
    code = "refused"

    def __init__(self, service: str, status: int, body: Any):
        message = body.get("message") if isinstance(body, dict) else None
        lead = STATUS_LEADS.get(status, "操作未完成")
        super().__init__(f"{lead}（{SERVICE_NAMES.get(service, service)}：{message or status}）",
                         body.get("fields") if isinstance(body, dict) and isinstance(body.get("fields"), dict)
                         else None)
        self.service = service
        self.status = status


class ServiceClient:
    """Calls the services with one bearer token (a person's, or an enterprise's link token)."""

    def __init__(self, urls: dict[str, str | None], token: str | None, now_header: str | None = None,
                 timeout: float = 30.0):
        self.urls = {name: (url or "").rstrip("/") or None for name, url in urls.items()}
        self.token = token
        self.now_header = now_header
        self.timeout = timeout
        self.http = requests.Session()

    def deployed(self, service: str) -> bool:
        return bool(self.urls.get(service))

    def _request(self, method: str, service: str, path: str, **kwargs) -> requests.Response:
        base = self.urls.get(service)
        if not base:
            raise NotDeployed(service)
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.now_header:
            headers[SIMULATED_NOW_HEADER] = self.now_header
        try:
            response = self.http.request(method, base + path, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise Unavailable(f"{SERVICE_NAMES.get(service, service)}服务暂时无法访问（{type(exc).__name__}），"
                              "请稍后再试") from None
        if response.status_code >= 500:
            raise Unavailable(f"{SERVICE_NAMES.get(service, service)}服务暂时无法处理（{response.status_code}），"
                              "请稍后再试")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise ServiceRefused(service, response.status_code, body)
        return response

    def get(self, service: str, path: str, **params) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return self._request("GET", service, path, params=clean).json()

    def post(self, service: str, path: str, body: dict | None = None, **params) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        response = self._request("POST", service, path, json=body if body is not None else {}, params=clean)
        return response.json() if response.content else None

    def raw(self, service: str, path: str, **params) -> requests.Response:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return self._request("GET", service, path, params=clean)

    def all_pages(self, service: str, path: str, limit: int = 1000, **params) -> list[dict]:
        items: list[dict] = []
        page = 1
        while len(items) < limit:
            body = self.get(service, path, page=page, page_size=200, **params)
            items += body["items"]
            if len(items) >= body["total"] or not body["items"]:
                break
            page += 1
        return items[:limit]

    def close(self) -> None:
        self.http.close()
