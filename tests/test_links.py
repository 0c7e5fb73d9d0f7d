"""Two vhosts on the local broker linked by a shovel: a district's escalation reaches the city."""
from datetime import datetime, timezone

import pytest
from kombu import Connection, Producer, Queue

from scripts import links
from shared.events import make_event
from shared.testing import fresh_vhost, wait_for
from shared.topology import events_exchange

pytestmark = pytest.mark.integration


def test_a_district_escalation_reaches_the_city_vhost(broker_base):
    _, management, _ = broker_base
    assert management, "the RabbitMQ management API (and shovel plugin) is needed: scripts/ensure-services.sh"
    with fresh_vhost(broker_base) as (district_uri, district), fresh_vhost(broker_base) as (city_uri, city):
        link = {"name": "district-escalations", "from": {"vhost": district, "client_uri": district_uri},
                "to": {"vhost": city, "client_uri": city_uri}, "exchange": "supervision.events",
                "routing_key": "appeal_escalated"}
        links.apply([link], management)
        try:
            with Connection(city_uri) as conn:
                inbox = Queue("city-inbox", exchange=events_exchange("supervision"), routing_key="#", durable=True)
                inbox(conn.channel()).declare()
            event = make_event("appeal_escalated", {"appeal_id": "SQ1", "rung": "city", "level": 3,
                                                    "reason": "overdue", "unit": "hantai", "to_unit": "city"},
                               producer="supervision", now=datetime(2026, 11, 23, tzinfo=timezone.utc))
            with Connection(district_uri) as conn:
                producer = Producer(conn.channel())
                producer.publish(event.to_message(), exchange=events_exchange("supervision"),
                                 routing_key="appeal_escalated", serializer="json", delivery_mode=2)
                producer.publish({"ignored": True}, exchange=events_exchange("supervision"),
                                 routing_key="appeal_colour_changed", serializer="json", delivery_mode=2)
            got = []
            with Connection(city_uri) as conn:
                queue = Queue("city-inbox")(conn.channel())

                def arrived():
                    message = queue.get(no_ack=True)
                    if message is not None:
                        got.append(message.decode())
                    return got

                wait_for(arrived, timeout=20, message="the escalation in the city vhost")
                assert queue.queue_declare(passive=True).message_count == 0
            assert [m["id"] for m in got] == [event.id]
        finally:
            links.remove([link], management)
