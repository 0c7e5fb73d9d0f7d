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
    # and the one message that leaves the mesh: the answers intake sends back to upstream platforms
    assert set(messages) == set(CATALOGUE) | {asyncapi.FEEDBACK}


def _keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def test_the_schemas_are_json_schema_not_openapi():
    """``nullable`` is an OpenAPI 3.0 keyword JSON Schema does not know: null goes in the type."""
    assert "nullable" not in set(_keys(asyncapi.document()))


def test_a_field_that_may_be_null_says_so_in_its_type():
    received = asyncapi.document()["components"]["schemas"]["AppealReceivedV2"]["properties"]
    assert received["external_id"]["type"] == ["string", "null"]
    assert received["title"]["type"] == "string"
