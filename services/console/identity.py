"""Who people are: the console's signing key (person tokens and the JWKS the services read),
argon2 password hashes, and sign-in by OpenID Connect (authorization code + PKCE).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import jwt
import requests
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import Forbidden, Unavailable

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- passwords
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# verifying against this keeps an unknown username as slow as a wrong password (no timing oracle)
_DUMMY_HASH = _hasher.hash("no account has this password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# ---------------------------------------------------------------- the signing key
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Signer:
    """The console's EC P-256 key: signs person tokens (ES256) and publishes its public half.

    The key id is the key's RFC 7638 thumbprint, so a new key (rotation) is told apart by the
    services' key-set cache."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        self._key = private_key
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
        canonical = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                               sort_keys=True)
        self.kid = _b64(hashlib.sha256(canonical.encode("ascii")).digest())
        self._public = {**public, "kid": self.kid, "use": "sig", "alg": "ES256"}

    @classmethod
    def from_file(cls, path: str | Path, create: bool = False) -> Signer:
        """The key in a PEM file; ``create``: a new key written there (mode 600) when missing."""
        path = Path(path)
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"no signing key at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            log.warning("console: generated a signing key at %s (set SIGNING_KEY_FILE to a managed key)", path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{path}: the signing key must be an EC P-256 private key")
        return cls(key)

    def jwks(self) -> dict:
        return {"keys": [self._public]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})


# ---------------------------------------------------------------- OpenID Connect
@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str = "openid profile email"


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcClient:
    """The console as a relying party: the provider's metadata (discovery), the authorization
    URL with PKCE (S256) and a nonce, the code exchange (Authlib) and the ID token's check
    (signature by the provider's JWKS, issuer, audience, expiry, nonce)."""

    def __init__(self, settings: OidcSettings):
        self.settings = settings
        self._metadata: dict | None = None
        self._keys: jwt.PyJWKClient | None = None

    def metadata(self) -> dict:
        if self._metadata is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=10)
                response.raise_for_status()
            except requests.RequestException as exc:
                raise Unavailable(f"身份认证平台暂时无法访问（{type(exc).__name__}），请稍后再试") from None
            self._metadata = response.json()
            self._keys = jwt.PyJWKClient(self._metadata["jwks_uri"], cache_keys=True, lifespan=600, timeout=10)
        return self._metadata

    def _session(self):
        from authlib.integrations.requests_client import OAuth2Session

        return OAuth2Session(self.settings.client_id, self.settings.client_secret, scope=self.settings.scope,
                             redirect_uri=self.settings.redirect_uri, code_challenge_method="S256")

    def authorization_request(self) -> AuthorizationRequest:
        from authlib.common.security import generate_token

        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), generate_token(64)
        url, _ = self._session().create_authorization_url(self.metadata()["authorization_endpoint"], state=state,
                                                          nonce=nonce, code_verifier=verifier)
        return AuthorizationRequest(url, state, nonce, verifier)

    def claims_for(self, code: str, code_verifier: str, nonce: str) -> dict:
        """Exchange the code (with the PKCE verifier) and return the checked ID token's claims."""
        from authlib.integrations.base_client.errors import OAuthError

        metadata = self.metadata()
        try:
            token = self._session().fetch_token(metadata["token_endpoint"], code=code, code_verifier=code_verifier,
                                                grant_type="authorization_code")
        except (OAuthError, requests.RequestException) as exc:
            raise Forbidden(f"身份认证平台拒绝了登录（{exc}）") from None
        id_token = token.get("id_token")
        if not id_token:
            raise Forbidden("身份认证平台没有返回身份令牌（id_token）")
        try:
            key = self._signing_key(id_token)
            claims = jwt.decode(id_token, key, algorithms=metadata.get("id_token_signing_alg_values_supported",
                                                                       ["RS256"]),
                                audience=self.settings.client_id, issuer=metadata.get("issuer", self.settings.issuer),
                                options={"require": ["exp", "iat", "sub"]}, leeway=30)
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Forbidden(f"身份令牌无效（{exc}）") from None
        if claims.get("nonce") != nonce:
            raise Forbidden("身份令牌与本次登录不符（nonce）")
        return claims

    def _signing_key(self, id_token: str):
        """The provider's key named by the token's ``kid``; a provider publishing one key may omit it."""
        kid = jwt.get_unverified_header(id_token).get("kid")
        if kid:
            return self._keys.get_signing_key(kid).key
        keys = self._keys.get_signing_keys()
        if len(keys) != 1:
            raise jwt.InvalidTokenError("the ID token names no key (kid) and the provider publishes several")
        return keys[0].key

    def logout_url(self, post_logout: str) -> str | None:
        endpoint = self.metadata().get("end_session_endpoint")
        return f"{endpoint}?{urlencode({'post_logout_redirect_uri': post_logout})}" if endpoint else None


def token_fingerprint(value: str) -> str:
    """What the sessions table keeps of a session cookie: its SHA-256."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret_value() -> str:
    return secrets.token_urlsafe(32)

