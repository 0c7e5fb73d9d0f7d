"""Link vhosts (or brokers) with RabbitMQ dynamic shovels, from a YAML file.

    python -m scripts.links apply FILE [--management http://127.0.0.1:15672]
    python -m scripts.links remove FILE

A link forwards one exchange + routing key of a source vhost to the same exchange
of a destination (another vhost, or another broker with ``uri:``). See
``deploy/links/hanzhong-districts.yaml``.
"""
from __future__ import annotations

import argparse
import os
from urllib.parse import quote

import requests
import yaml
from kombu import Connection, Exchange, Queue

from shared.topology import declare_all

MANAGEMENT = os.environ.get("RABBIT_MANAGEMENT", "http://127.0.0.1:15672")
AUTH = (os.environ.get("RABBIT_USER", "guest"), os.environ.get("RABBIT_PASSWORD", "guest"))
LOCAL_AMQP = os.environ.get("AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")


def _uri(end: dict) -> str:
    """The shovel's URI of one end: ``uri`` as given, else the local broker's vhost."""
    return end.get("uri") or f"amqp:///{quote(end['vhost'], safe='')}"


def _client_uri(end: dict) -> str:
    return end.get("client_uri") or f"{LOCAL_AMQP}/{quote(end['vhost'], safe='')}"


def source_queue(link: dict) -> Queue:
    return Queue(f"link.{link['name']}", exchange=Exchange(link["exchange"], type="topic", durable=True),
                 routing_key=link["routing_key"], durable=True)


def apply(links: list[dict], management: str = MANAGEMENT) -> None:
    for link in links:
        with Connection(_client_uri(link["to"])) as conn:
            declare_all(conn)  # the destination exchanges exist before anything flows
        with Connection(_client_uri(link["from"])) as conn:
            declare_all(conn)
            source_queue(link)(conn.channel()).declare()
        value = {
            "src-protocol": "amqp091", "src-uri": _uri(link["from"]), "src-queue": f"link.{link['name']}",
            "dest-protocol": "amqp091", "dest-uri": _uri(link["to"]), "dest-exchange": link["exchange"],
            "ack-mode": "on-confirm", "src-delete-after": "never", "dest-add-forward-headers": False,
            "reconnect-delay": 5,
        }
        vhost = quote(link["from"]["vhost"], safe="")
        response = requests.put(f"{management}/api/parameters/shovel/{vhost}/{quote(link['name'], safe='')}",
                                json={"value": value}, auth=AUTH, timeout=10)
        response.raise_for_status()


def remove(links: list[dict], management: str = MANAGEMENT) -> None:
    for link in links:
        vhost = quote(link["from"]["vhost"], safe="")
        requests.delete(f"{management}/api/parameters/shovel/{vhost}/{quote(link['name'], safe='')}",
                        auth=AUTH, timeout=10)


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["links"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.links")
    parser.add_argument("command", choices=["apply", "remove"])
    parser.add_argument("file")
    parser.add_argument("--management", default=MANAGEMENT)
    args = parser.parse_args(argv)
    links = load(args.file)
    (apply if args.command == "apply" else remove)(links, args.management)
    print(f"{args.command}: {len(links)} link(s)")


if __name__ == "__main__":
    main()
