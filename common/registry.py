"""Plugin families (Frigate's detector plugins, generalised): rules, detectors and notifiers each keep one
`Registry`. A plugin registers once, its config class together with the class that does the work; the
family's config type, its error messages, its titles and whatever else is derived from the registry, so
adding a plugin is one decorator and forgetting nothing is possible.

The config type validates a mapping by the value of its key field (`type`, `kind`) with that plugin's config
class. Unlike a pydantic tagged union it is not frozen when the module loads, so a plugin registered later
(a test's, a site's own) is accepted at once, and the key does not appear in error locations:
`cameras[0].rules[1].seconds`, not `cameras[0].rules[1].inspector_absent.seconds`.

>>> from pydantic import TypeAdapter
>>> from common.model import Strict
>>> class Ding(Strict):
...     type: typing.Literal["ding"]
...     loud: bool = False
>>> bells = Registry("type")
>>> @bells.register(Ding)
... class DingBell:
...     def __init__(self, config: Ding) -> None:
...         self.loud = config.loud
>>> bells.build(TypeAdapter(bells.field(Strict)).validate_python({"type": "ding", "loud": True})).loud
True
>>> sorted(bells.entries())
['ding']
"""

from __future__ import annotations

import importlib
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, SerializeAsAny, ValidatorFunctionWrapHandler, WrapValidator

from i18n import N_, TranslatableError

ImplT = TypeVar("ImplT")


@dataclass(frozen=True)
class Entry:
    """One registered plugin: its key, its config class, the class that does the work, and any facts the
    family keeps about it (e.g. a detector's default weights)."""

    code: str
    config: type[BaseModel]
    impl: Any
    facts: Mapping[str, Any] = field(default_factory=dict)


def key_of(config: type[BaseModel], key: str) -> str:
    """The single literal value of a config class's key field (`type: Literal["webhook"]` -> "webhook")."""
    annotation = config.model_fields[key].annotation
    values = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{config.__name__}.{key} must be a Literal of one string, not {annotation!r}")
    return values[0]


class Registry(Generic[ImplT]):
    """The plugins of one family, by the value of their config's `key` field.

    `builtins` names the module whose import registers the built-in plugins; it is imported the first time
    the registry is read, so a config module can build its field type without importing the (heavier)
    implementations. `default` is the key assumed when a mapping omits it."""

    def __init__(self, key: str, *, builtins: str | None = None, default: str | None = None) -> None:
        self.key = key
        self.default = default
        self._builtins = builtins
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped by each registration: caches of derived facts key on it

    def register(self, config: type[BaseModel], **facts: Any) -> Callable[[ImplT], ImplT]:
        """Class decorator: `impl` does the work for configs of class `config`."""
        def deco(impl: ImplT) -> ImplT:
            self.add(config, impl, **facts)
            return impl
        return deco

    def add(self, config: type[BaseModel], impl: ImplT, **facts: Any) -> Entry:
        code = key_of(config, self.key)
        with self._lock:
            known = self._entries.get(code)
            if known is not None and (known.config.__qualname__, known.impl.__qualname__) != (
                    config.__qualname__, getattr(impl, "__qualname__", None)):
                raise ValueError(f"{self.key} {code!r} is registered twice: {known.impl!r} and {impl!r}")
            entry = Entry(code, config, impl, dict(facts))
            self._entries[code] = entry
            self.generation += 1
        return entry

    def remove(self, code: str) -> None:
        """Forget a plugin (a test's own, after the test)."""
        with self._lock:
            if self._entries.pop(code, None) is not None:
                self.generation += 1

    def entries(self) -> dict[str, Entry]:
        """Every registered plugin, the built-ins included, by key."""
        if self._builtins is not None:
            importlib.import_module(self._builtins)  # registers the built-ins (once; later a dict lookup)
        return dict(self._entries)

    def get(self, code: str) -> Entry:
        entry = self.entries().get(code)
        if entry is None:
            raise KeyError(f"no {self.key} {code!r}; known: {', '.join(sorted(self.entries()))}")
        return entry

    def of(self, config: BaseModel) -> Entry:
        """The entry of a validated config."""
        return self.get(getattr(config, self.key))

    def build(self, config: BaseModel, *args: Any, **kwargs: Any) -> Any:
        """The implementation for a validated config: `impl(config, *args, **kwargs)`."""
        return self.of(config).impl(config, *args, **kwargs)

    def field(self, base: type[BaseModel]) -> Any:
        """The type of a config field holding one plugin's config (a subclass of `base`): validated by its
        key, serialised with every field of the plugin's own class."""
        return Annotated[SerializeAsAny[base], WrapValidator(self._validate)]  # type: ignore[valid-type]

    def _validate(self, value: Any, handler: ValidatorFunctionWrapHandler) -> BaseModel:
        entries = self.entries()
        if isinstance(value, BaseModel) and any(type(value) is e.config for e in entries.values()):
            return value
        if not isinstance(value, Mapping):
            raise TranslatableError(N_("must be a mapping with `{key}` (one of {known})"), key=self.key,
                                    known=", ".join(sorted(entries)))
        code = value.get(self.key, self.default)
        if code is None:
            raise TranslatableError(N_("needs `{key}` to say which kind: one of {known}"), key=self.key,
                                    known=", ".join(sorted(entries)))
        entry = entries.get(code) if isinstance(code, str) else None
        if entry is None:
            raise TranslatableError(N_("unknown {key} {value!r}; known: {known}"), key=self.key, value=code,
                                    known=", ".join(sorted(entries)))
        return entry.config.model_validate(value)
