"""Post-processing of per-epoch sleep-stage probabilities into a hypnogram.

One night is an array ``probs`` of shape ``(n_epochs, 5)``: one row per 30-s epoch, columns
in :data:`sigvision.loaders.base.STAGES` order (W, N1, N2, N3, REM). A post-processor
turns it into integer stages of shape ``(n_epochs,)`` in the same order (0 W ... 4 REM)::

    from sigvision.postprocess import smooth, smooth_many
    stages = smooth(probs, method="hmm")
    many = smooth_many([probs_a, probs_b], method="rules", confidence=0.9)

Methods live in the registry :data:`POSTPROCESSORS` (add your own with
:func:`register_postprocessor`):

``"argmax"``
    The identity baseline: the most probable stage of every epoch.
``"mode"``
    A centred ``k``-epoch majority (mode) filter over the argmax labels (default ``k=3``);
    where it says N2 or N3, each epoch's own probabilities choose between the two
    (:func:`n3_by_epoch`; ``n3_per_epoch=False`` for the plain filter). The HMM does the same.
``"rules"``
    The scorer's context rules (:data:`RULES`), each switchable, each grounded in the AASM
    Manual v2.6 or the sleep-medicine literature (see each ``rule_*`` function). Epochs the
    model is confident about (max probability >= ``confidence``) are never changed.
``"hmm"``
    Viterbi decoding with a learned stage-transition matrix (:class:`HMMParams`; the
    shipped ``resources/hmm/sleep_edf_dod_v1.json`` by default), the model's probabilities
    as emissions and transitions weighted 0.4 (:data:`HMM_OPTIONS`), starting from any
    stage (a recording need not begin at lights-off: naps, excerpts). This is the variant
    that did not make a good stager worse on real outputs (YASA's probabilities on real
    EEG excerpts); the textbook decoder (priors divided out, full-weight transitions,
    night-start distribution) is ``divide_priors=True, transition_weight=1,
    initial="night", n3_per_epoch=False``.
``"hmm_robust"``
    The name of the earlier safe variant, kept for configs that use it: the same decoder
    as ``"hmm"`` with the night-start initial distribution.

Input rules (every method): ``probs`` must be 2-D with 5 columns, finite and
non-negative. Rows need not sum to 1: each row is divided by its sum; an all-zero row
carries no evidence and is treated as uniform (0.2 each). Zero epochs give an empty
result.

Modules: :mod:`.base` (validation, registry, ``smooth``, argmax and mode), :mod:`.rules`,
:mod:`.hmm`; :mod:`.thresholds` holds the ECG decision thresholds.

Everything here is a function of arrays except :func:`save_hmm`, :func:`load_hmm` and
:func:`load_shipped_hmm`, which read or write the JSON transition-model files.
"""
from __future__ import annotations

# importing the package registers every method: argmax and mode (base), rules, hmm
from .base import (  # noqa: F401
    N1,
    N2,
    N3,
    N_STAGES,
    POSTPROCESSORS,
    PROB_FLOOR,
    REM,
    STAGE_NAMES,
    Postprocessor,
    W,
    available_postprocessors,
    check_options,
    get_postprocessor,
    mode_filter,
    n3_by_epoch,
    register_postprocessor,
    smooth,
    smooth_many,
    smooth_records,
    validate_probs,
)
from .hmm import (  # noqa: F401
    HMM_OPTIONS,
    ROBUST_HMM_OPTIONS,
    SHIPPED_HMM,
    HMMParams,
    fit_hmm,
    hmm_decode,
    load_hmm,
    load_shipped_hmm,
    save_hmm,
    viterbi,
)
from .rules import (  # noqa: F401
    DEFAULT_RULES,
    RULE_FUNCTIONS,
    RULES,
    apply_rules,
    rule_isolated_epoch,
    rule_n2_continuity,
    rule_no_wake_to_n3,
    rule_rem_continuity,
    rule_sleep_onset_rem,
)

__all__ = [
    "STAGE_NAMES",
    "N_STAGES",
    "W",
    "N1",
    "N2",
    "N3",
    "REM",
    "Postprocessor",
    "POSTPROCESSORS",
    "register_postprocessor",
    "get_postprocessor",
    "available_postprocessors",
    "check_options",
    "validate_probs",
    "smooth",
    "smooth_records",
    "smooth_many",
    "mode_filter",
    "n3_by_epoch",
    "RULES",
    "DEFAULT_RULES",
    "RULE_FUNCTIONS",
    "apply_rules",
    "rule_sleep_onset_rem",
    "rule_no_wake_to_n3",
    "rule_rem_continuity",
    "rule_n2_continuity",
    "rule_isolated_epoch",
    "HMMParams",
    "fit_hmm",
    "viterbi",
    "hmm_decode",
    "save_hmm",
    "load_hmm",
    "load_shipped_hmm",
    "SHIPPED_HMM",
    "HMM_OPTIONS",
    "ROBUST_HMM_OPTIONS",
    "PROB_FLOOR",
]
