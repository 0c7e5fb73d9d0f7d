"""Open311 GeoReport v2 on intake, held to the specification's own examples.

Each example below is the shape the GeoReport v2 specification (wiki.open311.org/GeoReport_v2)
shows for a method, in XML and JSON; intake's answers must have the same elements, in the same
nesting, with the same kinds of values. Then the mapping onto the loop: the api_key, the
attributes, open and closed from assessment's events, errors in the specification's format.
"""
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
import requests
from kombu import Connection, Producer

from services.intake.models import appeals, inbox
from services.intake.service import IntakeService
from shared.events import make_event
from shared.testing import count_rows as count
from shared.testing import wait_for
from shared.topology import events_exchange

pytestmark = pytest.mark.integration

# ---------------------------------------------------------------- the specification's examples
SPEC_SERVICES_XML = """<?xml version="1.0" encoding="utf-8"?>
<services>
  <service>
    <service_code>001</service_code>
    <service_name>Cans left out 24x7</service_name>
    <description>Garbage or recycling cans that have been left out for more than 24 hours after collection.</description>
    <metadata>true</metadata>
    <type>realtime</type>
    <keywords>lorem, ipsum, dolor</keywords>
    <group>sanitation</group>
  </service>
</services>"""  # noqa: E501 (the specification's example, verbatim)
SPEC_SERVICES_JSON = [{"service_code": "001", "service_name": "Cans left out 24x7",
                       "description": "Garbage or recycling cans that have been left out for more than 24 hours.",
                       "metadata": True, "type": "realtime", "keywords": "lorem, ipsum, dolor",
                       "group": "sanitation"}]
SPEC_DEFINITION_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_definition>
  <service_code>DMV66</service_code>
  <attributes>
    <attribute>
      <variable>true</variable>
      <code>WHISETN</code>
      <datatype>singlevaluelist</datatype>
      <required>true</required>
      <datatype_description></datatype_description>
      <order>1</order>
      <description>What is the ticket/tag/DL number?</description>
    </attribute>
  </attributes>
</service_definition>"""
SPEC_POST_RESPONSE_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>293944</service_request_id>
    <service_notice>The City will inspect and require the responsible party to correct within 24 hours.</service_notice>
    <account_id/>
  </request>
</service_requests>"""
SPEC_POST_RESPONSE_JSON = [{"service_request_id": 293944, "service_notice": "The City will inspect ...",
                            "account_id": None}]
SPEC_REQUESTS_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>638344</service_request_id>
    <status>closed</status>
    <status_notes>Duplicate request.</status_notes>
    <service_name>Sidewalk and Curb Issues</service_name>
    <service_code>006</service_code>
    <description></description>
    <agency_responsible></agency_responsible>
    <service_notice></service_notice>
    <requested_datetime>2010-04-14T06:37:38-08:00</requested_datetime>
    <updated_datetime>2010-04-14T06:37:38-08:00</updated_datetime>
    <expected_datetime>2010-04-15T06:37:38-08:00</expected_datetime>
    <address>8TH AVE and JUDAH ST</address>
    <address_id>545483</address_id>
    <zipcode>94122</zipcode>
    <lat>37.762221815</lat>
    <long>-122.4651145</long>
    <media_url>http://city.gov.s3.amazonaws.com/requests/media/638344.jpg</media_url>
  </request>
</service_requests>"""
SPEC_TOKEN_XML = """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>638344</service_request_id>
    <token>12345</token>
  </request>
</service_requests>"""
SPEC_ERROR_XML = """<?xml version="1.0" encoding="utf-8"?>
<errors>
  <error>
    <code>403</code>
    <description>Invalid api_key received -- can't proceed with create_request.</description>
  </error>
