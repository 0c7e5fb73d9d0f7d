"""The campaign simulator: replay a campaign from its profile against the running mesh.

    python -m scripts.simulate --profile hanzhong --weeks 4 --enterprises 40 --appeals-per-day 6

Through the public interfaces only (:mod:`scripts.client`): enterprises are
registered with paired cadres, cadres submit appeals over HTTP and a hotline
platform publishes some on ``upstream.events``; the office assigns what no rule
routed; units accept, reply (solved, explained, long-term), return or stall with
the configured probabilities; the office calls the enterprises back (满意 /
基本满意 / 不满意). Time moves by ``X-Suqiu-Now`` on every call and by
supervision's ``tick(now)``, never by sleeping; after each step the simulator
waits until the mesh has drained its queues.

:func:`run` is what the demo and the tests call; ``main`` starts a mesh of its own.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from stdnum.cn import uscc

from scripts.client import Suqiu
from shared import workdays
from shared.workdays import SHANGHAI

PROBLEMS = {
    "用工": [("技术工人招聘难", "数控操作工缺口较大，希望对接职业院校和招聘会"),
             ("稳岗补贴申领", "不清楚稳岗返还政策和申报流程")],
    "用地": [("扩建用地指标未落实", "二期厂房用地已报批半年，尚无指标"),
             ("厂房不动产证办理难", "历史遗留问题导致厂房无法办证")],
    "资金/融资": [("流动资金贷款审批慢", "申请贷款，银行审批超过两个月"),
                 ("应收账款融资难", "希望对接供应链金融产品")],
    "审批": [("环评审批材料反复退回", "环评报告被多次退回，要求不一致"),
             ("施工许可办理时间长", "新建车间施工许可迟迟未批")],
    "政策": [("研发费用加计扣除不会申报", "希望税务部门上门辅导"),
             ("专精特新认定政策咨询", "想了解申报条件和奖励政策")],
    "人才": [("高层次人才落户", "引进的博士落户和子女入学问题")],
    "能源": [("用电增容排队", "新生产线需增容，供电公司排期到明年"),
             ("天然气价格偏高", "用气成本高，希望协调价格")],
    "市场": [("产品进入政府采购目录", "希望了解采购目录申报方式")],
    "法律": [("合同纠纷久拖不决", "与上游企业合同纠纷，希望法律援助")],
    "其他": [("企业门前道路破损", "货车进出困难，希望修缮道路")],
}
SIZES = ["微型", "小型", "中型", "大型"]
INDUSTRIES = ["制造业", "食品加工", "电子信息", "新材料", "物流", "农业", "文旅", "软件"]


@dataclass
class Behaviour:
    """How the people in the simulation behave; probabilities per step."""

    p_upstream: float = 0.2  # an appeal arrives from the hotline platform (AMQP) instead of a cadre
    p_no_category: float = 0.3  # the submitter leaves the category to the keyword rules
    p_accept: float = 0.75  # a unit signs for a new appeal on a given working day
    p_return: float = 0.06  # ... or returns it (退单)
    p_escalation_request: float = 0.02  # ... or asks for escalation (提级申请)
    p_reply: float = 0.45  # an accepted appeal is replied on a given working day
    p_stall: float = 0.08  # an accepted appeal is left to lie (it goes red and climbs the ladder)
    outcomes: dict = field(default_factory=lambda: {"solved": 0.8, "explained": 0.12, "long_term": 0.08})
    p_callback: float = 0.8  # the office calls back a replied appeal on a given working day
    satisfaction: dict = field(default_factory=lambda: {"满意": 0.75, "基本满意": 0.17, "不满意": 0.08})
    p_not_solved: float = 0.05  # the enterprise says it is not really solved


@dataclass
class Outcome:
    appeals: int = 0
    states: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    parked: dict = field(default_factory=dict)
    weeks: list = field(default_factory=list)
    months: list = field(default_factory=list)
    started: date | None = None
    ended: date | None = None


def credit_code(rng: random.Random) -> str:
    base = "91" + "".join(rng.choice("0123456789") for _ in range(15))
    return base + uscc.calc_check_digit(base)


def enterprises(units: list[dict], count: int, rng: random.Random) -> list[dict]:
    districts = [u["district"] for u in units if u["type"] == "locality" and u.get("district")]
    firms = []
    for n in range(count):
        district = districts[n % len(districts)]
        firms.append({"credit_code": credit_code(rng), "name": f"{district}第{n + 1}号企业有限公司",
                      "district": district, "industry": rng.choice(INDUSTRIES), "size": rng.choice(SIZES),
                      "cadre": f"干部{n + 1:04d}", "leader": f"包联领导{n % 7 + 1}",
                      "tags": rng.choice(["专精特新", "高新技术", "外贸", ""])})
    return firms


def registry_csv(firms: list[dict]) -> str:
    lines = ["credit_code,name,district,industry,size,cadre,leader,tags"]
    lines += [",".join(str(f[k]) for k in ("credit_code", "name", "district", "industry", "size", "cadre",
                                            "leader", "tags")) for f in firms]
    return "\n".join(lines) + "\n"


def working_days(start: date, weeks: int):
    day = start
    for _ in range(weeks * 7):
        yield day, workdays.is_workday(day)
        day += timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def pick(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:40s}")
    sys.stderr.flush()
    if done == total:
        sys.stderr.write("\n")


def run(client: Suqiu, units: list[dict], *, start: date, weeks: int, enterprise_count: int,
        appeals_per_day: int, seed: int = 7, behaviour: Behaviour | None = None, show_progress: bool = True,
        office: str = "office") -> Outcome:
    rng = random.Random(seed)
    behaviour = behaviour or Behaviour()
    outcome = Outcome(started=start)
    firms = enterprises(units, enterprise_count, rng)
    client.register_enterprises(registry_csv(firms))
    departments = [u["code"] for u in units if u["type"] == "department"] or [office]
    days = list(working_days(start, weeks))
    serial = 0
    stalled: set[str] = set()
    for index, (day, working) in enumerate(days):
        if show_progress:
            progress(index, len(days), f"{day.isoformat()} {'工作日' if working else '休息日'}")
        if working:
            for _ in range(appeals_per_day):
                serial += 1
                firm = rng.choice(firms)
                category = rng.choice(list(PROBLEMS))
                title, description = rng.choice(PROBLEMS[category])
                appeal = {"credit_code": firm["credit_code"], "enterprise_name": firm["name"],
                          "title": title, "description": description, "district": firm["district"],
                          "collected_at": at(day - timedelta(days=rng.choice([0, 0, 1, 2, 3])), 8).isoformat()}
                if rng.random() > behaviour.p_no_category:
                    appeal["category"] = category
                if rng.random() < behaviour.p_upstream:
                    client.publish_upstream({**appeal, "channel": "hotline", "external_id": f"12345-{seed}-{serial}"},
                                            message_id=f"hotline-{seed}-{serial}", now=at(day, 9))
                    outcome.actions["submitted_amqp"] += 1
                else:
                    client.submit({**appeal, "channel": "visit"}, at(day, 9, rng.randrange(60)),
                                  key=f"sim-{seed}-{serial}")
                    outcome.actions["submitted_http"] += 1
            client.quiesce()
            for item in client.queue():
                client.assign(item["id"], rng.choice(departments), at(day, 10))
                outcome.actions["assigned_by_office"] += 1
            client.quiesce()
            for item in client.appeals(status="dispatched") + client.appeals(status="reopened"):
                unit, roll = item["lead_unit"], rng.random()
                if unit is None:
                    continue
                if roll < behaviour.p_return and item["status"] == "dispatched":
                    client.return_(unit, item["id"], "不属于本单位职责范围", at(day, 11))
                    outcome.actions["returned"] += 1
                elif roll < behaviour.p_return + behaviour.p_escalation_request:
                    client.request_escalation(unit, item["id"], "超出本单位权限，申请提级研判", at(day, 11))
                    outcome.actions["escalation_requested"] += 1
                elif roll < behaviour.p_return + behaviour.p_escalation_request + behaviour.p_accept:
                    client.accept(unit, item["id"], at(day, 11))
                    outcome.actions["accepted"] += 1
                    if rng.random() < behaviour.p_stall:
                        stalled.add(item["id"])
                        outcome.actions["stalled"] += 1
            client.quiesce()
            for item in client.appeals(status="accepted"):
                if item["id"] not in stalled and rng.random() < behaviour.p_reply:
                    result = pick(rng, behaviour.outcomes)
                    text = {"solved": "已协调解决，请企业确认。",
                            "explained": "受现行政策限制暂无法解决，已向企业解释说明。",
                            "long_term": "已纳入年度计划，分步推进解决。"}[result]
                    client.reply(item["lead_unit"], item["id"], result, text, at(day, 15))
                    outcome.actions[f"replied_{result}"] += 1
            client.quiesce()
            for item in client.appeals(status="replied"):
                if rng.random() < behaviour.p_callback:
                    satisfaction = pick(rng, behaviour.satisfaction)
                    solved = rng.random() >= behaviour.p_not_solved
                    answer = client.callback(item["id"], solved, satisfaction, at(day, 16))
                    outcome.actions[f"callback_{answer['result']}"] += 1
            client.quiesce()
        client.tick(at(day, 18))
        client.quiesce()
        if day.weekday() == 6:
            outcome.weeks.append(f"{day.isocalendar().year}-W{day.isocalendar().week:02d}")
    if show_progress:
        progress(len(days), len(days), "done")
    outcome.ended = days[-1][0]
    months = sorted({f"{d.year}-{d.month:02d}" for d, _ in days})
    outcome.months = months
    appeals = client.appeals()
    outcome.appeals = len(appeals)
    outcome.states = Counter(a["status"] for a in appeals)
    outcome.parked = client.quiesce()
    return outcome


def main(argv: list[str] | None = None) -> int:
    from scripts.client import write_tokens
    from scripts.mesh import (
        BROKER,
        POSTGRES,
        SIMULATED_CLOCK_ENV,
        MeshError,
        available_services,
        mesh_dir,
        new_mesh_name,
        stop_on_sigterm,
        throwaway_mesh,
    )
    from shared.profile import load_units

    parser = argparse.ArgumentParser(prog="python -m scripts.simulate")
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--start", default="2026-10-12", help="a Monday")
    parser.add_argument("--enterprises", type=int, default=30)
    parser.add_argument("--appeals-per-day", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--amqp", default=BROKER, help="the broker, without a vhost")
    parser.add_argument("--ports", default="auto", help="auto (default), a base port or intake=9101,...")
    args = parser.parse_args(argv)

    stop_on_sigterm()

    root = Path(__file__).resolve().parent.parent
    profile = root / "deploy" / "profiles" / args.profile
    units = load_units(profile)
    name = new_mesh_name(f"sim-{args.profile}")
    tokens = write_tokens(units["units"], mesh_dir(name) / "tokens.yaml")
    services = available_services()
    print(f"Starting {', '.join(services)} as mesh {name}:")
    mesh_of_the_run = throwaway_mesh("sim", services, name=name, postgres=args.postgres, broker=args.amqp,
                                     ports=args.ports,
                                     env={"PROFILE_DIR": str(profile), **SIMULATED_CLOCK_ENV,
                                          "AUTH_TOKENS_FILE": str(tokens), "LOG_LEVEL": "WARNING"})
    try:
        with mesh_of_the_run as mesh:
            client = Suqiu({s: mesh.url(s) for s in services}, mesh.amqp_uri)
            outcome = run(client, units["units"], start=date.fromisoformat(args.start), weeks=args.weeks,
                          enterprise_count=args.enterprises, appeals_per_day=args.appeals_per_day, seed=args.seed,
                          office=units["office"])
            month = f"{outcome.started.year}-{outcome.started.month:02d}"
            monthly = client.report("monthly", month)
    except MeshError as exc:
        print(f"The simulator cannot start its mesh: {exc}", file=sys.stderr)
        return 2
    print(f"{args.profile}: {outcome.appeals} appeals, states {dict(outcome.states)}")
    print(f"actions {dict(outcome.actions)}; parked {outcome.parked or 'none'}")
    rates = {k: (None if v is None else round(v, 3)) for k, v in monthly["overall"]["rates"].items()}
    print(f"monthly bulletin {month}: new {monthly['summary']['new_appeals']}, resolved "
          f"{monthly['summary']['resolved']}, closed explained {monthly['summary']['closed_explained']}, "
          f"long-term {monthly['summary']['closed_long_term']}, overdue {monthly['summary']['overdue']}; "
          f"rates {rates}; ranked {len(monthly['ranking'])}, to rectify {len(monthly['rectification'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
