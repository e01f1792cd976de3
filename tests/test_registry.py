"""One Registry type for renderers, models, optimisers, blenders, post-processors and tasks:
the same lookup, the same error type and message shape, the same refusal of a taken name."""
from __future__ import annotations

import pytest

from sigvision.blend import BLENDERS
from sigvision.errors import ConfigError
from sigvision.train.optim import OPTIMIZERS
from sigvision.postprocess import POSTPROCESSORS
import sigvision.models.factory  # noqa: F401  (registers the models into MODELS, as any run does)
from sigvision.registry import MODELS, Registry
from sigvision.render import RENDERERS
from sigvision.tasks import TASKS

ALL = {"render.name": RENDERERS, "model.name": MODELS, "train.optimizer": OPTIMIZERS, "blend.method": BLENDERS,
       "postprocess.method": POSTPROCESSORS, "data.task": TASKS}


@pytest.mark.parametrize("key", list(ALL))
def test_every_registry_refuses_an_unknown_name_the_same_way(key):
    reg = ALL[key]
    assert isinstance(reg, Registry) and reg.config_key == key and len(reg) > 0
    first = reg.available()[0]
    with pytest.raises(ConfigError) as exc:
        reg.get(first + "x")
    msg = str(exc.value)
    assert msg.startswith(f"{key}={first + 'x'!r} is not a") and f"(did you mean {first!r}?)" in msg
    assert msg.endswith(", ".join(reg.available())) and "\n" not in msg


@pytest.mark.parametrize("key", list(ALL))
def test_every_registry_refuses_a_taken_name(key):
    reg = ALL[key]
    name = reg.available()[0]
    with pytest.raises(ConfigError, match="already registered; pass replace=True"):
        reg.register(name, reg[name])


def test_register_get_replace_and_unregister():
    reg = Registry("widget", "x.widget", on_register=lambda name, obj: (name, obj))

    @reg.register("a")
    def a():
        return 1

    assert reg.get("a") == ("a", a) and "a" in reg and reg.available() == ["a"]
    assert reg.get("b", None) is None  # Mapping.get semantics with a default
    with pytest.raises(ConfigError, match="non-empty string without spaces"):
        reg.register("has space", 1)
    reg.register("a", 2, replace=True)
    assert reg["a"] == ("a", 2)
    reg.unregister("a")
    assert len(reg) == 0
    with pytest.raises(ConfigError, match=r"x.widget='a' is not a widget; available: $"):
        reg.get("a")


def test_register_in_replaces_only_the_same_modules_entry():
    """A module registering its own builders again (a re-import) replaces them; a name taken
    by another module's builder is refused."""
    import sigvision.models.resnet1d as r1d
    import sigvision.models.sleep_features as sf

    reg = Registry("thing")

    def mine():
        pass

    mine.__module__ = "pkg.a"
    reg.register_in("pkg.a", "x", mine)

    def again():
        pass

    again.__module__ = "pkg.a"
    assert reg.register_in("pkg.a", "x", again) is again and reg["x"] is again
    with pytest.raises(ConfigError, match="already registered"):
        reg.register_in("pkg.b", "x", lambda: None)
    assert reg["x"] is again
    # the models register themselves this way
    assert MODELS["sleep_features"].__module__ == sf.__name__
    assert MODELS["resnet1d18"].__module__ == r1d.__name__
