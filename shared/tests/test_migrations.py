"""Every service's alembic history is one line: branches merged from parallel work must be re-pointed."""
import pytest
from alembic.script import ScriptDirectory

from shared.db import alembic_config, migrations_dir
from shared.topology import service_classes

SERVICES = sorted({cls.name for cls in service_classes() if migrations_dir(cls.name).exists()})


def test_every_service_with_a_database_is_checked():
    assert {"intake", "dispatch", "supervision", "assessment", "notify", "console"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_migration_history_has_one_head(service):
    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    assert len(script.get_heads()) == 1, f"{service}: heads {script.get_heads()}; re-point a down_revision"
