"""The real channels: SMTP, webhooks (generic, DingTalk, WeCom) and an SMS gateway over HTTP.

Each send carries the notification's stable id (``Message-ID`` on email,
``Idempotency-Key`` on HTTP) so a receiver can drop the one repeat that a crash
between sending and recording the result can cause. A send raises
:class:`SendError` (or any I/O error) when the message was not taken.
"""
from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from email.utils import format_datetime

import requests

from services.notify.domain import body_signature, dingtalk_signed_url, webhook_body


class SendError(Exception):
    pass


class EmailChannel:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10):
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def send(self, notification: dict, contact: dict) -> None:
        if not self.host:
            raise SendError("SMTP_HOST is not configured")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = notification["address"]
        message["Subject"] = notification["subject"]
        message["Message-ID"] = f"<{notification['id']}@suqiu.notify>"
        message["Date"] = format_datetime(notification["created_at"])
        message["X-Suqiu-Event"] = notification["event_type"]
        message.set_content(notification["body"], charset="utf-8")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            refused = smtp.send_message(message)
        if refused:
            raise SendError(f"refused by the SMTP server: {refused}")


def _post(url: str, body: bytes, headers: dict, timeout: float) -> None:
    response = requests.post(url, data=body, headers={"Content-Type": "application/json; charset=utf-8", **headers},
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


class WebhookChannel:
    def __init__(self, timeout: float = 10):
        self.timeout = timeout

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
        _post(url, body, headers, self.timeout)


class SmsChannel:
    """A gateway adapter: ``POST SMS_GATEWAY_URL`` ``{"id", "phone", "text"}``, 2xx = accepted."""

    def __init__(self, gateway_url: str, timeout: float = 10):
        self.gateway_url, self.timeout = gateway_url, timeout

    def send(self, notification: dict, contact: dict) -> None:
        if not self.gateway_url:
            raise SendError("SMS_GATEWAY_URL is not configured")
        import json

        body = json.dumps({"id": notification["id"], "phone": notification["address"],
                           "text": f"{notification['subject']}\n{notification['body']}"},
                          ensure_ascii=False).encode("utf-8")
        _post(self.gateway_url, body, {"Idempotency-Key": notification["id"]}, self.timeout)
