"""`make demo`: start the services, push sample appeals, show what happened.

Runs the services as separate processes on PostgreSQL (one database each,
recreated for the demo) and the local RabbitMQ, then drives them through their
public interfaces only: HTTP with the demo tokens, and a plain AMQP publisher
standing in for an upstream platform.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from kombu import Connection, Exchange, Producer, Queue

from scripts import mesh
from shared.topology import declare_all, events_exchange

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "deploy" / "demo"
AMQP_URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES = os.environ.get("DEMO_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
OFFICE = {"Authorization": "Bearer demo-office-token"}
CADRE = {"Authorization": "Bearer demo-cadre-token"}
INTAKE = f"http://127.0.0.1:{mesh.PORTS['intake']}"

PROBLEMS = [
    ("用工", "技术工人招聘难", "数控机床操作工缺口 30 人，社保补贴政策不清楚"),
    ("用地", "扩建用地指标未落实", "二期厂房用地已报批半年，尚无指标"),
    ("资金/融资", "流动资金贷款审批慢", "申请 500 万元贷款，银行审批超过两个月"),
    ("审批", "环评审批材料反复退回", "环评报告被退回三次，要求不一致"),
    ("能源", "用电增容排队", "新生产线需增容 800 千伏安，供电公司排期到明年"),
    ("政策", "研发费用加计扣除不会申报", "希望税务部门上门辅导"),
]


def main() -> int:
    services = mesh.available_services()
    print(f"Suqiu demo: starting {', '.join(services)} on RabbitMQ and PostgreSQL ...")
    mesh.stop_recorded()
    vhost_uri = AMQP_URI
    with Connection(vhost_uri) as conn:
        declare_all(conn)
        channel = conn.channel()
        tap = Queue(f"demo-tap-{uuid.uuid4().hex[:6]}", exclusive=True, auto_delete=True)(channel)
        tap.declare()
        for name in ("intake", "dispatch", "supervision", "assessment", "notify"):
            channel.queue_bind(tap.name, exchange=events_exchange(name).name, routing_key="#")

        databases = {name: mesh.ensure_database(POSTGRES, f"suqiu_demo_{name}", fresh=True) for name in services}
        with mesh.Mesh(services, amqp_uri=vhost_uri, database_urls=databases):
            print("  all services healthy\n")
            run_intake_story(vhost_uri)
            print("\nWaiting for the events to be published ...")
            seen = collect(tap, expect=9, timeout=20)
    by_type = Counter(event["type"] for event in seen)
    print("\nEvents the mesh published (from the topic exchanges):")
    for event_type, count in sorted(by_type.items()):
        print(f"  {event_type:28s} {count}")
    print("\nLogs: var/log/<service>.log.  Run `make test` for the test suite.")
    return 0 if by_type.get("appeal_received") else 1


def run_intake_story(amqp_uri: str) -> None:
    with open(DEMO / "enterprises.csv", "rb") as handle:
        loaded = requests.post(f"{INTAKE}/api/v1/enterprises/import", data=handle.read(),
                               headers={**OFFICE, "Content-Type": "text/csv"}).json()
    print(f"1. Enterprise registry loaded: {loaded['counts']}")
    with open(DEMO / "enterprises.csv", encoding="utf-8") as handle:
        firms = list(csv.DictReader(handle))

    now = datetime.now(timezone.utc)
    ids = []
    for index, (category, title, description) in enumerate(PROBLEMS[:4]):
        firm = firms[index]
        body = {"credit_code": firm["credit_code"], "enterprise_name": firm["name"], "title": title,
                "description": description, "category": category, "district": firm["district"],
                "channel": "visit", "collected_at": (now - timedelta(days=1)).isoformat()}
        response = requests.post(f"{INTAKE}/api/v1/appeals", json=body,
                                 headers={**CADRE, "Idempotency-Key": f"demo-{index}"})
        ids.append(response.json()["id"])
        print(f"2. Cadre visit -> {response.status_code} {response.json()['id']}  {firm['name']}: {title}")
    again = requests.post(f"{INTAKE}/api/v1/appeals", json=body, headers={**CADRE, "Idempotency-Key": "demo-3"})
    print(f"3. The same submission retried -> {again.status_code} (the first appeal {again.json()['id']}, "
          "nothing published)")
    bad = requests.post(f"{INTAKE}/api/v1/appeals", json={**body, "credit_code": "91610700123"}, headers=CADRE)
    print(f"4. A wrong credit code -> {bad.status_code} {json.dumps(bad.json()['fields'], ensure_ascii=False)}")

    firm = firms[4]
    upstream = {"credit_code": firm["credit_code"], "enterprise_name": firm["name"], "title": PROBLEMS[4][1],
                "description": PROBLEMS[4][2], "district": firm["district"], "channel": "hotline",
                "external_id": "12345-20261123-0001", "collected_at": now.isoformat()}
    exchange = Exchange("upstream.events", type="topic", durable=True)
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for _ in range(2):  # the hotline platform sends it twice
            producer.publish(upstream, exchange=exchange, routing_key="appeal_submitted", serializer="json",
                             delivery_mode=2, message_id="hotline-msg-0001", declare=[exchange])
    print("5. The 12345 hotline published one appeal twice on upstream.events (plain AMQP)")

    firm = firms[5]
    sheet = ("统一社会信用代码,企业名称,问题标题,问题描述,问题类别,所属区县,收集时间,外部编号\n"
             f"{firm['credit_code']},{firm['name']},{PROBLEMS[5][1]},{PROBLEMS[5][2]},政策,{firm['district']},"
             f"{(now - timedelta(days=2)).strftime('%Y-%m-%d %H:%M')},SHEET-001\n"
             "91610700XXXX,无效企业,缺标题,,,汉台区,2026-11-01 09:00,SHEET-002\n")
    report = requests.post(f"{INTAKE}/api/v1/appeals/import", data=sheet.encode("utf-8"),
                           headers={**CADRE, "Content-Type": "text/csv"}).json()
    print(f"6. Problem sheet (企业问题办理单) imported: {report['counts']}")
    for row in report["rows"]:
        if row["status"] == "refused":
            print(f"     row {row['row']} refused: {json.dumps(row['errors'], ensure_ascii=False)}")

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listing = requests.get(f"{INTAKE}/api/v1/appeals", headers=OFFICE).json()
        if listing["total"] >= 6:
            break
        time.sleep(0.3)
    print(f"7. Appeals in intake: {listing['total']} "
          f"({dict(Counter(a['channel'] for a in listing['items']))})")


def collect(tap, expect: int, timeout: float) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = tap.get(no_ack=True, accept=["json"])
        if message is None:
            if len(seen) >= expect:
                break
            time.sleep(0.2)
            continue
        seen.append(message.decode())
    return seen


if __name__ == "__main__":
    sys.exit(main())
