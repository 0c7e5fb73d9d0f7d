"""The similarity behind common problems, measured on a labelled set of pairs.

``data/common_problem_pairs.csv``: 126 pairs of appeals of one category, written from the
seeds' problems (seed 001: 22 firms' land titles and land quotas, power cuts in summer,
short-handed production lines, rooftop solar; seed 004: technology innovation funds,
social insurance back-payments; seed 001's heating-pipe approvals ...), each labelled 1
when both describe the same problem (a common problem) and 0 when they are two problems
of the same category. The pool compared is the pairs' category, as in production (same
category and district).

Two candidates, each at the threshold of its best F1 on the set:
TF-IDF on characters and character bigrams (scikit-learn) and jieba's words with rapidfuzz's token-set
ratio. The module keeps the one with the better precision.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from services.dispatch import similarity

PAIRS = Path(__file__).parent / "data" / "common_problem_pairs.csv"


def _pairs() -> list[dict]:
    with PAIRS.open(encoding="utf-8") as handle:
        return [{**row, "same": row["same"] == "1"} for row in csv.DictReader(handle)]


def _tfidf_scores(pairs: list[dict]) -> list[float]:
    by_category: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        for text in (pair["a"], pair["b"]):
            if text not in by_category[pair["category"]]:
                by_category[pair["category"]].append(text)
    matrices = {category: similarity.similarity_matrix(texts) for category, texts in by_category.items()}
    return [float(matrices[p["category"]][by_category[p["category"]].index(p["a"])]
                  [by_category[p["category"]].index(p["b"])]) for p in pairs]


def _jieba_rapidfuzz_scores(pairs: list[dict]) -> list[float]:
    import jieba
    from rapidfuzz import fuzz

    jieba.setLogLevel(60)

    def words(text: str) -> str:
        return " ".join(w for w in jieba.lcut(similarity.normalise(text)) if len(w) > 1)

    return [fuzz.token_set_ratio(words(p["a"]), words(p["b"])) / 100 for p in pairs]


def _precision_recall(scores: list[float], labels: list[bool], threshold: float) -> tuple[float, float, int, int]:
    """By hand: true positives / predicted positives, true positives / labelled positives."""
    predicted = [score >= threshold for score in scores]
    true_positives = sum(1 for p, same in zip(predicted, labels, strict=True) if p and same)
    predicted_positives = sum(predicted)
    positives = sum(labels)
    precision = true_positives / predicted_positives if predicted_positives else 0.0
    return precision, true_positives / positives, true_positives, predicted_positives


def _best(scores: list[float], labels: list[bool]) -> tuple[float, float, float]:
    """The threshold of the best F1 (ties: the higher precision), with its precision and recall."""
    best = (-1.0, 0.0, 0.0, 0.0)
    for threshold in sorted(set(scores)):
        precision, recall, _, _ = _precision_recall(scores, labels, threshold)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if (f1, precision) > (best[0], best[2]):
            best = (f1, threshold, precision, recall)
    return best[1], best[2], best[3]


def test_the_labelled_set_has_sixty_pairs_or_more_of_both_kinds():
    pairs = _pairs()
    assert len(pairs) >= 60
    assert sum(p["same"] for p in pairs) >= 20 and sum(not p["same"] for p in pairs) >= 20


def test_tfidf_on_characters_and_bigrams_is_at_least_as_precise_as_jieba_with_rapidfuzz(capsys):
    pairs = _pairs()
    labels = [p["same"] for p in pairs]
    tfidf = _best(_tfidf_scores(pairs), labels)
    fuzzy = _best(_jieba_rapidfuzz_scores(pairs), labels)
    with capsys.disabled():
        print(f"\nTF-IDF chars + char bigrams: threshold {tfidf[0]:.3f} precision {tfidf[1]:.3f} recall {tfidf[2]:.3f}"
              f"\njieba + rapidfuzz token_set_ratio: threshold {fuzzy[0]:.3f} precision {fuzzy[1]:.3f} "
              f"recall {fuzzy[2]:.3f}")
    assert tfidf[1] >= fuzzy[1]


def test_the_modules_threshold_keeps_precision_and_recall_on_the_labelled_set(capsys):
    pairs = _pairs()
    labels = [p["same"] for p in pairs]
    precision, recall, hits, predicted = _precision_recall(_tfidf_scores(pairs), labels, similarity.THRESHOLD)
    with capsys.disabled():
        print(f"\nat THRESHOLD {similarity.THRESHOLD}: {hits} of {predicted} suggested pairs right, "
              f"{hits} of {sum(labels)} same-problem pairs found: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.9
    assert recall >= 0.9


@pytest.mark.parametrize("a, b", [("申请协调20亩工业用地指标。", "申请协调30亩工业用地指标！")])
def test_digits_and_punctuation_do_not_tell_two_appeals_apart(a, b):
    assert similarity.normalise(a) == similarity.normalise(b)


def _held_out(scores: list[float], pairs: list[dict]) -> tuple[float, float]:
    """Leave one category out: the threshold of the best F1 on the other four, judged on the one left out."""
    labels = [p["same"] for p in pairs]
    hits = wrong = missed = 0
    for category in sorted({p["category"] for p in pairs}):
        train = [i for i, p in enumerate(pairs) if p["category"] != category]
        threshold, _, _ = _best([scores[i] for i in train], [labels[i] for i in train])
        for i, pair in enumerate(pairs):
            if pair["category"] == category:
                predicted = scores[i] >= threshold
                hits += predicted and labels[i]
                wrong += predicted and not labels[i]
                missed += (not predicted) and labels[i]
    return hits / (hits + wrong), hits / (hits + missed)


def test_with_the_threshold_chosen_on_the_other_categories_tfidf_stays_the_more_precise(capsys):
    pairs = _pairs()
    tfidf, fuzzy = _held_out(_tfidf_scores(pairs), pairs), _held_out(_jieba_rapidfuzz_scores(pairs), pairs)
    with capsys.disabled():
        print(f"\nleave one category out: TF-IDF precision {tfidf[0]:.3f} recall {tfidf[1]:.3f}; "
              f"jieba + rapidfuzz precision {fuzzy[0]:.3f} recall {fuzzy[1]:.3f}")
    assert tfidf[0] >= fuzzy[0]
