"""The catalogue, the topology and the services' consumers agree with one another.

The catalogue (``shared.events.CATALOGUE``) names each event type and the one service that
publishes it; the services declare what they consume with ``shared.consumers.consume``; the
topology (``shared.topology.SUBSCRIPTIONS``) is built from those declarations. Each test below
checks one way in which the three could disagree.
"""
import inspect

import pytest
from nameko.events import EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.messaging import Consumer

from shared.consumers import Consume
from shared.events import CATALOGUE
from shared.topology import SUBSCRIPTIONS, UPSTREAM, service_classes, subscriptions_of

SERVICES = {cls.name: cls for cls in service_classes()}
EXPECTED_SERVICES = ["assessment", "console", "dispatch", "intake", "notify", "supervision"]
CONSUMES_NOTHING = {"console"}  # the console reads the services over HTTP only


def entrypoints(cls) -> list[tuple[str, object]]:
    return [(method_name, entrypoint)
            for method_name, method in inspect.getmembers(cls, inspect.isfunction)
            for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ())]


def test_the_services_are_named_by_the_entry_points():
    assert sorted(SERVICES) == EXPECTED_SERVICES


@pytest.mark.parametrize("name", EXPECTED_SERVICES)
def test_every_consumer_of_a_service_is_a_consume_entrypoint(name):
    """No nameko event_handler or raw consumer: every message a service takes goes through the
    one unit of work (inbox, batch, outbox)."""
    for method_name, entrypoint in entrypoints(SERVICES[name]):
        assert not isinstance(entrypoint, (EventHandler, Consumer)), \
            f"{name}.{method_name} uses nameko's {type(entrypoint).__name__}; use shared.consumers.consume"
    declared = subscriptions_of(SERVICES[name])
    assert all(any(isinstance(e, Consume) for e in getattr(getattr(SERVICES[name], s.method),
                                                              ENTRYPOINT_EXTENSIONS_ATTR)) for s in declared)


def test_every_service_but_the_console_consumes_something():
    assert {name for name, cls in SERVICES.items() if not subscriptions_of(cls)} == CONSUMES_NOTHING


def test_the_topology_is_exactly_the_services_declarations():
    declared = [sub for name in sorted(SERVICES) for sub in subscriptions_of(SERVICES[name])]
    assert sorted(SUBSCRIPTIONS, key=lambda s: s.queue_name) == sorted(declared, key=lambda s: s.queue_name)


def test_every_subscription_is_to_an_event_of_the_catalogue_from_its_producer():
    for sub in SUBSCRIPTIONS:
        spec = CATALOGUE.get(sub.event_type)
        assert spec is not None, f"{sub.queue_name}: {sub.event_type} is not in the catalogue"
        assert spec.producer == sub.source, f"{sub.queue_name}: {sub.event_type} comes from {spec.producer}"


def test_every_event_of_the_catalogue_comes_from_a_service_of_the_mesh_or_upstream():
    producers = {spec.producer for spec in CATALOGUE.values()}
    assert producers <= set(SERVICES) | {UPSTREAM}, producers - set(SERVICES)


def test_queue_names_are_unique():
    names = [s.queue_name for s in SUBSCRIPTIONS]
    assert len(names) == len(set(names))


def test_no_consumer_waits_for_the_colour_a_deadline_already_carries():
    """``appeal_deadline_set`` carries the starting colour: whoever keeps colours reads both."""
    keeps_colour = {s.consumer for s in SUBSCRIPTIONS if s.event_type == "appeal_colour_changed"}
    reads_deadline = {s.consumer for s in SUBSCRIPTIONS if s.event_type == "appeal_deadline_set"}
    assert keeps_colour <= reads_deadline
