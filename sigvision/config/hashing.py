"""Configs as plain dicts and their fingerprints: :func:`config_to_dict` (what is saved beside
every artifact) and :func:`config_hash` (12 hex digits over the sections an artifact depends
on, e.g. ``data`` + ``render`` for a prepared folder, ``data`` + ``render`` + ``model`` for a
checkpoint)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import fields
from typing import Any, Sequence

from .schema import Config


def config_to_dict(cfg: Any) -> dict:
    """A plain, JSON/YAML-serialisable dict of a config (tuples become lists)."""

    def conv(o):
        if dataclasses.is_dataclass(o):
            return {f.name: conv(getattr(o, f.name)) for f in fields(o)}
        if isinstance(o, (tuple, list)):
            return [conv(v) for v in o]
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        return o

    return conv(cfg)


#: Keys added after folders were prepared and models trained: left out of the hash while they
#: hold their default, so those folders and checkpoints keep their hash (and stay usable).
_HASH_IF_SET = {"data": ("channel_units", "file_pattern", "on_epoch_mismatch", "on_bad_signal", "amplitude_bounds",
                         "max_bad_fraction"),
               "render": ("night_norm", "spec_fmin_hz")}


#: ``data`` keys that say how a prepared folder's labels become targets or how window predictions
#: are aggregated, not what ``prepare`` writes: left out of the data+render hash of prepared
#: folders (one prepared folder serves binary and multi-label runs, either Challenge, ...), kept
#: in the hash of trained models (sections with ``model``).
TARGET_ONLY_DATA_KEYS: tuple[str, ...] = ("ecg_task", "label_set", "classes", "challenge", "normal_labels",
                                          "positive_labels", "on_missing_labels", "ecg_window_aggregate")


def config_hash(cfg: Config, sections: Sequence[str] = ("data", "render")) -> str:
    """12-hex-digit fingerprint of the given sections (stable across runs and machines)."""
    d = config_to_dict(cfg)
    d["model"].pop("alias", None)  # a name in the run, not part of what made the weights
    defaults = config_to_dict(Config())
    for sec, keys in _HASH_IF_SET.items():
        for k in keys:
            if d[sec].get(k) == defaults[sec][k]:
                d[sec].pop(k, None)
    if "model" not in sections:
        for k in TARGET_ONLY_DATA_KEYS:
            d["data"].pop(k, None)
    payload = json.dumps({s: d[s] for s in sections}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
