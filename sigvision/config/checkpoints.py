"""Which checkpoint each model is used at: ``best``, ``last`` or an epoch number for every model,
a list with one per entry of ``blend.models``, or a mapping model -> checkpoint; parsed,
checked against the blended models and resolved per model, with the closest valid value
suggested."""
from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

from ..errors import ConfigError

_CHECKPOINT_FORMS = ("best, last or an epoch number (one for every model), a list with one per entry of "
                     "blend.models (same order), or a mapping model: checkpoint")


def _checkpoint_value(v: Any, key: str) -> str:
    """One checkpoint: ``best``, ``last`` or an epoch number (int or digits; ``'04'`` -> ``'4'``)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return str(v)
    if isinstance(v, str):
        t = v.strip()
        if t in ("best", "last"):
            return t
        if t.isdigit():
            return str(int(t))
    close = difflib.get_close_matches(str(v), ("best", "last"), n=1) if isinstance(v, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    if isinstance(v, str) and "," in v:
        hint = f" (one per model is a list: '[{v}]', or a mapping '{{model: 4, other: 1}}')"
    elif isinstance(v, str) and v.strip().lower().startswith("epoch_") and v.strip()[6:].isdigit():
        hint = f" (did you mean {int(v.strip()[6:])}? epoch_N.pt is chosen by its number)"
    raise ConfigError(f"{key}={v!r} is not a checkpoint{hint}; accepted: best, last or an epoch number (0, 1, ...)")


def checkpoint_choice(value: Any, key: str) -> str | tuple[str, ...] | dict[str, str]:
    """Normalise a checkpoint choice (``blend.checkpoint``, ``infer.checkpoint``, ``predict
    --checkpoint``): one value -> ``str``; a list -> ``tuple`` of ``str``; a mapping model ->
    checkpoint -> ``dict`` of ``str``. Epoch numbers become digit strings (``4`` -> ``'4'``),
    the form used in file names (``<model>_oof_4.npy``)."""
    if isinstance(value, Mapping):
        if not value:
            raise ConfigError(f"{key} is an empty mapping; give {_CHECKPOINT_FORMS}")
        return {str(m): _checkpoint_value(v, f"{key}.{m}") for m, v in value.items()}
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"{key} is an empty list; give {_CHECKPOINT_FORMS}")
        return tuple(_checkpoint_value(v, f"{key}[{i}]") for i, v in enumerate(value))
    return _checkpoint_value(value, key)


def check_checkpoint_choice(choice, models: Sequence[str], key: str, *, models_key: str = "blend.models",
                            partial: bool = False) -> None:
    """Check a per-model checkpoint choice against the models it is for (``models``, named
    ``models_key`` in messages): a list needs one value per model, a mapping names only those
    models and (unless ``partial``) every one of them. Whether a given model has an entry is
    :func:`resolve_checkpoint`'s check."""
    if isinstance(choice, str):
        return
    models = list(models)
    shown = f"{models_key}={models}" if models else f"{models_key} is empty"
    if isinstance(choice, tuple):
        if not models:
            raise ConfigError(f"{key}=[{', '.join(choice)}] gives one checkpoint per model, but {shown}; fix: list the "
                              f"models in {models_key} in the same order, or give one value for every model")
        if len(choice) != len(models):
            raise ConfigError(f"{key} has {len(choice)} value(s) for {len(models)} model(s) ({shown}); fix: give "
                              f"{len(models)} checkpoints in the order of {models_key}, or a mapping model: checkpoint")
        return
    if partial:
        return
    if not models:
        raise ConfigError(f"{key} maps models to checkpoints, but {shown}; fix: list the blended models in "
                          f"{models_key}, or give one value for every model")
    for m in choice:
        if m not in models:
            close = difflib.get_close_matches(m, models, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{key} names {m!r}{hint}, which is not in {shown}; fix: use the model names of "
                              f"{models_key}")
    missing = [m for m in models if m not in choice]
    if missing:
        raise ConfigError(f"{key} has no checkpoint for {', '.join(missing)}; fix: give every model of "
                          f"{models_key} a checkpoint ({', '.join(f'{m}: <best|last|epoch>' for m in missing)}), "
                          "or one value for every model")


def resolve_checkpoint(choice, model: str, models: Sequence[str], key: str) -> str:
    """The checkpoint ``choice`` (normalised by :func:`checkpoint_choice`) gives ``model``; a
    list is read in the order of ``models``."""
    if isinstance(choice, str):
        return choice
    if isinstance(choice, tuple):
        models = list(models)
        if model not in models or len(models) != len(choice):
            raise ConfigError(f"{key}=[{', '.join(choice)}] is read in the order of blend.models={models}, which does not "
                              f"give {model!r} one; fix: use a mapping {{{model}: <checkpoint>}} or one value")
        return choice[models.index(model)]
    if model not in choice:
        raise ConfigError(f"{key} has no checkpoint for {model!r} (it names {', '.join(choice)}); fix: add "
                          f"{model}: <best|last|epoch>, or give one value for every model")
    return choice[model]


def parse_checkpoint_arg(text: str, key: str = "--checkpoint") -> str | tuple[str, ...] | dict[str, str]:
    """A checkpoint choice from the command line: ``4`` (every model), ``4,1`` (one per
    blended model, in order) or ``vit_base_patch16_224=4,tf_efficientnet_b4_ns=1``."""
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p for p in parts):
        raise ConfigError(f"{key}={text!r} has an empty entry; fix: e.g. {key} 4, {key} 4,1 or "
                          f"{key} MODEL_A=4,MODEL_B=1")
    if any("=" in p for p in parts):
        pairs = [p.split("=", 1) for p in parts]
        bad = [p for p, kv in zip(parts, pairs) if len(kv) != 2 or not kv[0].strip() or not kv[1].strip()]
        if bad:
            raise ConfigError(f"{key}={text!r}: {bad[0]!r} is not MODEL=CHECKPOINT; fix: name every model, e.g. "
                              f"{key} MODEL_A=4,MODEL_B=1")
        names = [k.strip() for k, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigError(f"{key}={text!r} names a model twice; fix: one MODEL=CHECKPOINT per model")
        return checkpoint_choice({k.strip(): v.strip() for k, v in pairs}, key)
    return checkpoint_choice(parts if len(parts) > 1 else parts[0], key)