</errors>"""
SPEC_ERROR_JSON = [{"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}]
# the specification's example request, with this campaign's service and the attributes it defines
SPEC_POST = {"api_key": "t-platform", "service_code": "用工", "lat": "37.76524078", "long": "-122.4212043",
             "address_string": "1234 5th street", "email": "smit333@sfgov.edu", "device_id": "tt222111",
             "account_id": "123456", "first_name": "john", "last_name": "smith", "phone": "111111111",
             "description": "A large sinkhole is destroying the street",
             "media_url": "http://online.sfgov.org/311/images/example.jpg",
             "attribute[credit_code]": "91350100M000100Y43", "attribute[enterprise_name]": "测试公司",
             "attribute[district]": "甲区"}


def shape(element: ET.Element) -> tuple:
    """An XML element's tag and its children's shapes, in order (values left out)."""
    return element.tag, tuple(shape(child) for child in element)


def first_item_shape(xml_text: str | bytes) -> tuple:
    root = ET.fromstring(xml_text)
    return root.tag, shape(root[0]) if len(root) else None


def kinds(item: dict) -> dict:
    return {key: type(value).__name__ for key, value in item.items()}


@pytest.fixture
def intake(container_factory, service_config):
    container = container_factory(IntakeService, {**service_config, "PROFILE_DIR": "deploy/profiles/demo"})
    container.start()
    return f"http://{service_config['WEB_SERVER_ADDRESS']}/open311/v2"


def submit(base: str, fmt: str = "json", **changes) -> requests.Response:
    return requests.post(f"{base}/requests.{fmt}", data={**SPEC_POST, **changes}, timeout=30)


# ---------------------------------------------------------------- the shapes
def test_services_have_the_shape_of_the_spec_in_xml_and_json(intake):
    xml = requests.get(f"{intake}/services.xml", timeout=30)
    assert xml.headers["Content-Type"].startswith("text/xml") and xml.content.startswith(b"<?xml")
    assert first_item_shape(xml.content) == first_item_shape(SPEC_SERVICES_XML)
    listed = requests.get(f"{intake}/services.json", timeout=30).json()
    assert [kinds(s) for s in listed[:1]] == [kinds(SPEC_SERVICES_JSON[0])]
    assert [s["service_code"] for s in listed] == ["用工", "用地", "资金/融资", "审批", "政策", "人才", "能源", "市场",
                                                   "法律", "其他"]  # the demo profile's categories


def test_a_service_definition_has_the_shape_of_the_spec(intake):
    definition = requests.get(f"{intake}/services/资金/融资.xml", timeout=30)
    assert definition.status_code == 200
    ours, spec = ET.fromstring(definition.content), ET.fromstring(SPEC_DEFINITION_XML)
    assert [child.tag for child in ours] == [child.tag for child in spec]
    assert shape(ours.find("attributes")[0]) == shape(spec.find("attributes")[0])
    required = {a["code"] for a in requests.get(f"{intake}/services/用工.json", timeout=30).json()["attributes"]
                if a["required"]}
    assert required == {"credit_code", "enterprise_name", "district"}


def test_the_specs_example_request_is_accepted_as_an_appeal(intake, db):
    created = submit(intake, "xml")
    assert created.status_code == 201, created.text
    assert first_item_shape(created.content) == first_item_shape(SPEC_POST_RESPONSE_XML)
    [answer] = submit(intake, "json").json()
    assert set(answer) == set(SPEC_POST_RESPONSE_JSON[0])
    with db.connect() as connection:
        stored = connection.execute(appeals.select().where(appeals.c.id == answer["service_request_id"])).one()
    assert (stored.category, stored.channel, stored.submitted_by) == ("用工", "platform", "platform:t-platform")
    assert stored.contact == {"name": "john smith", "phone": "111111111", "email": "smit333@sfgov.edu"}
    assert "1234 5th street" in stored.description and stored.title == SPEC_POST["description"][:30]


def test_requests_and_tokens_have_the_shape_of_the_spec(intake):
    [created] = submit(intake).json()
    key = {"api_key": "t-platform"}
    listed = requests.get(f"{intake}/requests.xml", params=key, timeout=30)
    assert first_item_shape(listed.content) == first_item_shape(SPEC_REQUESTS_XML)
    one = requests.get(f"{intake}/requests/{created['service_request_id']}.xml", params=key, timeout=30)
    assert first_item_shape(one.content) == first_item_shape(SPEC_REQUESTS_XML)
    token = requests.get(f"{intake}/tokens/{created['service_request_id']}.xml", params=key, timeout=30)
    assert first_item_shape(token.content) == first_item_shape(SPEC_TOKEN_XML)


def test_errors_have_the_shape_of_the_spec(intake, db):
    refused = submit(intake, "xml", api_key="not-a-key")
    assert refused.status_code == 403
    assert first_item_shape(refused.content) == first_item_shape(SPEC_ERROR_XML)
    [error] = submit(intake, "json", api_key="not-a-key").json()
    assert kinds(error) == kinds(SPEC_ERROR_JSON[0]) and error["code"] == 403
    assert count(db, appeals) == 0


# ---------------------------------------------------------------- the mapping onto the loop
@pytest.mark.parametrize("changes, status", [
    ({"service_code": "没有这类"}, 404),
    ({"attribute[credit_code]": "123"}, 400),
    ({"attribute[district]": ""}, 400),
    ({"description": ""}, 400),
    ({"api_key": "t-unit-tax"}, 403),  # a unit does not submit appeals
])
def test_a_refused_request_is_an_open311_error_and_stores_nothing(intake, db, changes, status):
    refused = submit(intake, "json", **changes)
    assert refused.status_code == status
    [error] = refused.json()
    assert error["code"] == status and error["description"]
    assert count(db, appeals) == 0


def test_a_platform_reads_its_own_requests_and_the_office_all(intake):
    [mine] = submit(intake).json()
    [theirs] = submit(intake, api_key="t-cadre").json()
    listed = lambda key: {r["service_request_id"] for r in requests.get(  # noqa: E731
        f"{intake}/requests.json", params={"api_key": key}, timeout=30).json()}
    assert listed("t-platform") == {mine["service_request_id"]}
    assert listed("t-office") == {mine["service_request_id"], theirs["service_request_id"]}
    hidden = requests.get(f"{intake}/requests/{theirs['service_request_id']}.json", params={"api_key": "t-platform"},
                          timeout=30)
    assert hidden.status_code == 404 and hidden.json()[0]["code"] == 404


def publish(amqp_uri: str, event_type: str, data: dict, at: datetime) -> None:
    event = make_event(event_type, data, producer="assessment", now=at)
    with Connection(amqp_uri) as connection:
        Producer(connection.channel()).publish(
            event.to_message(), exchange=events_exchange("assessment"), routing_key=event_type,
            serializer="json", delivery_mode=2, message_id=event.id)


def test_status_is_closed_after_appeal_closed_and_open_again_after_a_reopen(intake, amqp_uri):
    [created] = submit(intake).json()
    appeal_id = created["service_request_id"]
    status = lambda: requests.get(f"{intake}/requests/{appeal_id}.json", params={"api_key": "t-platform"},  # noqa: E731
                                  timeout=30).json()[0]
    assert status()["status"] == "open"
    publish(amqp_uri, "appeal_closed", {"appeal_id": appeal_id, "outcome": "solved", "satisfaction": "满意",
                                        "unit": "hrss"}, datetime(2026, 11, 20, 8, tzinfo=timezone.utc))
    wait_for(lambda: status()["status"] == "closed", timeout=15, message="closed")
    assert status()["status_notes"] == "已解决"
    publish(amqp_uri, "appeal_reopened", {"appeal_id": appeal_id, "reason": "unsatisfied", "reopen_count": 1,
                                          "unit": "hrss"}, datetime(2026, 11, 21, 8, tzinfo=timezone.utc))
    wait_for(lambda: status()["status"] == "open", timeout=15, message="open again")
    filtered = requests.get(f"{intake}/requests.json", params={"api_key": "t-platform", "status": "closed"},
                            timeout=30).json()
    assert filtered == []


def test_a_late_reopen_older_than_the_close_leaves_it_closed(intake, amqp_uri, db):
    [created] = submit(intake).json()
    appeal_id = created["service_request_id"]
    publish(amqp_uri, "appeal_closed", {"appeal_id": appeal_id, "outcome": "explained", "satisfaction": "满意",
                                        "unit": "hrss"}, datetime(2026, 11, 22, 8, tzinfo=timezone.utc))
    publish(amqp_uri, "appeal_reopened", {"appeal_id": appeal_id, "reason": "unsatisfied", "reopen_count": 1,
                                          "unit": "hrss"}, datetime(2026, 11, 21, 8, tzinfo=timezone.utc))
    read = lambda: requests.get(f"{intake}/requests/{appeal_id}.json", params={"api_key": "t-office"},  # noqa: E731
                                timeout=30).json()[0]
    wait_for(lambda: read()["status"] == "closed", timeout=15, message="closed")
    wait_for(lambda: count(db, inbox, inbox.c.consumer == "intake.on_loop_state") == 2, timeout=15,
             message="the close and the reopen both handled")
    assert read()["status"] == "closed"
