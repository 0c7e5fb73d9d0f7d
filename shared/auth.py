"""Bearer-token authentication and roles.

Tokens are never stored in clear: the token file (``AUTH_TOKENS_FILE``, YAML)
holds the SHA-256 of each token with its principal::

    tokens:
      - sha256: 5e88...       # sha256 of the token
        name: 税务局值班员
        role: unit            # office | unit | cadre | platform
        unit: tax             # for role unit: the unit it acts for
      - sha256: ...
        role: office

``python -m shared.auth hash TOKEN`` prints the line to add. Roles:

* ``office``: the supervising office, sees and does everything;
* ``unit``: a responsible unit, only its own appeals;
* ``cadre``: a paired cadre, submits appeals for enterprises;
* ``platform``: an upstream platform, submits appeals;
* ``enterprise``: one enterprise (its credit code), through its signed link in the console:
  submits and follows its own appeals only.

**People.** The console (``services/console``) signs in people and calls the services on
their behalf with a short-lived ES256 JWT (audience ``suqiu``) naming the person (``sub``),
the role and the unit. A service verifies it against the console's key set: ``CONSOLE_JWKS_URL``
(the console's ``/.well-known/jwks.json``) or ``CONSOLE_JWKS_FILE`` (the same JSON on disk);
with neither, signed tokens are refused. The person becomes the :attr:`Principal.actor`
recorded in the history (``unit:tax/wangfang``). Static tokens stay for machine clients.
"""
from __future__ import annotations

import hashlib
import hmac
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Request

from shared.errors import Forbidden, Unauthorized, Unavailable

ROLES = ("office", "unit", "cadre", "platform", "enterprise")
PERSON_TOKEN_AUDIENCE = "suqiu"
PERSON_TOKEN_ISSUER = "suqiu-console"
PERSON_TOKEN_ALGORITHMS = ("ES256",)
DEFAULT_TOKENS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "demo-tokens.yaml"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    unit: str | None = None
    person: str | None = None  # the signed-in person (a console account), None for a machine token
    credit_code: str | None = None  # role enterprise: the one enterprise it speaks for
    # role platform: the upstream sources it publishes appeals from over AMQP (``upstream.events``;
    # intake stores those as submitted by ``platform:upstream/<source>``)
    upstream: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """Who did it, as the history records it: the person where there is one."""
        if self.role == "enterprise":
            return f"enterprise:{self.credit_code}"
        if self.person:
            return f"{self.role}:{self.unit}/{self.person}" if self.unit else f"{self.role}/{self.person}"
        return f"{self.role}:{self.unit or self.name}"


    @property
    def submitted_as(self) -> tuple[str, ...]:
        """Every ``submitted_by`` of what this principal submitted: over HTTP as :attr:`actor`, a
        platform's AMQP appeals as ``platform:upstream/<source>``."""
        return (self.actor, *(f"platform:upstream/{source}" for source in self.upstream))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenError(ValueError):
    pass


def load_tokens(path: str | Path) -> dict[str, Principal]:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise TokenError(f"token file {path} does not exist") from None
    table: dict[str, Principal] = {}
    for index, entry in enumerate(document.get("tokens") or []):
        where = f"{path}: tokens[{index}]"
        digest = str(entry.get("sha256", "")).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise TokenError(f"{where}: sha256 must be 64 hex characters")
        role = entry.get("role")
        if role not in ROLES:
            raise TokenError(f"{where}: role must be one of {', '.join(ROLES)}")
        if role == "unit" and not entry.get("unit"):
            raise TokenError(f"{where}: a unit token names its unit")
        if role == "enterprise" and not entry.get("credit_code"):
            raise TokenError(f"{where}: an enterprise token names its credit_code")
        upstream = entry.get("upstream") or []
        upstream = [upstream] if isinstance(upstream, str) else upstream
        if upstream and (role != "platform" or not all(isinstance(u, str) and u for u in upstream)):
            raise TokenError(f"{where}: upstream names a platform's AMQP sources (e.g. [hotline])")
        table[digest] = Principal(name=str(entry.get("name") or role), role=role, unit=entry.get("unit"),
                                  credit_code=entry.get("credit_code"), upstream=tuple(upstream))
    return table


