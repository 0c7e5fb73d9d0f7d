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
* ``platform``: an upstream platform, submits appeals.
"""
from __future__ import annotations

import hashlib
import hmac
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Request

from shared.errors import Forbidden, Unauthorized

ROLES = ("office", "unit", "cadre", "platform")
DEFAULT_TOKENS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "demo-tokens.yaml"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    unit: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.unit or self.name}"


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
        table[digest] = Principal(name=str(entry.get("name") or role), role=role, unit=entry.get("unit"))
    return table


class Authenticator:
    def __init__(self, tokens: dict[str, Principal]):
        self._tokens = tokens

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        digest = token_hash(token.strip())
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise Unauthorized("unknown token")

    def require(self, request: Request, *roles: str) -> Principal:
        """The caller, who must hold one of ``roles`` (any role when none given)."""
        principal = self.principal(request)
        if roles and principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; the token is {principal.role}")
        return principal


class Auth(DependencyProvider):
    """Injects an :class:`Authenticator` over the token file ``AUTH_TOKENS_FILE``."""

    def setup(self) -> None:
        path = self.container.config.get("AUTH_TOKENS_FILE") or DEFAULT_TOKENS_FILE
        self.authenticator = Authenticator(load_tokens(path))

    def get_dependency(self, worker_ctx) -> Authenticator:
        return self.authenticator


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] != "hash":
        print("usage: python -m shared.auth hash TOKEN", file=sys.stderr)
        raise SystemExit(2)
    print(f"- sha256: {token_hash(argv[1])}")


if __name__ == "__main__":
    main(sys.argv[1:])
