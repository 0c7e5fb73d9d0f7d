import json

import pytest
from marshmallow import ValidationError

from shared import web


@pytest.mark.parametrize("exc, status, code", [
    (web.InvalidInput("bad", {"title": ["required"]}), 400, "invalid_input"),
    (ValidationError({"title": ["required"]}), 400, "invalid_input"),
    (web.Unauthorized("who?"), 401, "unauthorized"),
    (web.Forbidden("not yours"), 403, "forbidden"),
    (web.NotFound("none"), 404, "not_found"),
    (web.Conflict("twice"), 409, "conflict"),
    (web.UnsupportedMediaType("json please"), 415, "unsupported_media_type"),
    (RuntimeError("secret detail"), 500, "internal"),
])
def test_the_error_table_maps_each_error_to_one_status(exc, status, code):
    response = web.error_response(exc)
    body = json.loads(response.get_data())
    assert (response.status_code, body["error"]) == (status, code)


def test_field_messages_reach_the_client():
    body = json.loads(web.error_response(ValidationError({"title": ["required"]})).get_data())
    assert body["fields"] == {"title": ["required"]}


def test_a_500_does_not_leak_internals():
    body = json.loads(web.error_response(RuntimeError("password=hunter2")).get_data())
    assert "hunter2" not in json.dumps(body)


def test_a_database_that_does_not_answer_is_a_503_to_retry():
    from sqlalchemy.exc import OperationalError

    response = web.error_response(OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")


def test_a_second_process_cannot_share_a_services_port():
    """Issue 11: with eventlet's default SO_REUSEPORT a second mesh bound the same port and the
    kernel split the requests between the two; a service's socket must refuse to be shared."""
    import errno

    import eventlet

    first = web.listen(("127.0.0.1", 0))
    try:
        port = first.getsockname()[1]
        with pytest.raises(OSError) as refused:
            eventlet.listen(("127.0.0.1", port))  # what another copy of the mesh (reuse_port on) tries
        assert refused.value.errno == errno.EADDRINUSE
    finally:
        first.close()


def test_a_concrete_path_answers_405_for_a_method_a_templated_one_would_take():
    """OpenAPI matches /appeals/import before /appeals/{appeal_id}: GET there is a 405 with Allow: POST."""
    from werkzeug.routing import Map, Rule

    app = web.JsonWsgiApp.__new__(web.JsonWsgiApp)
    app.url_map = Map([Rule("/appeals/<appeal_id>", methods=["GET"]), Rule("/appeals/import", methods=["POST"])])
    refused = app._concrete_path_refuses({"PATH_INFO": "/appeals/import", "REQUEST_METHOD": "GET"})
    assert refused.code == 405 and refused.valid_methods == ["POST"]
    assert app._concrete_path_refuses({"PATH_INFO": "/appeals/import", "REQUEST_METHOD": "POST"}) is None
    assert app._concrete_path_refuses({"PATH_INFO": "/appeals/SQ1", "REQUEST_METHOD": "GET"}) is None
