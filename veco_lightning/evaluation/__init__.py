"""Evaluation of multilingual encoders with XTREME protocols: evaluation sets and their datamodule, sentence
retrieval (Tatoeba), bitext mining (BUCC), word alignment (AER), synonym retrieval, metrics, scorer and reports."""

from veco_lightning._lazy import lazy_exports

_EXPORTS = {
    "BitextEvalSet": "datasets",
    "BuccSource": "sources",
    "BuccSplit": "bitext_mining",
    "CrossLingualScorer": "scorer",
    "EvaluationDataModule": "datamodule",
    "EvaluationOptions": "scorer",
    "PairSource": "sources",
    "TatoebaSource": "sources",
    "aer_from_counts": "alignment",
    "aligned_accuracy": "retrieval",
    "alignment_counts": "alignment",
    "alignment_error_rate": "alignment",
    "argmax_alignment": "alignment",
    "best_threshold": "bitext_mining",
    "bidirectional_nearest_neighbours": "retrieval",
    "bucc_files": "bitext_mining",
    "bucc_splits": "bitext_mining",
    "candidates_to_ids": "bitext_mining",
    "cosine_similarity_matrix": "retrieval",
    "evaluate_mining": "bitext_mining",
    "itermax_alignment": "alignment",
    "make_bucc_task": "bitext_mining",
    "mine_candidates": "bitext_mining",
    "parse_pharaoh": "alignment",
    "prf_at_threshold": "bitext_mining",
    "ratio_margin_scores": "retrieval",
    "read_bucc": "bitext_mining",
    "read_pharaoh": "alignment",
    "retrieval_accuracy": "retrieval",
    "simalign_similarity": "alignment",
    "top1": "retrieval",
    "write_report": "report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
