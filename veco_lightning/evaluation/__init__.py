"""Evaluation of multilingual encoders with XTREME protocols: retrieval, mining, word alignment."""

from veco_lightning.evaluation.alignment import (
    aer_from_counts,
    alignment_counts,
    alignment_error_rate,
    argmax_alignment,
    itermax_alignment,
    parse_pharaoh,
    read_pharaoh,
    simalign_similarity,
)
from veco_lightning.evaluation.mining import (
    BuccSplit,
    best_threshold,
    bucc_files,
    candidates_to_ids,
    evaluate_mining,
    make_bucc_task,
    mine_candidates,
    prf_at_threshold,
    read_bucc,
)
from veco_lightning.evaluation.retrieval import (
    bidirectional_nearest_neighbours,
    cosine_similarity_matrix,
    ratio_margin_scores,
    retrieval_accuracy,
    top1,
)

__all__ = [
    "BuccSplit",
    "aer_from_counts",
    "alignment_counts",
    "alignment_error_rate",
    "argmax_alignment",
    "best_threshold",
    "bidirectional_nearest_neighbours",
    "bucc_files",
    "candidates_to_ids",
    "cosine_similarity_matrix",
    "evaluate_mining",
    "itermax_alignment",
    "make_bucc_task",
    "mine_candidates",
    "parse_pharaoh",
    "prf_at_threshold",
    "ratio_margin_scores",
    "read_bucc",
    "read_pharaoh",
    "retrieval_accuracy",
    "simalign_similarity",
    "top1",
]
