"""Reading and writing configs: one YAML per experiment (``base:`` files merged under it,
duplicated keys refused), command-line overrides (``--set render.width=128``), unknown keys
rejected with the closest valid key suggested, values type-checked with the key named, the
task's checks (:meth:`sigvision.tasks.Task.check_config`) and the names of registered
optimisers; :func:`config_hash` fingerprints the sections an artifact depends on.

Nothing else in the configuration touches the file system (:func:`load_config`,
:func:`save_config`)."""
from __future__ import annotations

import copy
import dataclasses
import difflib
import logging
import os
import re
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from ..io.artifacts import write_text
from ..synth.samples import sample_path
from ..tasks import task_for
from ..train.optim import OPTIMIZERS
from .hashing import config_hash, config_to_dict  # noqa: F401  (saved configs)
from .schema import Config, TrainConfig
import yaml

log = logging.getLogger(__name__)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    if tp is object:  # free-form options, checked by whoever consumes them
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping of {tp.__name__} fields, got {type(value).__name__}")
        return _build(tp, value, key + ".")
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {type(value).__name__}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):
            # YAML 1.1 reads an unquoted off/on (also no/yes) as a boolean: `amp: off` and
            # `--set train.amp=off` must give the string 'off' that the option accepts
            return "on" if value else "off"
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


