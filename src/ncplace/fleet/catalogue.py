"""Fleet inputs: the catalogue of models to serve, and the price of each instance type.

A catalogue is a mix without an instance: the models (with their rates, throughputs, memory and
rules) that a whole fleet serves. A price list maps instance type names to US dollars per
instance-hour; the bundled one (``ncplace/data/prices.yaml``) holds AWS's published
reserved-instance-effective figures with their date and source. Prices change and differ by
region and purchase option: users pass their own file.

Prices are kept in whole micro-dollars per hour (:attr:`PriceList.micro`), so that every cost the
fleet planner adds up and compares is an exact integer.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, check_fields, file_path, key_text
from ..hardware import FRAMEWORKS, INSTANCES, Instance, instance
from ..inputs import read_data_file
from ..mix import Model, _model_from_dict, _validate_names

CATALOGUE_FIELDS = ("models", "framework")
PRICE_FIELDS = ("prices", "source", "date", "currency")
BUNDLED_PRICES = "prices.yaml"
MICRO = 1_000_000


@dataclass(frozen=True)
class Catalogue:
    """The models a fleet serves; ``framework`` (None: each instance type's own) is the one every
    instance's mix uses.

    A catalogue model's ``replicas`` is the fewest copies the fleet places (an integer), or
    ``"auto"``/a range, whose low end is that minimum; ``start`` is refused, as no core of a
    fleet is known in advance.
    """

    models: tuple[Model, ...]
    framework: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        for m in self.models:
            if not isinstance(m, Model):
                raise ConfigError(f"catalogue models: expected Model objects, got {m!r}")
            if m.start is not None:
                raise ConfigError(
                    f"catalogue model {key_text(m.name)}: start: a fleet catalogue pins no core "
                    f"(the instances are not chosen yet), got {m.start!r}"
                )
        if self.framework is not None and self.framework not in FRAMEWORKS:
            raise ConfigError(
                f"catalogue framework: {self.framework!r} is not one of {', '.join(FRAMEWORKS)}"
            )
        _validate_names(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @classmethod
    def from_file(cls, path: str | Path) -> Catalogue:
        """Read a YAML or JSON catalogue: ``models`` (as in a mix file) and optional
        ``framework``; a mix file's ``instance`` is refused (the fleet chooses instances)."""
        path = file_path(path, "catalogue file path")
        return cls.from_dict(read_data_file(path, "catalogue file"), str(path))

    @classmethod
    def from_dict(cls, data: object, label: str = "catalogue") -> Catalogue:
        """A catalogue from parsed YAML/JSON, with errors that point at the place."""
        if not isinstance(data, Mapping):
            got = "an empty file" if data is None else f"a {type(data).__name__}"
            raise ConfigError(f"{label}: expected a mapping with 'models', got {got}")
        if "instance" in data:
            raise ConfigError(
                f"{label}: instance: a fleet catalogue names no instance; candidate types are "
                "given with --types"
            )
        check_fields(data, CATALOGUE_FIELDS, label)
        raw = data.get("models")
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{label}: models: expected a non-empty list of models, got {raw!r}")
        models = tuple(
            _model_from_dict(item, f"{label}: models[{i}]") for i, item in enumerate(raw)
        )
        try:
            return cls(models, data.get("framework"))
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None


@dataclass(frozen=True)
class PriceList:
    """US dollars per instance-hour by type name, with where the figures come from."""

    prices: Mapping[str, float]
    source: str = "user"
    date: str = "unknown"
    currency: str = "USD"

    def __post_init__(self) -> None:
        for name, price in self.prices.items():
            ok = isinstance(price, (int, float)) and not isinstance(price, bool)
            if not ok or not math.isfinite(price) or price <= 0:
                raise ConfigError(
                    f"prices: {key_text(name)}: must be a number > 0 ($ per hour), got {price!r}"
                )
        object.__setattr__(self, "prices", dict(self.prices))

    def price(self, type_name: str) -> float:
        """$/h of ``type_name``, or ConfigError naming the types that have a price."""
        if type_name not in self.prices:
            known = ", ".join(self.prices) or "(none)"
            raise ConfigError(
                f"no price for instance type {type_name!r} in the price list ({self.source}); "
                f"priced types: {known}"
            )
        return float(self.prices[type_name])

    def micro(self, type_name: str) -> int:
        """The price of ``type_name`` in whole micro-dollars per hour (rounded)."""
        return round(self.price(type_name) * MICRO)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceList:
        """Read a YAML or JSON price file: ``prices`` (type -> $/h), ``source``, ``date``."""
        path = file_path(path, "price file path")
        return cls.from_dict(read_data_file(path, "price file"), str(path))

    @classmethod
    def from_dict(cls, data: object, label: str = "prices") -> PriceList:
        if not isinstance(data, Mapping) or not isinstance(data.get("prices"), Mapping):
            raise ConfigError(
                f"{label}: expected a mapping with 'prices' (instance type -> $ per hour)"
            )
        check_fields(data, PRICE_FIELDS, label)
        info: dict[str, Any] = {
            k: str(data[k]) for k in ("source", "date", "currency") if k in data
        }
        try:
            return cls({str(k): v for k, v in data["prices"].items()}, **info)
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None

    @classmethod
    def bundled(cls) -> PriceList:
        """The price list shipped with ncplace (see ``ncplace/data/prices.yaml``)."""
        with _bundled_prices() as path:
            return cls.from_file(path)


@contextlib.contextmanager
def _bundled_prices() -> Iterator[Path]:
    resource = importlib.resources.files("ncplace").joinpath("data").joinpath(BUNDLED_PRICES)
    with importlib.resources.as_file(resource) as path:
        yield path


def parse_types(
    types: str | list[str] | tuple[str, ...] | tuple[Instance, ...],
) -> tuple[Instance, ...]:
    """Candidate instance types from ``"inf2.xlarge,inf2.24xlarge"`` or a sequence of names or
    instances; each appears once, in the order given."""
    items: list[Any] = types.split(",") if isinstance(types, str) else list(types)
    out: dict[str, Instance] = {}
    for item in items:
        inst = item if isinstance(item, Instance) else instance(str(item).strip())
        out.setdefault(inst.name, inst)
    if not out:
        known = ", ".join(INSTANCES)
        raise ConfigError(f"types: give at least one instance type; known: {known}")
    return tuple(out.values())
