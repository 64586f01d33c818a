"""How ``make train`` picks the shipped threshold from its dev figures (no torch needed)."""

from __future__ import annotations

from training.train_claims import pick_threshold


def figures(precision: float, recall: float) -> dict:
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def test_one_right_claim_does_not_make_a_threshold_precise_enough() -> None:
    # at 0.9 a single claim gets through and it is right: precision 1.0, recall 0.004
    results = [(0.3, figures(0.46, 0.43)), (0.5, figures(0.5, 0.3)), (0.9, figures(1.0, 0.004))]
    threshold, chosen = pick_threshold(results, min_precision=0.9, min_recall=0.5)
    assert threshold == 0.3
    assert chosen["recall"] == 0.43


def test_a_precise_threshold_that_keeps_recall_wins_over_a_better_f1() -> None:
    results = [(0.3, figures(0.8, 0.9)), (0.6, figures(0.92, 0.6)), (0.8, figures(0.97, 0.3))]
    assert pick_threshold(results, min_precision=0.9, min_recall=0.5)[0] == 0.6


def test_without_a_precise_enough_threshold_the_best_f1_wins_and_ties_go_low() -> None:
    results = [(0.25, figures(0.5, 0.6)), (0.3, figures(0.6, 0.5)), (0.4, figures(0.55, 0.5))]
    best = max(r[1]["f1"] for r in results)
    threshold, chosen = pick_threshold(results, min_precision=0.9, min_recall=0.5)
    assert chosen["f1"] == best
    assert threshold == 0.25
