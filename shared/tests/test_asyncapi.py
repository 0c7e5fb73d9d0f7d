"""The AsyncAPI file documents exactly the catalogue's schemas."""
import yaml

from shared import asyncapi
from shared.events import CATALOGUE


def test_the_asyncapi_file_matches_the_schemas():
    with open(asyncapi.ASYNCAPI_PATH, encoding="utf-8") as handle:
        on_file = yaml.safe_load(handle)
    assert on_file == asyncapi.document(), "regenerate: python -m shared.asyncapi > shared/asyncapi.yaml"


def test_every_event_of_the_catalogue_is_documented():
    with open(asyncapi.ASYNCAPI_PATH, encoding="utf-8") as handle:
        messages = yaml.safe_load(handle)["components"]["messages"]
    assert set(messages) == set(CATALOGUE)