class PersonTokens:
    """Verifies the console's signed person tokens (JWT, ES256) against its key set (JWKS).

    The key set is read from a URL (fetched on the first token, cached, fetched again for
    an unknown key id: the console may rotate keys) or from a file.
    """

    def __init__(self, jwks_url: str | None = None, jwks_file: str | None = None,
                 issuer: str = PERSON_TOKEN_ISSUER):
        import jwt

        self.issuer = issuer
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5) if jwks_url else None
        self._keys = jwt.PyJWKSet.from_json(Path(jwks_file).read_text(encoding="utf-8")) if jwks_file else None

    def _key(self, token: str) -> Any:
        import jwt

        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                raise Unavailable(f"the console's key set does not answer: {exc}") from None
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys if self._keys is not None else []:
            if key.key_id == kid:
                return key.key
        raise Unauthorized("a signed token with a key the console does not publish")

    def principal(self, token: str) -> Principal:
        import jwt

        try:
            claims = jwt.decode(token, self._key(token), algorithms=list(PERSON_TOKEN_ALGORITHMS),
                                audience=PERSON_TOKEN_AUDIENCE, issuer=self.issuer,
                                options={"require": ["exp", "iat", "sub", "aud", "iss"]}, leeway=5)
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Unauthorized(f"invalid signed token: {exc}") from None
        role = claims.get("role")
        if role not in ROLES or role == "platform":
            raise Unauthorized("a signed token names a role no person holds")
        if role == "unit" and not claims.get("unit"):
            raise Unauthorized("a unit's signed token names its unit")
        if role == "enterprise":
            if not claims.get("credit_code"):
                raise Unauthorized("an enterprise's signed token names its credit code")
            return Principal(name=str(claims.get("name") or claims["credit_code"]), role=role,
                             credit_code=claims["credit_code"])
        return Principal(name=str(claims.get("name") or claims["sub"]), role=role, unit=claims.get("unit"),
                         person=str(claims["sub"]))


def _looks_signed(token: str) -> bool:
    return token.count(".") == 2


class Authenticator:
    def __init__(self, tokens: dict[str, Principal], person_tokens: PersonTokens | None = None):
        self._tokens = tokens
        self._person_tokens = person_tokens

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        token = token.strip()
        if _looks_signed(token):
            if self._person_tokens is None:
                raise Unauthorized("signed tokens are not accepted here (no CONSOLE_JWKS_URL configured)")
            return self._person_tokens.principal(token)
        digest = token_hash(token)
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise Unauthorized("unknown token")

    def principal_of_key(self, key: str) -> Principal:
        """The principal of a token given as a key (Open311's ``api_key``) rather than a header."""
        digest = token_hash(key.strip()) if key and key.strip() else ""
        for known, principal in self._tokens.items():
            if digest and hmac.compare_digest(known, digest):
                return principal
        raise Unauthorized("unknown key")

    def require(self, request: Request, *roles: str) -> Principal:
        """The caller, who must hold one of ``roles`` (any role when none given)."""
        principal = self.principal(request)
        if roles and principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; the token is {principal.role}")
        return principal


class Auth(DependencyProvider):
    """Injects an :class:`Authenticator` over the token file ``AUTH_TOKENS_FILE`` and, when
    ``CONSOLE_JWKS_URL`` or ``CONSOLE_JWKS_FILE`` is set, the console's person tokens."""

    def setup(self) -> None:
        config = self.container.config
        path = config.get("AUTH_TOKENS_FILE") or DEFAULT_TOKENS_FILE
        jwks_url, jwks_file = config.get("CONSOLE_JWKS_URL") or None, config.get("CONSOLE_JWKS_FILE") or None
        people = PersonTokens(jwks_url, jwks_file, config.get("CONSOLE_ISSUER") or PERSON_TOKEN_ISSUER) \
            if jwks_url or jwks_file else None
        self.authenticator = Authenticator(load_tokens(path), people)

    def get_dependency(self, worker_ctx: WorkerContext) -> Authenticator:
        return self.authenticator


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] != "hash":
        print("usage: python -m shared.auth hash TOKEN", file=sys.stderr)
        raise SystemExit(2)
    print(f"- sha256: {token_hash(argv[1])}")


if __name__ == "__main__":
    main(sys.argv[1:])
