"""Reading a service's configuration values (``${ENV:default}`` in config.yaml arrives as text)."""
from __future__ import annotations

TRUE_WORDS = ("1", "true", "yes", "on")


def flag(value: object) -> bool:
    """A boolean setting: true, yes, on, 1 (any case) are true; anything else, None included, is false."""
    return str(value).strip().lower() in TRUE_WORDS
