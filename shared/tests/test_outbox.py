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


def test_rows_handed_over_wake_the_relay_without_making_a_pass_due():
    from shared.outbox import HandedRow

    outbox, _ = messaging_tables(MetaData())
    relay = OutboxRelay(outbox)
    relay._pass_due = False
    relay.hand_over([HandedRow("e1", "appeal_received", "intake.events", "appeal_received", "{}")])
    assert relay._wake.qsize() == 1 and not relay._pass_due
    relay.hand_over([])  # nothing committed, nothing to do
    assert [row.event_id for row in relay._handed] == ["e1"]
    relay.wake()  # a NOTIFY, or a commit without one
    assert relay._pass_due


def test_the_relay_sleeps_until_its_poll_or_until_confirmed_rows_are_due_to_be_marked(monkeypatch):
    import shared.outbox as module

    outbox, _ = messaging_tables(MetaData())
    relay = OutboxRelay(outbox)
    relay.poll, relay.mark_delay = 5.0, 0.1
    monkeypatch.setattr(module._time, "monotonic", lambda: 100.0)
    relay._last_pass = 99.0
    assert relay.next_wait() == 4.0
    relay._marks, relay._marks_since = [7], 99.95
    assert abs(relay.next_wait() - 0.05) < 1e-9
    relay._marks_since = 90.0  # overdue
    assert relay.next_wait() == 0.0