#: long or common spellings of keys -> the key (compared after removing '_', '-' and case)
KEY_SYNONYMS: dict[str, str] = {
    "learningrate": "lr", "lrate": "lr", "minlearningrate": "min_lr", "batch": "batch_size",
    "batchsz": "batch_size", "bs": "batch_size", "nepochs": "epochs", "numepochs": "epochs", "maxepochs": "epochs",
    "weightdecay": "weight_decay", "wd": "weight_decay", "workers": "num_workers", "numworker": "num_workers",
    "nfolds": "folds", "numfolds": "folds", "kfold": "folds", "kfolds": "folds", "samplingrate": "fs_hz",
    "fs": "fs_hz", "sfreq": "fs_hz", "srate": "fs_hz", "samplerate": "fs_hz", "patience": "early_stopping_patience",
    "arch": "name", "architecture": "name", "modelname": "name", "optim": "optimizer", "opt": "optimizer",
    "labelsmoothing": "label_smoothing", "mixedprecision": "amp", "fp16": "amp", "size": "height",
    "imgsize": "height", "imagesize": "height", "ckpt": "checkpoint",
}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _all_keys(cls: type = None, prefix: str = "") -> list[str]:
    """Every dotted key of the config schema (``train.lr``, ``data.fs_hz``, ...)."""
    cls = cls or Config
    out = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _all_keys(tp, prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    return out


def suggest_key(key: str, section_keys: Sequence[str], prefix: str = "") -> str | None:
    """The closest valid key for an unknown ``key`` written under ``prefix`` (``"train."``):
    a known synonym or a close spelling in the same section first (``lerning_rate`` ->
    ``train.lr``), then the same name in another section (``train.fs_hz`` -> ``data.fs_hz``)."""
    names = list(section_keys)
    squashed = {_squash(n): n for n in names}
    k = _squash(key)
    if k in squashed:
        return prefix + squashed[k]
    syn_keys = list(KEY_SYNONYMS)
    for cand in ([k] if k in KEY_SYNONYMS else []) + difflib.get_close_matches(k, syn_keys, n=3, cutoff=0.8):
        if KEY_SYNONYMS[cand] in names:
            return prefix + KEY_SYNONYMS[cand]
    close = difflib.get_close_matches(k, list(squashed), n=1, cutoff=0.6)
    if close:
        return prefix + squashed[close[0]]
    elsewhere = [full for full in _all_keys() if not full.startswith(prefix) and
                 _squash(full.rsplit(".", 1)[-1]) in ({k} | {_squash(KEY_SYNONYMS.get(k, k))})]
    if elsewhere:
        return elsewhere[0]
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
    return prefix + close[0] if close else None


def _build(cls: type, mapping: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for k, v in mapping.items():
        if k not in names:
            close = suggest_key(str(k), names, prefix)
            hint = f"; did you mean {close!r}?" if close else ""
            raise ConfigError(f"unknown config key {prefix + str(k)!r}{hint} (valid keys: {', '.join(names)})")
        kwargs[k] = _coerce(v, hints[k], prefix + k)
    return cls(**kwargs)


#: Keys read under their current name, with a warning: (section, old) -> new. Configs saved by
#: earlier versions (``config.yaml`` beside prepared folders and trained models) hold them.
DEPRECATED_KEYS: dict[tuple[str, str], str] = {("data", "on_unknown_code"): "on_unknown_label"}


def _rename_deprecated(mapping: Mapping[str, Any]) -> dict:
    out = dict(mapping)
    for (section, old), new in DEPRECATED_KEYS.items():
        sec = out.get(section)
        if not isinstance(sec, Mapping) or old not in sec:
            continue
        sec = dict(sec)
        value = sec.pop(old)
        if new in sec and sec[new] != value:
            raise ConfigError(f"{section}.{old}={value!r} and {section}.{new}={sec[new]!r} disagree; {old} is the "
                              f"earlier name of {new}: keep {section}.{new} alone")
        sec[new] = value
        out[section] = sec
        logging.getLogger(__name__).warning("config key %s.%s is deprecated: read as %s.%s=%r (rename it)",
                                            section, old, section, new, value)
    return out


def config_from_dict(mapping: Mapping[str, Any] | None) -> Config:
    """Build and validate a :class:`Config` from a plain mapping (as read from YAML).
    Deprecated keys (:data:`DEPRECATED_KEYS`) are read under their new name, with a warning."""
    cfg = _build(Config, _rename_deprecated(mapping or {}))
    validate(cfg)
    return cfg


def validate_train(tcfg: TrainConfig) -> None:
    """``train`` section checks, the optimiser's name against its registry included."""
    tcfg.validate()
    OPTIMIZERS.get(tcfg.optimizer)


def validate(cfg: Config) -> None:
    """Every check of a whole config: each section's values, the names of registered
    optimisers, and what the task can do (:meth:`sigvision.tasks.Task.check_config`:
    post-processing method and options, blend metric, answer file)."""
    cfg.validate()
    validate_train(cfg.train)
    task_for(cfg.data).check_config(cfg)


def _set_dotted(d: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {dotted!r}: {p!r} is not a section")
        cur = nxt
    cur[parts[-1]] = value


def apply_overrides(mapping: dict, overrides: Sequence[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a mapping, in place."""

    renamed: dict[str, tuple[str, object]] = {}  # new key -> (the override, its value) of a deprecated pair
    for ov in overrides:
        if "=" not in ov:
            raise ConfigError(f"--set {ov}: an override must look like section.key=value")
        k, v = ov.split("=", 1)
        try:
            value = yaml.safe_load(v)
        except yaml.YAMLError:
            raise ConfigError(f"--set {ov}: the value {v!r} is not valid YAML; fix: quote it "
                              f"(--set '{k}=\"{v}\"')") from None
        key = k.strip()
        sec, _, name = key.partition(".")
        new = DEPRECATED_KEYS.get((sec, name))
        if new is not None:  # the user's word wins over the file's key under its new name
            logging.getLogger(__name__).warning("--set %s: %s is deprecated: read as %s.%s", ov, key, sec, new)
            key = f"{sec}.{new}"
        if new is not None or (sec, name) in {(s, n) for (s, _), n in DEPRECATED_KEYS.items()}:
            if key in renamed and renamed[key][1] != value:
                raise ConfigError(f"--set {renamed[key][0]} and --set {ov} disagree; one is the earlier name of "
                                  f"the other: keep --set {key}=... alone")
            renamed[key] = (ov, value)
        try:
            _set_dotted(mapping, key, value)
        except ConfigError as exc:
            raise ConfigError(f"--set {ov}: {exc}") from None
    return mapping


def _override_culprit(exc: ConfigError, overrides: Sequence[str]) -> str:
    """``--set KEY=VALUE`` for the override an error is about (the one whose key the message
    names, the longest such key), else every override."""
    text = str(exc)
    named = [ov for ov in overrides if "=" in ov and ov.split("=", 1)[0].strip() in text]
    if named:
        return "--set " + max(named, key=lambda ov: len(ov.split("=", 1)[0]))
    return ", ".join(f"--set {ov}" for ov in overrides)


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config (or the defaults when ``path`` is None) and apply overrides.

    An error caused by an override names the override (``--set train.lerning_rate=0.1: ...``);
    one in the file names the file. Paths written ``sample:NAME`` resolve to the sample data
    shipped with sigvision (:func:`sigvision.synth.samples.sample_path`), from any working folder.
    """

    data: dict = _read_yaml_with_base(Path(path)) if path is not None else {}
    base = copy.deepcopy(data)
    overrides = list(overrides)
    apply_overrides(data, overrides)
    try:
        return _resolve_sample_paths(config_from_dict(data))
    except ConfigError as exc:
        if overrides:
            try:  # does the file alone load? then an override is to blame
                config_from_dict(base)
            except ConfigError:
                pass
            else:
                raise ConfigError(f"{_override_culprit(exc, overrides)}: {exc}") from None
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from None
        raise


SAMPLE_PREFIX = "sample:"


def _resolve_sample_paths(cfg: Config) -> Config:
    """``data.root`` / ``data.labels_csv`` / ``infer.test_dir`` written ``sample:NAME`` -> the
    shipped sample folder's absolute path."""
    def res(v: str) -> str:
        if isinstance(v, str) and v.startswith(SAMPLE_PREFIX):
            return str(sample_path(v[len(SAMPLE_PREFIX):]))
        return v

    data = dataclasses.replace(cfg.data, root=res(cfg.data.root), labels_csv=res(cfg.data.labels_csv))
    infer = dataclasses.replace(cfg.infer, test_dir=res(cfg.infer.test_dir))
    if data == cfg.data and infer == cfg.infer:
        return cfg
    return dataclasses.replace(cfg, data=data, infer=infer)


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml_with_base(p: Path, _seen: tuple = ()) -> dict:
    """Read a YAML config; a top-level ``base: other.yaml`` (relative to this file) is read
    first and this file's values are merged over it."""

    if not p.is_file():
        raise ConfigError(f"{p}: config file not found; fix: give a YAML file (see configs/)")
    if p.resolve() in _seen:
        raise ConfigError(f"{p}: 'base' includes form a cycle")
    try:
        text = p.read_text(encoding="utf-8")
        _check_duplicate_keys(yaml.compose(text), p)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ConfigError(f"{p}: not valid YAML ({first}); fix: check indentation and colons") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections")
    base = data.pop("base", None)
    if base:
        data = _deep_merge(_read_yaml_with_base(p.parent / str(base), _seen + (p.resolve(),)), data)
    return data


def _check_duplicate_keys(node, path: Path, prefix: str = "") -> None:
    """Refuse a key written twice in one mapping (YAML loaders keep the last silently)."""

    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for knode, vnode in node.value:
            key = str(knode.value)
            if key in seen:
                raise ConfigError(f"{path}: key {prefix + key!r} is written twice (lines {seen[key] + 1} and "
                                  f"{knode.start_mark.line + 1}); fix: keep one of them")
            seen[key] = knode.start_mark.line
            _check_duplicate_keys(vnode, path, prefix + key + ".")
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, path, f"{prefix[:-1]}[{i}].")


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (atomically)."""
    return write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
