"""Local stand-ins for the outside world, for the demo, the simulator and the benchmark:
an SMTP server (aiosmtpd) and an SMS gateway / webhook receiver (HTTP), on loopback,
that keep what they were sent so a run can show it."""
from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.ports import free_port


class MailSink:
    """An SMTP server on loopback keeping every message it accepted, parsed, with its recipients.

    ``on_message(recipients, message)`` is called for each one as well (the fault tests write
    them to a file from a process of their own)."""

    def __init__(self, port: int | None = None,
                 on_message: Callable[[list[str], EmailMessage], None] | None = None):
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                raw = envelope.original_content or envelope.content
                message = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
                recipients = list(envelope.rcpt_tos)
                with sink._lock:
                    sink.messages.append((recipients, message))
                    if on_message is not None:
                        on_message(recipients, message)
                return "250 OK"

        self.port = port or free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address``."""
        return [message for recipients, message in self.messages if address in recipients]

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


class HttpSink:
    """An HTTP server on loopback standing in for an SMS gateway or a group robot's webhook:
    it answers every POST with a JSON 200 and keeps what it was sent (``received``: path, query,
    headers, raw body, JSON body); ``fail[path] = n`` makes the next n POSTs to ``path`` answer
    503 first, as a busy gateway does. ``on_post(request)`` is called for each one as well."""

    def __init__(self, port: int | None = None, on_post: Callable[[dict[str, Any]], None] | None = None):
        self.received: list[dict[str, Any]] = []
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urllib.parse.urlsplit(self.path)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                request = {"path": parts.path, "query": urllib.parse.parse_qs(parts.query),
                           "headers": dict(self.headers), "raw": raw, "json": body}
                with sink._lock:
                    sink.received.append(request)
                    if on_post is not None:
                        on_post(request)
                    busy = sink.fail.get(parts.path, 0) > 0
                    if busy:
                        sink.fail[parts.path] -= 1
                status, answer = (503, b"busy") if busy else (200, b'{"ok": true, "errcode": 0, "errmsg": "ok"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.port = port or free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, path: str) -> list[dict[str, Any]]:
        """The requests POSTed to ``path`` (without its query)."""
        return [request for request in self.received if request["path"] == path]

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def sink_env(mail: MailSink, sms: HttpSink) -> dict:
    """The environment that points notify at the sinks."""
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mail.port), "SMS_GATEWAY_URL": f"{sms.url}/sms"}


def main(argv: list[str]) -> None:
    """``python -m scripts.sinks MAIL_LOG HTTP_LOG SMTP_PORT HTTP_PORT``: both sinks in a process of
    their own (the fault tests kill the services, not the outside world), appending a JSON line per
    message to the two logs; prints ``ready`` once both listen."""
    mail_log, http_log, smtp_port, http_port = argv[0], argv[1], int(argv[2]), int(argv[3])

    def log_mail(recipients: list[str], message: EmailMessage) -> None:
        with open(mail_log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"message_id": message.get("Message-ID"), "to": recipients,
                                  "event": message.get("X-Suqiu-Event")}) + "\n")

    def log_post(request: dict[str, Any]) -> None:
        with open(http_log, "a", encoding="utf-8") as out:
            key = next((v for k, v in request["headers"].items() if k.lower() == "idempotency-key"), None)
            out.write(json.dumps({"path": request["path"], "key": key}) + "\n")

    with MailSink(smtp_port, on_message=log_mail), HttpSink(http_port, on_post=log_post):
        print("ready", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1:])
