"""The real channels: SMTP, webhooks (generic, DingTalk, WeCom) and an SMS gateway over HTTP.

Each send carries the notification's stable id (``Message-ID`` on email,
``Idempotency-Key`` on HTTP) so a receiver can drop the one repeat that a crash
between sending and recording the result can cause. A send raises
:class:`SendError` (or any I/O error) when the message was not taken.
"""
from __future__ import annotations

import contextlib
import json
import smtplib
import threading
import time
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime

import requests

from services.notify.domain import body_signature, dingtalk_signed_url, webhook_body


class SendError(Exception):
    pass


class EmailChannel:
    """SMTP over one session kept open between messages (reopened when the server dropped it)."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10):
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()  # green under eventlet: the loop and a send-due request share it

    def send(self, notification: dict, contact: dict) -> None:
        if not self.host:
            raise SendError("SMTP_HOST is not configured")
        # MIMEText with the compat32 policy: the same RFC 5322 message as EmailMessage's default
        # policy gives, at a fraction of its header-parsing cost (it dominated the send)
        message = MIMEText(notification["body"], "plain", "utf-8")
        message["From"] = self.sender
        message["To"] = notification["address"]
        message["Subject"] = Header(notification["subject"], "utf-8")
        message["Message-ID"] = f"<{notification['id']}@suqiu.notify>"
        message["Date"] = format_datetime(notification["created_at"])
        message["X-Suqiu-Event"] = notification["event_type"]
        raw, to = message.as_bytes(), [notification["address"]]
        with self._lock:
            try:
                refused = self._session().sendmail(self.sender, to, raw)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                # the kept session went stale (server timeout, restart): once more on a new one;
                # a message the server took just before dropping us goes twice, same Message-ID
                self._drop()
                refused = self._session().sendmail(self.sender, to, raw)
            except Exception:
                self._drop()
                raise
        if refused:
            raise SendError(f"refused by the SMTP server: {refused}")

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        return self._smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):  # pragma: no cover - closing a broken socket
                smtp.close()

    def close(self) -> None:
        with self._lock:
            if self._smtp is not None:
                with contextlib.suppress(Exception):
                    self._smtp.quit()
            self._drop()


def _post(session: requests.Session, url: str, body: bytes, headers: dict, timeout: float) -> None:
    response = session.post(url, data=body, headers={"Content-Type": "application/json; charset=utf-8", **headers},
                            timeout=timeout)
    if response.status_code >= 300:
        raise SendError(f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        answer = response.json()
    except ValueError:
        return
    # DingTalk and WeCom answer 200 with an error code in the body
    if isinstance(answer, dict) and answer.get("errcode") not in (None, 0):
        raise SendError(f"errcode {answer.get('errcode')}: {answer.get('errmsg')}")


class _HttpChannel:
    """HTTP with keep-alive: one session (connection pool) per channel."""

    def __init__(self, timeout: float = 10):
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()


class WebhookChannel(_HttpChannel):
    def send(self, notification: dict, contact: dict) -> None:
        kind = notification.get("webhook_kind") or "generic"
        body = webhook_body(kind, notification)
        url = notification["address"]
        secret = contact.get("webhook_secret")
        headers = {"Idempotency-Key": notification["id"]}
        if secret:
            headers["X-Suqiu-Signature"] = body_signature(secret, body)
            if kind == "dingtalk":
                url = dingtalk_signed_url(url, secret, int(time.time() * 1000))
        _post(self.session, url, body, headers, self.timeout)


class SmsChannel(_HttpChannel):
    """A gateway adapter: ``POST SMS_GATEWAY_URL`` ``{"id", "phone", "text"}``, 2xx = accepted."""

    def __init__(self, gateway_url: str, timeout: float = 10):
        super().__init__(timeout)
        self.gateway_url = gateway_url

    def send(self, notification: dict, contact: dict) -> None:
        if not self.gateway_url:
            raise SendError("SMS_GATEWAY_URL is not configured")
        body = json.dumps({"id": notification["id"], "phone": notification["address"],
                           "text": f"{notification['subject']}\n{notification['body']}"},
                          ensure_ascii=False).encode("utf-8")
        _post(self.session, self.gateway_url, body, {"Idempotency-Key": notification["id"]}, self.timeout)
