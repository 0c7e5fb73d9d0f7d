"""Common problems (共性问题): suggesting groups of open appeals that are one problem.

A candidate group is open appeals of at least two enterprises, in the same category and
the same district, whose texts are alike (:mod:`services.dispatch.similarity`): the
appeals are linked when their similarity reaches the threshold, and a group is a
connected set of links (scipy's ``connected_components``). The office confirms a group;
until then nothing changes. Seed 001: 22 firms' land-title problems, taken over by one
bureau together.

Pure: no nameko, no SQL, no clock.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.dispatch import similarity


@dataclass(frozen=True)
class OpenAppeal:
    id: str
    credit_code: str
    category: str
    district: str | None
    text: str


@dataclass(frozen=True)
class Suggestion:
    category: str
    district: str | None
    members: tuple[str, ...]  # appeal ids, in the order they were given
    enterprises: int
    similarity: float  # the weakest link's similarity inside the group (of the spanning links)


def suggest(appeals: list[OpenAppeal], threshold: float = similarity.THRESHOLD) -> list[Suggestion]:
    """Candidate groups among ``appeals``, largest first; each spans at least two enterprises."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    pools: dict[tuple[str, str | None], list[OpenAppeal]] = defaultdict(list)
    for appeal in appeals:
        pools[(appeal.category, appeal.district)].append(appeal)
    found: list[Suggestion] = []
    for (category, district), pool in pools.items():
        if len({a.credit_code for a in pool}) < 2:
            continue
        scores = similarity.similarity_matrix([a.text for a in pool])
        size = len(pool)
        links = [[0] * size for _ in range(size)]
        for i in range(size):
            for j in range(i + 1, size):
                if pool[i].credit_code != pool[j].credit_code and scores[i][j] >= threshold:
                    links[i][j] = links[j][i] = 1
        count, labels = connected_components(csr_matrix(links), directed=False)
        for label in range(count):
            indices = [i for i in range(size) if labels[i] == label]
            enterprises = {pool[i].credit_code for i in indices}
            if len(enterprises) < 2:
                continue
            weakest = min(max(float(scores[i][j]) for j in indices if j != i and links[i][j])
                          for i in indices if any(links[i][j] for j in indices))
            found.append(Suggestion(category, district, tuple(pool[i].id for i in indices), len(enterprises),
                                    round(weakest, 4)))
    return sorted(found, key=lambda s: (-len(s.members), s.category, s.district or "", s.members))


OPEN_STATES = ("queued", "dispatched", "accepted", "reopened")


def check_group(members: list[dict], requested: list[str], grouped: set[str], lead: str, known_unit: bool) -> None:
    """What the office may confirm as one common problem; raises with a message per field.

    ``members``: the requested appeals found (id, credit_code, category, status); ``grouped``:
    those already in a common problem. At least two appeals of at least two enterprises, one
    category, all open (not replied or closed), none in another group, a known lead unit.
    """
    from shared.errors import Conflict, InvalidInput, NotFound

    errors: dict[str, list[str]] = {}
    if not known_unit:
        errors["lead_unit"] = [f"unknown unit code: {lead}"]
    if len(set(requested)) != len(requested):
        errors["appeal_ids"] = ["an appeal is named twice"]
    if errors:
        raise InvalidInput("invalid common problem", errors)
    missing = sorted(set(requested) - {m["id"] for m in members})
    if missing:
        raise NotFound(f"没有诉求 {', '.join(missing)}", {"appeal_ids": [f"unknown appeal: {m}" for m in missing]})
    if len({m["credit_code"] for m in members}) < 2:
        raise InvalidInput("invalid common problem",
                           {"appeal_ids": ["a common problem needs appeals of at least two enterprises"]})
    if len({m["category"] for m in members}) > 1:
        raise InvalidInput("invalid common problem", {"appeal_ids": [
            "the appeals are of different categories: " + ", ".join(sorted({m["category"] for m in members}))]})
    closed = sorted(m["id"] for m in members if m["status"] not in OPEN_STATES)
    if closed:
        raise Conflict(f"诉求 {', '.join(closed)} 已答复或已办结，不能归入共性问题", {"appeal_ids": closed})
    taken = sorted(set(requested) & grouped)
    if taken:
        raise Conflict(f"诉求 {', '.join(taken)} 已属于另一个共性问题", {"appeal_ids": taken})
