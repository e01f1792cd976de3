"""One registry type for everything a config names: renderers, models, optimisers, losses,
blenders, post-processors and tasks.

A :class:`Registry` maps names to objects (classes, builder functions, descriptors). It is a
mapping (``name in reg``, ``reg[name]``, ``sorted(reg)``; item assignment and deletion
store and drop raw entries, for tests that patch one), plus:

* ``register(name, obj=None, *, replace=False)``: adds ``obj``, or returns a decorator when
  ``obj`` is omitted. A taken name is refused unless ``replace=True``.
  ``register_in(__name__, name, obj=None)`` does the same for a module's own entries,
  replacing only an entry of that same module (a re-import).
* ``get(name)``: the object; an unknown name raises :class:`~sigvision.errors.ConfigError`
  naming the config key, the closest valid name and every available one.
* ``available()``: the sorted names.

Every registry raises the same error type, :class:`~sigvision.errors.ConfigError` (a
``ValueError``), for an unknown name, a taken name and an invalid name, so a caller catches
one thing and the CLI prints one line.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator, MutableMapping
from typing import Any, Callable, Generic, TypeVar

from .errors import ConfigError

__all__ = ["Registry", "closest_hint", "MODELS"]

T = TypeVar("T")


def closest_hint(name: object, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``name``, or ``""``."""
    choices = list(choices)
    by_lower = {str(c).lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.5)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


class Registry(MutableMapping, Generic[T]):
    """Names -> objects, with one error type.

    Parameters
    ----------
    kind : str
        What the entries are, in words (``"renderer"``, ``"post-processing method"``).
    config_key : str, optional
        The config field that names an entry (``"render.name"``); used in error messages.
    on_register : callable, optional
        ``f(name, obj) -> obj`` applied to each registered object (e.g. to wrap a function
        in a descriptor, or to set a ``name`` attribute on a class).
    """

    def __init__(self, kind: str, config_key: str | None = None,
                 on_register: Callable[[str, Any], T] | None = None):
        self.kind = kind
        self.config_key = config_key
        self._on_register = on_register
        self._entries: dict[str, T] = {}

    # mapping protocol ------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __setitem__(self, name: str, obj: T) -> None:
        self._entries[name] = obj

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.available())})"

    # registry API ----------------------------------------------------------------------
    def register(self, name: str, obj: Any = None, *, replace: bool = False):
        """Add ``obj`` under ``name`` (returns it), or return a decorator that does."""
        self.check_name(name, replace=replace)

        def add(o):
            self._entries[name] = self._on_register(name, o) if self._on_register else o
            return o

        return add if obj is None else add(obj)

    def register_in(self, module: str, name: str, obj: Any = None):
        """:meth:`register` for a module's own entries (call it with ``__name__``): a name
        already taken by an object of the same module is replaced (the module imported again,
        e.g. by ``importlib.reload``), one taken by another module's object is refused."""
        existing = self._entries.get(name)
        return self.register(name, obj, replace=getattr(existing, "__module__", None) == module)

    def check_name(self, name: str, *, replace: bool = False) -> None:
        """Refuse an invalid name (empty, whitespace) or, unless ``replace``, a taken one."""
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
            raise ConfigError(f"{self.kind} name must be a non-empty string without spaces; got {name!r}")
        if name in self._entries and not replace:
            raise ConfigError(f"{self.kind} {name!r} is already registered; pass replace=True to overwrite")

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plug-ins that register temporary entries)."""
        self._entries.pop(name, None)

    def available(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str, default: Any = ...) -> T:  # type: ignore[override]
        """The entry ``name``. Unknown: ``default`` when one is given (``Mapping.get``
        semantics), else :class:`ConfigError` with the closest valid name."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        if default is not ...:
            return default
        raise self.unknown(name)

    def unknown(self, name: object, *, extra: str = "") -> ConfigError:
        """The error for an unknown ``name`` (for callers that accept names beyond the
        registry, e.g. every timm model, and raise only after checking those)."""
        what = f"{self.config_key}={name!r}" if self.config_key else repr(name)
        article = "an" if self.kind[:1].lower() in "aeiou" else "a"
        return ConfigError(f"{what} is not {article} {self.kind}{closest_hint(name, self._entries)}; "
                           f"available: {', '.join(self.available())}{extra}")


#: Models defined in sigvision, name -> builder ``fn(num_classes, **kw) -> nn.Module`` (every
#: timm model name is accepted besides these; :func:`sigvision.models.factory.build_model`). Held here,
#: not in :mod:`sigvision.models`, so that the modules defining models register into it
#: without importing the module that builds them.
MODELS: Registry = Registry("sigvision model", "model.name")
