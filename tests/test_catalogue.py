"""The catalogue, the topology and the services' handlers agree with one another."""
import importlib
import inspect

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from shared.consumers import ReliableEventHandler
from shared.db import SERVICES_DIR
from shared.events import CATALOGUE
from shared.topology import SUBSCRIPTIONS

SERVICES = sorted(p.parent.name for p in SERVICES_DIR.glob("*/service.py"))


def service_class(name: str):
    module = importlib.import_module(f"services.{name}.service")
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if c.__module__ == module.__name__ and getattr(c, "name", None) == name]
    assert len(classes) == 1, f"services/{name}/service.py should define one service class named {name!r}"
    return classes[0]


def handlers_of(cls) -> set[tuple[str, str, str]]:
    found = set()
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            assert not (type(entrypoint).__name__ == "EventHandler"), \
                f"{cls.name}.{method_name} uses nameko's event_handler; use shared.consumers.event_handler"
            if isinstance(entrypoint, ReliableEventHandler):
                found.add((method_name, entrypoint.source_service, entrypoint.event_type))
    return found


def test_intake_is_among_the_services():
    assert "intake" in SERVICES


@pytest.mark.parametrize("name", SERVICES)
def test_each_handler_is_a_subscription_of_the_topology(name):
    declared = {(s.method, s.source, s.event_type) for s in SUBSCRIPTIONS if s.consumer == name}
    assert handlers_of(service_class(name)) == declared


def test_every_subscription_is_to_an_event_of_the_catalogue_from_its_producer():
    for sub in SUBSCRIPTIONS:
        spec = CATALOGUE.get(sub.event_type)
        assert spec is not None, f"{sub.queue_name}: {sub.event_type} is not in the catalogue"
        assert spec.producer == sub.source, f"{sub.queue_name}: {sub.event_type} comes from {spec.producer}"


def test_queue_names_are_unique():
    names = [s.queue_name for s in SUBSCRIPTIONS]
    assert len(names) == len(set(names))
