"""The intake part of a deployment profile (``deploy/profiles/<campaign>/intake.yaml``).

What a campaign registers and hears appeals about: enterprises always; households in hardship
(Wuhan's 结对帮扶困难群众, seed 000) and projects (Baoding's 包联项目, seed 004) where the
campaign pairs cadres or leaders with them. A submission, registration or visit about a subject
type the campaign does not have is refused with the reason.
"""
from __future__ import annotations

from pathlib import Path

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.events import SUBJECT_TYPES
from shared.profile import Strict, load_part


class IntakePart(Strict):
    subject_types = fields.List(fields.Str(validate=validate.OneOf(SUBJECT_TYPES)),
                                load_default=lambda: ["enterprise"], validate=validate.Length(min=1))

    @validates_schema
    def _enterprises_always(self, data: dict, **kwargs) -> None:
        types = data["subject_types"]
        if "enterprise" not in types:
            raise ValidationError("every campaign hears enterprises: list enterprise", "subject_types")
        if len(set(types)) != len(types):
            raise ValidationError("a subject type listed twice", "subject_types")


def load_intake_part(directory: str | Path) -> dict:
    """The campaign's intake part; a profile written before it existed hears enterprises only."""
    if not (Path(directory) / "intake.yaml").exists():
        return IntakePart().load({})
    return load_part(directory, "intake", IntakePart)
