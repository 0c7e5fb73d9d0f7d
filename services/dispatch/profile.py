"""The dispatch part of a deployment profile (``<profile>/dispatch.yaml``).

    categories:            # code = the Chinese name; keywords suggest it when the submitter gave none
      - {code: 用工, keywords: [招工, 用工, 工人], aliases: [劳动用工]}
    default_category: 其他
    routing:               # in order; every matching rule is a candidate, the first one leads
      - name: 用工到人社
        match: {categories: [用工], districts: [汉台区], cadres: [], leaders: [], channels: []}
        lead: hrss         # a unit code, or ``locality``: the locality unit of the appeal's district,
        co_units: [locality]  # ``lead_department``: the subject's own lead department (四个一 / 六个一),
                              # ``cadre_unit``: its paired cadre's unit (both carried by appeal_received)
    first_responder: true  # 首派负责制 (see services/dispatch/domain.py: Appeal.assign)
    max_returns: 2         # every N-th return asks for escalation (reason ``returns``)
    difficulty: {default: B, rules: [{value: A, categories: [...], keywords: [...]}]}
    nature: {default: 个性, rules: [{value: 体制机制性, keywords: [...]}]}
    codes:                 # 赋码 at dispatch (富阳 红黄绿): the first matching rule gives the code
      - {code: red, districts: [富阳区], difficulties: [C, D], urgencies: []}
      - {code: green, districts: [富阳区]}

A routing rule may also match on the appeal's ``natures`` (个性/共性/体制机制性),
``difficulties`` (A-D) and ``urgencies`` (一般/紧急/特急) as classified when it came in:
"an institutional or D-class problem goes straight to city coordination".
A code rule matches when each of its non-empty lists holds the appeal's value; the rules
naming the appeal's district are tried first, then those naming no district (the city's
default); no rule matching: no code.

A routing rule matches when every non-empty list of its ``match`` holds the appeal's value
(``keywords``: one of them is in the title or description); an empty or absent list matches
anything, but a rule must match on something. A difficulty or nature rule matches when its
``categories`` hold the category OR one of its ``keywords`` is in the text; the first decides.
"""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.events import COLOURS, DIFFICULTIES, NATURES, SUBJECT_TYPES, URGENCIES
from shared.profile import Strict

LOCALITY = "locality"  # "条块结合、以块为主": the locality unit whose district is the appeal's
# the subject's own units, from intake's registry as appeal_received carries them
PAIRED_UNITS = ("lead_department", "cadre_unit")


def _words(**kw) -> fields.List:
    return fields.List(fields.Str(validate=validate.Length(min=1, max=64)), load_default=list, **kw)


def _choices(choices: tuple[str, ...]) -> fields.List:
    return fields.List(fields.Str(validate=validate.OneOf(choices)), load_default=list)


class CategorySchema(Strict):
    code = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    keywords = _words()
    aliases = _words()  # other spellings a submitter may use (资金, 融资 for 资金/融资)


class MatchSchema(Strict):
    categories = _words()
    districts = _words()
    cadres = _words()  # the enterprise's paired cadre (包联干部)
    leaders = _words()  # the enterprise's paired leader (包联领导)
    channels = _words()  # e.g. message_board (Wuhan's 留言板 routes to its chief responders)
    keywords = _words()  # in the title or description
    subject_types = fields.List(fields.Str(validate=validate.OneOf(SUBJECT_TYPES)), load_default=list)
    natures = _choices(NATURES)  # 体制机制性 -> e.g. straight to city coordination
    difficulties = _choices(DIFFICULTIES)  # D-class -> e.g. the city's coordination
    urgencies = _choices(URGENCIES)


class CodeRuleSchema(Strict):
    """One 赋码 rule (富阳: 根据难易、紧急程度实行红黄绿三色赋码)."""

    code = fields.Str(required=True, validate=validate.OneOf(COLOURS))
    districts = _words()
    difficulties = _choices(DIFFICULTIES)
    urgencies = _choices(URGENCIES)


class RoutingRuleSchema(Strict):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    match = fields.Nested(MatchSchema, required=True)
    lead = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    co_units = _words()

    @validates_schema
    def _matches_something(self, data: dict, **kwargs) -> None:
        if not any(data["match"].values()):
            raise ValidationError("a rule must match on something (categories, districts, cadres, leaders, "
                                  "channels, keywords, subject_types, natures, difficulties or urgencies); put a "
                                  "catch-all unit in the last rule's categories",
                                  "match")


