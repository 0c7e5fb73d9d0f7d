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


def test_a_platform_token_submits_as_itself_and_as_its_upstream_sources(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(f"tokens:\n  - sha256: {token_hash('p')}\n    role: platform\n    name: '12345'\n"
                    "    upstream: [hotline]\n")
    principal = load_tokens(path)[token_hash("p")]
    assert principal.submitted_as == ("platform:12345", "platform:upstream/hotline")


def test_only_a_platform_token_names_upstream_sources(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(f"tokens:\n  - sha256: {token_hash('c')}\n    role: cadre\n    upstream: [hotline]\n")
    with pytest.raises(TokenError, match="upstream"):
        load_tokens(path)


# ------------------------------------------------------------ the console's person tokens
import json  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from shared.auth import PersonTokens  # noqa: E402


@pytest.fixture
def console_key(tmp_path):
    """A console key pair and the key set it publishes, as a file."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "ES256"}]}))
    return key, path


def signed(key, kid="k1", **claims) -> str:
    now = datetime.now(timezone.utc)
    body = {"iss": "suqiu-console", "aud": "suqiu", "iat": now, "exp": now + timedelta(minutes=5), **claims}
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": kid})


def person_auth(path) -> Authenticator:
    return Authenticator({}, PersonTokens(jwks_file=str(path)))


def test_a_person_token_names_the_person_as_the_actor(console_key):
    key, path = console_key
    token = signed(key, sub="wangfang", name="王芳", role="unit", unit="tax")
    principal = person_auth(path).require(request_with(f"Bearer {token}"), "unit")
    assert (principal.role, principal.unit, principal.person, principal.actor) == \
        ("unit", "tax", "wangfang", "unit:tax/wangfang")


def test_an_enterprise_token_acts_as_its_enterprise(console_key):
    key, path = console_key
    token = signed(key, sub="enterprise:91420100MA4KXXXX1X", role="enterprise", credit_code="91420100MA4KXXXX1X")
    principal = person_auth(path).require(request_with(f"Bearer {token}"), "enterprise")
    assert (principal.credit_code, principal.actor) == ("91420100MA4KXXXX1X", "enterprise:91420100MA4KXXXX1X")


@pytest.mark.parametrize("change", [
    {"exp": datetime.now(timezone.utc) - timedelta(minutes=1)},
    {"aud": "someone-else"},
    {"iss": "somebody"},
    {"role": "platform"},
    {"role": "unit", "unit": None},
])
def test_an_expired_misdirected_or_incomplete_person_token_is_401(console_key, change):
    key, path = console_key
    claims = {"sub": "wangfang", "role": "unit", "unit": "tax", **change}
    with pytest.raises(Unauthorized):
        person_auth(path).require(request_with(f"Bearer {signed(key, **claims)}"))


def test_a_person_token_signed_by_another_key_is_401(console_key):
    _, path = console_key
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Unauthorized):
        person_auth(path).require(request_with(f"Bearer {signed(other, sub='x', role='office')}"))


def test_without_the_console_key_set_a_person_token_is_401(auth, console_key):
    key, _ = console_key
    with pytest.raises(Unauthorized, match="not accepted here"):
        auth.require(request_with(f"Bearer {signed(key, sub='x', role='office')}"))
