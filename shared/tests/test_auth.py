import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared.auth import Authenticator, TokenError, load_tokens, token_hash
from shared.errors import Forbidden, Unauthorized


def request_with(header: str | None) -> Request:
    headers = {"Authorization": header} if header else {}
    return Request(EnvironBuilder(headers=headers).get_environ())


@pytest.fixture
def auth(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(f"tokens:\n  - sha256: {token_hash('s3cret')}\n    role: unit\n    unit: tax\n")
    return Authenticator(load_tokens(path))


def test_a_known_token_names_its_principal(auth):
    principal = auth.require(request_with("Bearer s3cret"), "unit")
    assert (principal.role, principal.unit) == ("unit", "tax")


@pytest.mark.parametrize("header", [None, "Basic s3cret", "Bearer wrong", "Bearer "])
def test_no_or_unknown_token_is_401(auth, header):
    with pytest.raises(Unauthorized):
        auth.require(request_with(header))


def test_a_role_not_allowed_is_403(auth):
    with pytest.raises(Forbidden):
        auth.require(request_with("Bearer s3cret"), "office")


def test_the_token_file_holds_no_clear_tokens(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  - sha256: s3cret\n    role: office\n")
    with pytest.raises(TokenError, match="64 hex"):
        load_tokens(path)


def test_a_unit_token_must_name_its_unit(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(f"tokens:\n  - sha256: {token_hash('x')}\n    role: unit\n")
    with pytest.raises(TokenError, match="names its unit"):
        load_tokens(path)