class LevelRuleSchema(Strict):
    value = fields.Str(required=True)
    categories = _words()
    keywords = _words()

    @validates_schema
    def _matches_something(self, data: dict, **kwargs) -> None:
        if not data["categories"] and not data["keywords"]:
            raise ValidationError("a rule needs categories or keywords", "categories")


def _levels(choices: tuple[str, ...], default: str):
    class LevelsSchema(Strict):
        default_value = fields.Str(data_key="default", load_default=default, validate=validate.OneOf(choices))
        rules = fields.List(fields.Nested(LevelRuleSchema), load_default=list)

        @validates_schema
        def _known_values(self, data: dict, **kwargs) -> None:
            errors = {}
            for index, rule in enumerate(data.get("rules") or []):
                if rule["value"] not in choices:
                    errors[index] = {"value": [f"must be one of {', '.join(choices)}"]}
            if errors:
                raise ValidationError({"rules": errors})

    return LevelsSchema


DifficultySchema = _levels(DIFFICULTIES, "B")
NatureSchema = _levels(NATURES, "个性")


class DispatchPart(Strict):
    categories = fields.List(fields.Nested(CategorySchema), required=True, validate=validate.Length(min=1))
    default_category = fields.Str(load_default="其他")
    routing = fields.List(fields.Nested(RoutingRuleSchema), load_default=list)
    first_responder = fields.Bool(load_default=True)
    max_returns = fields.Int(load_default=2, validate=validate.Range(min=1, max=20))
    difficulty = fields.Nested(DifficultySchema, load_default=lambda: {"default_value": "B", "rules": []})
    nature = fields.Nested(NatureSchema, load_default=lambda: {"default_value": "个性", "rules": []})
    codes = fields.List(fields.Nested(CodeRuleSchema), load_default=list)

    @validates_schema
    def _categories_known(self, data: dict, **kwargs) -> None:
        codes = [c["code"] for c in data["categories"]]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValidationError(f"categories used twice: {', '.join(dupes)}", "categories")
        known = set(codes)
        if data.get("default_category", "其他") not in known:
            raise ValidationError(f"{data.get('default_category', '其他')!r} is not among the categories",
                                  "default_category")
        errors: dict = {}
        for index, rule in enumerate(data.get("routing") or []):
            unknown = [c for c in rule["match"]["categories"] if c not in known]
            if unknown:
                errors.setdefault("routing", {})[index] = {"match": {"categories": [
                    f"unknown categories: {', '.join(unknown)}"]}}
        for part in ("difficulty", "nature"):
            for index, rule in enumerate((data.get(part) or {}).get("rules") or []):
                unknown = [c for c in rule["categories"] if c not in known]
                if unknown:
                    errors.setdefault(part, {}).setdefault("rules", {})[index] = {
                        "categories": [f"unknown categories: {', '.join(unknown)}"]}
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def cross_check(part: dict, units: dict) -> list[str]:
        """Rules that name units the unit directory does not have."""
        known = {u["code"] for u in units["units"]}
        localities = [u for u in units["units"] if u["type"] == "locality"]
        problems = []
        for index, rule in enumerate(part["routing"]):
            for name in [rule["lead"], *rule["co_units"]]:
                if name in PAIRED_UNITS:
                    continue  # a unit of the registry's pairing, checked by intake against units.yaml
                if name == LOCALITY:
                    if not localities:
                        problems.append(f"routing[{index}] ({rule['name']}): {LOCALITY!r} but units.yaml "
                                        "has no locality unit")
                elif name not in known:
                    problems.append(f"routing[{index}] ({rule['name']}): unknown unit {name!r}")
        districts = {u["district"] for u in localities if u.get("district")}
        for index, rule in enumerate(part["routing"]):
            for district in rule["match"]["districts"]:
                if district not in districts:
                    problems.append(f"routing[{index}] ({rule['name']}): no locality unit has district "
                                    f"{district!r}")
        for index, rule in enumerate(part.get("codes") or []):
            for district in rule["districts"]:
                if district not in districts:
                    problems.append(f"codes[{index}]: no locality unit has district {district!r}")
        return problems
