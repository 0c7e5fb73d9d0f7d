"""The outbox relay's wake-up rule, without a broker or a database."""
from sqlalchemy import MetaData

from shared.outbox import OutboxRelay, messaging_tables


def test_a_commit_wakes_the_relay_itself_only_while_no_notify_will():
    outbox, _ = messaging_tables(MetaData())
    relay = OutboxRelay(outbox)
    relay.heard = True  # the LISTEN is up: the commit's NOTIFY wakes it, once
    relay.committed()
    assert relay._wake.qsize() == 0
    relay.heard = False  # SQLite, OUTBOX_LISTEN=false, or the LISTEN connection lost
    relay.committed()
    assert relay._wake.qsize() == 1
