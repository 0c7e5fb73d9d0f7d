"""Who hears of an appeal about a household or a project (issue 15): no enterprise (there is no
credit code, and a household's contact reaches notify masked), its paired cadre, by name."""
import pytest

from services.notify import domain
from services.notify.profile import NotifyPart
from shared.profile import DEFAULT_PROFILE, load_part, load_units


@pytest.fixture(scope="module")
def directory():
    return domain.Directory(load_units(DEFAULT_PROFILE), load_part(DEFAULT_PROFILE, "notify", NotifyPart))


HOUSEHOLD = {"appeal_id": "SQ1", "subject_type": "household", "subject_id": "WC-0001", "subject_name": "谭*珠",
             "credit_code": None, "enterprise_name": None, "cadre": "杨海垚",
             "contact": {"name": "谭*珠", "phone": "138****5678"}}


@pytest.mark.parametrize("event_type", ["appeal_received", "appeal_replied", "appeal_closed"])
def test_a_households_appeal_is_told_to_its_paired_cadre_only(directory, event_type):
    keys = [r.key for r in domain.recipients_for(event_type, HOUSEHOLD, None, directory)]
    assert keys == ["cadre:杨海垚"]


def test_a_projects_appeal_without_a_cadre_tells_nobody_of_it_as_an_enterprise(directory):
    project = {**HOUSEHOLD, "subject_type": "project", "cadre": None, "contact": None}
    assert domain.recipients_for("appeal_received", project, None, directory) == []


def test_notify_keeps_a_households_appeal_and_tells_its_cadre(directory):
    """Through the handler, on a database: the appeal row holds no credit code and the masked name."""
    from datetime import datetime, timezone

    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from services.notify import handlers
    from services.notify.models import appeals, metadata
    from services.notify.templates import Renderer
    from shared.events import make_event, read_event

    now = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
    event = make_event("appeal_received", {**HOUSEHOLD, "title": "水表安装费", "description": "d", "district": "江岸区",
                                           "channel": "visit", "collected_at": now, "submitted_at": now},
                       producer="intake", now=now)
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        planned = handlers.notify_event(session, read_event(event.to_message()), directory, Renderer())
        stored = session.execute(select(appeals.c.credit_code, appeals.c.enterprise_name)).one()
    assert {row["recipient"] for row in planned} == {"cadre:杨海垚"}
    assert tuple(stored) == (None, "谭*珠")
