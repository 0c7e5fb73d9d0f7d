"""Deployment profiles: one folder per campaign, one file per part.

    deploy/profiles/<campaign>/
      units.yaml        the unit directory, read by every service that needs units
      dispatch.yaml     categories, routing, difficulty (the dispatch service)
      supervision.yaml  deadlines, colours, the escalation ladder
      assessment.yaml   callback rules, scoring, thresholds, reports
      notify.yaml       channels, quiet hours, templates, leaders

Each service reads only its own part (and ``units.yaml``), so a department that
deploys one service needs nothing else. ``PROFILE_DIR`` in a service's config
names the folder (default ``deploy/profiles/demo``). Errors name the file and
line: ``deploy/profiles/x/units.yaml:14: units[2].level: must be one of ...``.

``python -m shared.profile check DIR`` validates every part that a service of
this checkout knows how to read.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import yaml
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = ROOT / "deploy" / "profiles" / "demo"
UNIT_TYPES = ("department", "locality", "office", "coordination")
LEVELS = ("province", "city", "district", "street")


class ProfileError(ValueError):
    pass


def profile_dir(config: dict[str, Any]) -> Path:
    value = config.get("PROFILE_DIR") or DEFAULT_PROFILE
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


class Strict(Schema):
    """Profile sections refuse unknown keys: a typo must not pass silently."""

    class Meta:
        unknown = RAISE


class ContactSchema(Strict):
    name = fields.Str(load_default=None)
    email = fields.Email(load_default=None)
    phone = fields.Str(load_default=None)
    webhook = fields.Url(load_default=None, require_tld=False)
    webhook_secret = fields.Str(load_default=None)
    webhook_kind = fields.Str(load_default="generic", validate=validate.OneOf(("generic", "dingtalk", "wecom")))
    channels = fields.List(fields.Str(validate=validate.OneOf(("email", "webhook", "sms", "inbox"))),
                           load_default=lambda: ["inbox"])
    quiet_hours = fields.Str(load_default=None, validate=validate.Regexp(r"^\d{2}:\d{2}-\d{2}:\d{2}$"))


class UnitSchema(Strict):
    code = fields.Str(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_\-]{0,63}$"))
    name = fields.Str(required=True)
    type = fields.Str(required=True, validate=validate.OneOf(UNIT_TYPES))
    level = fields.Str(required=True, validate=validate.OneOf(LEVELS))
    parent = fields.Str(load_default=None)
    district = fields.Str(load_default=None)  # for a locality: the district name appeals carry
    leader = fields.Nested(ContactSchema, load_default=None)
    contact = fields.Nested(ContactSchema, load_default=None)
    chief_responder = fields.Str(load_default=None)  # 首席回复员 (Wuhan)


class UnitsPart(Strict):
    campaign = fields.Str(required=True)
    city = fields.Str(required=True)
    timezone = fields.Str(load_default="Asia/Shanghai")
    office = fields.Str(required=True)  # the supervising office's unit code
    units = fields.List(fields.Nested(UnitSchema), required=True, validate=validate.Length(min=1))

    @validates_schema
    def _references(self, data: dict[str, Any], **kwargs: Any) -> None:
        codes = [u["code"] for u in data["units"]]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValidationError(f"unit codes used twice: {', '.join(dupes)}", "units")
        known = set(codes)
        errors = {}
        for index, unit in enumerate(data["units"]):
            if unit["parent"] and unit["parent"] not in known:
                errors[index] = {"parent": [f"unknown unit {unit['parent']!r}"]}
        if errors:
            raise ValidationError({"units": errors})
        if data["office"] not in known:
            raise ValidationError(f"unknown unit {data['office']!r}", "office")


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The line (1-based) of the deepest node on ``path`` in the composed YAML."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                match = next((k for k, v in node.value if k.value == key), None)
                if match is not None:
                    line = match.start_mark.line + 1
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _flatten(messages: Any, path: list[Any]) -> list[tuple[list[Any], str]]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out += _flatten(value, path if key == "_schema" else path + [key])
        return out
    if isinstance(messages, list):
        return [(path, str(m)) for m in messages]
    return [(path, str(messages))]


def _dotted(path: list[Any]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(top)"


def load_part(directory: str | Path, part: str, schema: type[Schema] | Schema) -> dict[str, Any]:
    """Read ``<directory>/<part>.yaml`` and validate it; errors name file and line."""
    path = Path(directory) / f"{part}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: missing (the profile has no {part} part)") from None
    try:
        document = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ProfileError(f"{path}:1: the file must be a mapping")
    instance = schema() if isinstance(schema, type) else schema
    try:
        loaded: dict[str, Any] = instance.load(document)
        return loaded
    except ValidationError as exc:
        lines = []
        for field_path, message in _flatten(exc.messages, []):
            line = _line_of(root, field_path)
            lines.append(f"{path}:{line or 1}: {_dotted(field_path)}: {message}")
        raise ProfileError("\n".join(lines)) from None


def load_units(directory: str | Path) -> dict[str, Any]:
    return load_part(directory, "units", UnitsPart)


PROFILE_PARTS_GROUP = "suqiu.profile_parts"


def _part_schemas() -> dict[str, str]:
    """part -> "module:Schema" of the service that reads it: ``units`` here, each service's part
    named by the service under the ``suqiu.profile_parts`` entry points (pyproject.toml)."""
    from importlib.metadata import entry_points

    parts = {"units": "shared.profile:UnitsPart"}
    parts.update({point.name: point.value for point in sorted(entry_points(group=PROFILE_PARTS_GROUP),
                                                               key=lambda p: p.name)})
    return parts


PART_SCHEMAS = _part_schemas()
"""part -> "module:Schema": the one schema of each part of a profile."""


def part_schema(part: str) -> type[Schema] | None:
    module_name, _, name = PART_SCHEMAS[part].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    schema: type[Schema] = getattr(module, name)
    return schema


def check(directory: str | Path) -> list[str]:
    """Validate every part this checkout can read; returns the problems (empty when fine)."""
    problems = []
    for part in PART_SCHEMAS:
        schema = part_schema(part)
        if schema is None:
            continue
        try:
            loaded = load_part(directory, part, schema)
            cross = getattr(schema, "cross_check", None)
            if cross is not None and part != "units":
                for message in cross(loaded, load_units(directory)):
                    problems.append(f"{Path(directory) / (part + '.yaml')}: {message}")
        except ProfileError as exc:
            problems.append(str(exc))
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "check":
        print("usage: python -m shared.profile check DIR [DIR ...]", file=sys.stderr)
        return 2
    failed = 0
    for directory in argv[1:]:
        problems = check(directory)
        print(f"{directory}: {'ok' if not problems else 'INVALID'}")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["ProfileError", "Strict", "UnitsPart", "UnitSchema", "ContactSchema", "load_part", "load_units",
           "profile_dir", "check", "EXCLUDE"]
