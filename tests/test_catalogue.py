"""The catalogue, the topology and the services' consumers agree with one another."""
import inspect

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from shared.consumers import Consume
from shared.events import CATALOGUE
from shared.topology import SUBSCRIPTIONS, service_classes, subscriptions_of

SERVICES = {cls.name: cls for cls in service_classes()}


CONSUMERS = ["assessment", "dispatch", "intake", "notify", "supervision"]  # the console consumes no event


def test_the_services_are_named_by_the_entry_points():
    assert sorted(SERVICES) == sorted([*CONSUMERS, "console"])


@pytest.mark.parametrize("name", CONSUMERS)
def test_every_consumer_of_a_service_is_a_consume_entrypoint_and_in_the_topology(name):
    cls = SERVICES[name]
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            assert type(entrypoint).__name__ != "EventHandler", \
                f"{name}.{method_name} uses nameko's event_handler; use shared.consumers.consume"
    declared = subscriptions_of(cls)
    assert declared, f"{name} consumes nothing"
    assert all(any(isinstance(e, Consume) for e in getattr(getattr(cls, s.method), ENTRYPOINT_EXTENSIONS_ATTR))
               for s in declared)
    assert [s for s in SUBSCRIPTIONS if s.consumer == name] == declared


def test_every_subscription_is_to_an_event_of_the_catalogue_from_its_producer():
    for sub in SUBSCRIPTIONS:
        spec = CATALOGUE.get(sub.event_type)
        assert spec is not None, f"{sub.queue_name}: {sub.event_type} is not in the catalogue"
        assert spec.producer == sub.source, f"{sub.queue_name}: {sub.event_type} comes from {spec.producer}"


def test_queue_names_are_unique():
    names = [s.queue_name for s in SUBSCRIPTIONS]
    assert len(names) == len(set(names))


def test_no_consumer_waits_for_the_colour_a_deadline_already_carries():
    """``appeal_deadline_set`` carries the starting colour: whoever keeps colours reads both."""
    keeps_colour = {s.consumer for s in SUBSCRIPTIONS if s.event_type == "appeal_colour_changed"}
    reads_deadline = {s.consumer for s in SUBSCRIPTIONS if s.event_type == "appeal_deadline_set"}
    assert keeps_colour <= reads_deadline
