"""Fixtures of the assessment tests: the demo profile's settings and a migrated database."""
from datetime import timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from services.assessment import domain, handlers
from services.assessment.profile import AssessmentPart
from services.assessment.service import submit_stages_of
from shared.db import make_engine, migrate
from shared.profile import DEFAULT_PROFILE, load_part, load_units

SECRET = "test-callback-secret"


@pytest.fixture
def settings() -> handlers.Settings:
    part = load_part(DEFAULT_PROFILE, "assessment", AssessmentPart)
    units = load_units(DEFAULT_PROFILE)
    return handlers.Settings(secret=SECRET, link_base_url="http://assessment.test/api/v1/callback",
                             link_valid=timedelta(hours=part["callback"]["link_valid_hours"]), part=part,
                             units={u["code"]: u for u in units["units"]}, office=units["office"],
                             submit_stages=submit_stages_of(DEFAULT_PROFILE))


@pytest.fixture
def sessions(database_url):
    migrate("assessment", database_url)
    engine = make_engine(database_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()




def apply_event(session, settings, event) -> None:
    """Run what the service's consumer runs for ``event`` (a batch of one)."""
    handlers.apply(session.connection(), [event], settings)


def play(session, settings, steps, now) -> None:
    """Replay ``steps``, each committed: events, and ``("callback", appeal_id, body)`` answered at ``now``."""
    for step in steps:
        if isinstance(step, tuple):
            _kind, appeal_id, body = step
            apply_callback(session, appeal_id, body, now)
        else:
            apply_event(session, settings, step)
        session.commit()


def apply_callback(session, appeal_id, body, now):
    answer = domain.validate_callback(body, now)
    return handlers.record_callback(session, appeal_id, answer, channel="office", caller=answer["caller"], now=now)
