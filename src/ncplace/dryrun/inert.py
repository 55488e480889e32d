"""Inert stand-ins: values a script can use in every ordinary way without anything happening.

A replay runs deployment scripts as written, but only their placement calls matter. Everything
else a script touches (``torch.rand``, ``transformers.AutoModel.from_pretrained``, a
``DataLoader``, ``PIL.Image.open``) is an :class:`Inert`: it can be called, indexed, iterated,
compared, formatted, used as a context manager or a decorator, subclassed, and passed around.

- Attribute access and calls give inert values named after the expression that made them; an
  attribute is the same value each time it is read (``x.dtype == x.dtype``).
- Iteration yields :data:`ITERATIONS` values (a loop over a data loader runs a bounded number of
  times), except when a statement unpacks the value into ``n`` names, where it yields ``n``.
- As a number it is 1 (``int``, ``float``, ``index``, ``len`` is :data:`ITERATIONS`); it is
  true; it equals only itself; ``format`` applies a numeric format spec to 1.0.
- Called with one function or class and nothing else, it returns that argument, so that
  ``@torch.no_grad()`` and ``@torch.jit.script`` leave the decorated function as it is.
- As a base class (once however many stand-ins a class derives from; its metaclass derives
  from ``ABCMeta``, so ``ABC`` mixes in) it gives :class:`InertBase`, a real class whose
  instances answer every attribute they lack with an inert value, and whose ``eval``, ``to``,
  ``half``... return the instance, as ``torch.nn.Module``'s do.
"""

from __future__ import annotations

import dis
import sys
import types
from abc import ABCMeta
from collections.abc import Iterator
from typing import Any

ITERATIONS = 2
"""How many values iterating an inert value yields (outside unpacking)."""

VERSION = "0+ncplace.stand.in"
"""``__version__`` of every stand-in module (a valid PEP 440 version)."""

_UNPACK = dis.opmap["UNPACK_SEQUENCE"]
_SELF_RETURNING = (
    "eval",
    "train",
    "to",
    "half",
    "float",
    "double",
    "cpu",
    "cuda",
    "requires_grad_",
)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _unpack_count(depth: int) -> int | None:
    """``n`` when the caller ``depth`` frames up is unpacking into ``n`` names, else None."""
    frame = sys._getframe(depth + 1)
    code, at = frame.f_code.co_code, frame.f_lasti
    if 0 <= at < len(code) - 1 and code[at] == _UNPACK:
        return code[at + 1]
    return None


class Inert:
    """A value that does nothing, whatever a script does with it (see the module docstring)."""

    __slots__ = ("__dict__", "_ncplace_name")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_ncplace_name", name)

    def __getattr__(self, name: str) -> Any:
        if _is_dunder(name):
            raise AttributeError(name)
        value = Inert(f"{self._ncplace_name}.{name}")
        object.__setattr__(self, name, value)
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and isinstance(args[0], (types.FunctionType, type)):
            return args[0]
        return Inert(f"{self._ncplace_name}()")

    def __getitem__(self, key: Any) -> Inert:
        return Inert(f"{self._ncplace_name}[]")

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __delitem__(self, key: Any) -> None:
        pass

    def __iter__(self) -> Iterator[Inert]:
        count = _unpack_count(1)
        items = ITERATIONS if count is None else count
        return iter([Inert(f"{self._ncplace_name}[]") for _ in range(items)])

    def __len__(self) -> int:
        return ITERATIONS

    def __contains__(self, item: Any) -> bool:
        return False

    def __bool__(self) -> bool:
        return True

    def __int__(self) -> int:
        return 1

    def __index__(self) -> int:
        return 1

    def __float__(self) -> float:
        return 1.0

    def __complex__(self) -> complex:
        return 1 + 0j

    def __round__(self, digits: int | None = None) -> int:
        return 1

    __trunc__ = __floor__ = __ceil__ = __int__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return id(self)

    def __str__(self) -> str:
        return f"<stand-in {self._ncplace_name}>"

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        try:
            return format(1.0, spec)
        except ValueError:
            return format(str(self), spec)

    def __enter__(self) -> Inert:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        first = next(b for b in bases if isinstance(b, Inert))
        return (InertBase,) if first is self else ()

    def __instancecheck__(self, instance: object) -> bool:
        return False

    def __subclasscheck__(self, subclass: object) -> bool:
        return False

    def _operator(self, *other: Any) -> Inert:
        return Inert(f"({self._ncplace_name} op)")


for _name in [
    "add",
    "sub",
    "mul",
    "matmul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "lshift",
    "rshift",
    "and",
    "xor",
    "or",
    "divmod",
]:
    setattr(Inert, f"__{_name}__", Inert._operator)
    setattr(Inert, f"__r{_name}__", Inert._operator)
    setattr(Inert, f"__i{_name}__", Inert._operator)
for _name in ("neg", "pos", "abs", "invert"):
    setattr(Inert, f"__{_name}__", Inert._operator)


class _InertMeta(ABCMeta):
    """Class-level attributes a subclass of a stand-in lacks (``Model.from_pretrained``)."""

    def __getattr__(cls, name: str) -> Any:
        if _is_dunder(name):
            raise AttributeError(name)
        value = Inert(f"{cls.__name__}.{name}")
        setattr(cls, name, value)
        return value


class InertBase(metaclass=_InertMeta):
    """What a class deriving from a stand-in (``torch.nn.Module``, a handler base) derives from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if _is_dunder(name):
            raise AttributeError(name)
        if name in _SELF_RETURNING:
            return lambda *args, **kwargs: self
        return Inert(f"{type(self).__name__}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Inert:
        return Inert(f"{type(self).__name__}()")


class InertModule(types.ModuleType):
    """A stand-in module: every attribute it lacks is inert; every submodule is one too."""

    def __init__(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        super().__init__(name, f"ncplace replay stand-in for {name}")
        self.__path__: list[str] = []
        self.__version__ = VERSION
        self.__dict__.update(attributes or {})

    def __getattr__(self, name: str) -> Any:
        if _is_dunder(name):
            raise AttributeError(name)
        value = Inert(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value
