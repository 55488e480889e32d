"""The stand-in Neuron frameworks: the calls that place models, routed into the runtime emulator.

One :class:`Session` is one replayed process. It serves ``torch``, ``torch_neuron`` (also as
``torch.neuron``), ``torch_neuronx``, ``neuronx_distributed`` and ``transformers_neuronx``;
everything of theirs that does not place a model is inert (:mod:`ncplace.dryrun.inert`).

What is interpreted, and when the runtime sees a load:

- ``torch.jit.load(path)`` loads at once (the guide's rule), naming its model by its path
  (:func:`match_model`).
- ``torch_neuronx.trace(model, example)`` loads at once (torch-neuronx loads a traced model when
  tracing ends); ``torch.neuron.trace`` / ``torch_neuron.trace`` load at the model's first call,
  or when ``DataParallel``, ``set_neuron_cores`` or ``set_multicore`` needs it.
- A traced model is named, in order, by the path ``torch.jit.save`` wrote it to (before its
  load), by the variable or attribute its ``trace(...)`` is assigned to (``bert = trace(...)``,
  ``self.bert = ...``: a model's name, or its file without the suffix), and, when the mix has
  only one model of its kind (tensor-parallel or not), by that model. Anything else is an error
  asking for one of these.
- ``DataParallel(model, device_ids=None, dim=0)`` (both frameworks; torch-neuronx's also takes
  ``set_dynamic_batching``) replaces the model's own load with one copy on every core of the
  process (``multicore_context``), or one copy at each of ``device_ids`` (ints or ``'nc:#'``,
  relative to the process's cores). ``disable_dynamic_batching()`` is accepted.
- ``set_neuron_cores(model, start_nc, nc_count)`` and ``set_multicore(model)`` unload and reload
  inside the matching context, on both frameworks (``torch_neuron.experimental`` and
  ``torch_neuronx``'s top level and ``experimental``).
- Tensor parallelism: ``neuronx_distributed.trace.parallel_model_trace(fn, inputs,
  tp_degree=k)`` and ``parallel_model_load(path)``, and transformers-neuronx's
  ``XForSampling.from_pretrained(path, tp_degree=k).to_neuron()``, put ``k`` ranks on the
  process's first ``k`` cores, one rank per core, as one copy of a ``parallel: tensor`` model of
  ``cores: k``.
- A model handle unloads when it is garbage-collected (reassignment, ``del``, the end of the
  function holding it), as the runtime frees a model then. Calling a model returns an inert
  tensor; ``eval``, ``to``, ``half`` and the like return the model.
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any

from ..envvars import PLACEMENT_VARIABLES
from ..errors import Error, PlacementError
from ..mix import Mix, Model
from ..runtime import Loaded, Process, Runtime
from .inert import _SELF_RETURNING, Inert, InertModule

FRAMEWORK_OF = {
    "torch_neuron": "torch-neuron",
    "torch_neuronx": "torch-neuronx",
    "neuronx_distributed": "torch-neuronx",
    "transformers_neuronx": "torch-neuronx",
}
"""Which runtime framework importing each stand-in module means."""

STAND_IN_MODULES = ("torch", *FRAMEWORK_OF)
"""Top-level modules the replay always serves itself, installed or not."""

_MAX_LISTED = 8


def _path_levels(path: str) -> list[Callable[[Model], bool]]:
    norm = os.path.normpath(path)
    base = os.path.basename(norm)
    return [
        lambda m: m.file == path,
        lambda m: m.file is not None and os.path.normpath(m.file) == norm,
        lambda m: m.name == path,
        lambda m: path == f"{m.name}.pt" or base == f"{m.name}.pt",
        lambda m: m.file is not None and os.path.basename(os.path.normpath(m.file)) == base,
    ]


def _fewest(found: list[Model], loads: Mapping[str, int] | None) -> Model:
    counts = loads or {}
    return min(found, key=lambda m: counts.get(m.name, 0))


def match_model(path: str, mix: Mix, loads: Mapping[str, int] | None = None) -> Model:
    """The model of ``mix`` that ``torch.jit.load(path)`` loads, by, in order: ``file`` equal
    to the path, ``file`` equal after normalisation (``./a/../b.pt``), the model's name,
    ``<name>.pt`` as the path or its last component, and ``file``'s last component. Models
    matching at the first level that matches share the loads: the one with the fewest
    ``loads`` so far, ties in mix order."""
    for matches in _path_levels(path):
        found = [m for m in mix.models if matches(m)]
        if found:
            return _fewest(found, loads)
    known = [repr(m.path) for m in mix.models[:_MAX_LISTED]]
    more = ", ..." if len(mix.models) > _MAX_LISTED else ""
    raise Error(
        f"torch.jit.load({path!r}): no model of the mix has this file, name or '<name>.pt'; "
        f"the mix loads {', '.join(known)}{more}"
    )


def _assigned_names(filename: str) -> dict[int, str]:
    """Line -> the name a statement assigns a call's result to (``x = f()``, ``self.x = f()``)."""
    try:
        tree = ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return {}
    names: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = targets[-1]
            name = (
                target.id
                if isinstance(target, ast.Name)
                else target.attr
                if isinstance(target, ast.Attribute)
                else None
            )
            if name is not None:
                for line in range(node.value.lineno, (node.value.end_lineno or 0) + 1):
                    names.setdefault(line, name)
    return names


class ModelHandle:
    """A model the script holds: loaded (``_loads``) or not yet (a torch-neuron trace)."""

    def __init__(self, session: Session, keys: Sequence[str], tensor: int | None = None) -> None:
        self._session = session
        self._loads: list[Loaded] = []
        self._keys = [k for k in keys if k]
        self._tensor = tensor
        self._model: Model | None = None

    @property
    def model(self) -> str:
        return self._session.resolve(self).name

    @property
    def replicas(self) -> tuple[tuple[int, ...], ...]:
        return tuple(r for loaded in self._loads for r in loaded.replicas)

    def __call__(self, *args: Any, **kwargs: Any) -> Inert:
        """Inference is not emulated; the first call loads a torch-neuron trace."""
        self._session.first_call(self)
        return Inert(f"{self.model}()")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in _SELF_RETURNING:
            return lambda *args, **kwargs: self
        return Inert(f"model.{name}")

    def save(self, path: Any, *args: Any, **kwargs: Any) -> None:
        """``traced.save(path)``, as ``torch.jit.save(traced, path)``."""
        self._session.jit_save(self, path)

    def __del__(self) -> None:
        self._session.release(self)

    def __repr__(self) -> str:
        name = None if self._model is None else self._model.name
        return f"{type(self).__name__}(model={name!r}, replicas={self.replicas})"


class ReplayedModel(ModelHandle):
    """What ``torch.jit.load`` returns in a replay: a handle naming its model and cores."""

    def __init__(self, session: Session, path: str) -> None:
        super().__init__(session, [path])
        self.path = path


class DataParallelModel(ModelHandle):
    """``DataParallel(model, ...)``: its copies, each a load of the wrapped model."""

    def disable_dynamic_batching(self) -> None:
        """Accepted; batching does not change placement."""


class _TnxFactory(Inert):
    """A transformers-neuronx model class: ``from_pretrained(path, tp_degree=k)``."""

    def __init__(self, name: str, session: Session) -> None:
        super().__init__(name)
        object.__setattr__(self, "_session", session)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.tnx_model(args, kwargs)

    def from_pretrained(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.tnx_model(args, kwargs)


class _TnxModel(Inert):
    """A transformers-neuronx model before ``to_neuron()``."""

    def to_neuron(self) -> ModelHandle:
        handle: ModelHandle = self.__dict__["handle"]
        handle._session.load_tensor(handle)
        return handle


class Session:
    """One replayed process: stand-in modules, its lazily started process and its handles."""

    def __init__(self, owner: Any, mix: Mix) -> None:
        self.owner = owner
        self.mix = mix
        self.process: Process | None = None
        self.imported: set[str] = set()
        self.loads: dict[str, int] = {}
        self._names: dict[str, dict[int, str]] = {}
        self.modules = self._stand_ins()

    # --- the process --------------------------------------------------------------------------

    def started(self) -> Process:
        if self.process is None:
            env = {k: os.environ[k] for k in PLACEMENT_VARIABLES if k in os.environ}
            runtime: Runtime = self.owner.runtime(self.imported)
            self.process = runtime.start_process(env)
        return self.process

    def _loaded(self, handle: ModelHandle, loaded: Loaded) -> None:
        handle._loads.append(loaded)
        self.loads[loaded.name] = self.loads.get(loaded.name, 0) + 1
        self.owner.after_load()

    def release(self, handle: ModelHandle) -> None:
        process = self.process
        loads, handle._loads = handle._loads, []
        if process is None or process._stopped:
            return
        for loaded in loads:
            if loaded in process.loaded:
                process.unload(loaded)

    # --- naming models ------------------------------------------------------------------------

    def assigned_name(self, frames: int = 2) -> str | None:
        """The name the statement ``frames`` frames up the stack assigns its call's result to
        (2: the caller of the function that asks)."""
        frame = sys._getframe(frames)
        filename = frame.f_code.co_filename
        if filename not in self._names:
            self._names[filename] = _assigned_names(filename)
        return self._names[filename].get(frame.f_lineno)

    def resolve(self, handle: ModelHandle) -> Model:
        if handle._model is None:
            handle._model = self._resolve(handle._keys, handle._tensor)
        return handle._model

    def _resolve(self, keys: Sequence[str], tensor: int | None) -> Model:
        kind = [m for m in self.mix.models if (m.parallel == "tensor") == (tensor is not None)]
        for key in keys:
            levels = [*_path_levels(key), _stem_is(key)]
            for matches in levels:
                found = [m for m in kind if matches(m)]
                if found:
                    return _fewest(found, self.loads)
        if len(kind) == 1:
            return kind[0]
        what = "tensor-parallel model" if tensor is not None else "traced model"
        tried = ", ".join(repr(k) for k in keys) or "no path or variable name"
        raise Error(
            f"cannot tell which model of the mix this {what} is ({tried}); assign it to a "
            "variable named as the model, save it with torch.jit.save to the model's file, "
            "or load it with torch.jit.load"
        )

    # --- loads --------------------------------------------------------------------------------

    def jit_load(self, path: Any, *args: Any, **kwargs: Any) -> ReplayedModel:
        text = _path_text(path, "torch.jit.load")
        model = match_model(text, self.mix, self.loads)
        handle = ReplayedModel(self, text)
        handle._model = model
        self._load(handle)
        return handle

    def _load(self, handle: ModelHandle) -> None:
        model = self.resolve(handle)
        self._loaded(handle, self.started().load(model.name, cores=model.cores))

    def jit_save(self, module: object, path: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(module, ModelHandle) and not module._loads and module._model is None:
            module._keys.insert(0, _path_text(path, "torch.jit.save"))

    def trace(self, framework: str) -> Callable[..., ModelHandle]:
        def trace(*args: Any, **kwargs: Any) -> ModelHandle:
            handle = ModelHandle(self, [self.assigned_name() or ""])
            if framework == "torch-neuronx":
                self._load(handle)
            return handle

        return trace

    def first_call(self, handle: ModelHandle) -> None:
        if not handle._loads and handle._model is None:
            self._load(handle)

    def data_parallel(
        self, module: object, device_ids: Sequence[Any] | None = None, dim: int = 0, **_: Any
    ) -> DataParallelModel:
        handle = self._handle(module, "DataParallel")
        model = self.resolve(handle)
        process = self.started()
        self.release(handle)
        wrapper = DataParallelModel(self, [])
        wrapper._model = model
        if device_ids is None:
            with process.multicore_context():
                self._loaded(wrapper, process.load(model.name, cores=model.cores))
            return wrapper
        for device in device_ids:
            start = _device_index(device)
            with process.neuron_cores_context(start, model.cores):
                self._loaded(wrapper, process.load(model.name, cores=model.cores))
        return wrapper

    def _handle(self, module: object, call: str) -> ModelHandle:
        if not isinstance(module, ModelHandle):
            raise Error(
                f"{call}: expected a model returned by torch.jit.load or trace, got {module!r}"
            )
        process = self.started()
        if any(loaded.process is not process for loaded in module._loads):
            raise Error(f"{call}: model {module.model!r} was loaded by another process")
        return module

    def _move(self, module: object, call: str, context: Any) -> None:
        handle = self._handle(module, call)
        model = self.resolve(handle)
        self.release(handle)
        with context:
            self._loaded(handle, self.started().load(model.name, cores=model.cores))

    def set_neuron_cores(self, module: object, start_nc: int = -1, nc_count: int = -1) -> None:
        self._move(
            module, "set_neuron_cores", self.started().neuron_cores_context(start_nc, nc_count)
        )

    def set_multicore(self, module: object) -> None:
        self._move(module, "set_multicore", self.started().multicore_context())

    @contextmanager
    def neuron_cores_context(self, start_nc: int = -1, nc_count: int = -1) -> Iterator[None]:
        with self.started().neuron_cores_context(start_nc, nc_count):
            yield

    @contextmanager
    def multicore_context(self) -> Iterator[None]:
        with self.started().multicore_context():
            yield

    # --- tensor parallelism ---------------------------------------------------------------------

    def load_tensor(self, handle: ModelHandle) -> None:
        model = self.resolve(handle)
        ranks = handle._tensor or model.cores
        if ranks != model.cores:
            raise PlacementError(
                f"model {model.name!r} has cores: {model.cores} in the mix, but the script "
                f"loads it with tp_degree={ranks}"
            )
        process = self.started()
        if process.framework != "torch-neuronx":
            raise PlacementError(
                f"tensor-parallel model {model.name!r} needs torch-neuronx; the replay runs "
                f"{process.framework}"
            )
        self._loaded(handle, process.load_ranks(model.name, ranks))

    def parallel_model_trace(self, *args: Any, tp_degree: int = 1, **kwargs: Any) -> ModelHandle:
        handle = ModelHandle(self, [self.assigned_name() or ""], tensor=_degree(tp_degree))
        self.load_tensor(handle)
        return handle

    def parallel_model_load(self, path: Any, *args: Any, **kwargs: Any) -> ModelHandle:
        handle = ModelHandle(self, [_path_text(path, "parallel_model_load")], tensor=0)
        handle._tensor = self.resolve(handle).cores
        self.load_tensor(handle)
        return handle

    def tnx_model(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _TnxModel:
        path = args[0] if args and isinstance(args[0], (str, os.PathLike)) else None
        keys = [os.fspath(path) if path is not None else "", self.assigned_name(3) or ""]
        handle = ModelHandle(self, [str(k) for k in keys], _degree(kwargs.get("tp_degree", 1)))
        model = _TnxModel("transformers_neuronx model")
        model.__dict__["handle"] = handle
        return model

    # --- modules ------------------------------------------------------------------------------

    def _placement_api(self) -> dict[str, Any]:
        return {
            "neuron_cores_context": self.neuron_cores_context,
            "multicore_context": self.multicore_context,
            "set_neuron_cores": self.set_neuron_cores,
            "set_multicore": self.set_multicore,
        }

    def _stand_ins(self) -> dict[str, InertModule]:
        api = self._placement_api()
        jit = InertModule("torch.jit", {"load": self.jit_load, "save": self.jit_save})
        experimental = InertModule("torch_neuron.experimental", api)
        torch_neuron = InertModule(
            "torch_neuron",
            {
                "experimental": experimental,
                "trace": self.trace("torch-neuron"),
                "DataParallel": self.data_parallel,
            },
        )
        torch = InertModule("torch", {"jit": jit, "neuron": torch_neuron})
        x_experimental = InertModule("torch_neuronx.experimental", api)
        torch_neuronx = InertModule(
            "torch_neuronx",
            {
                **api,
                "experimental": x_experimental,
                "trace": self.trace("torch-neuronx"),
                "DataParallel": self.data_parallel,
            },
        )
        tp = {
            "parallel_model_trace": self.parallel_model_trace,
            "parallel_model_load": self.parallel_model_load,
        }
        nxd_trace = InertModule("neuronx_distributed.trace", tp)
        nxd = InertModule("neuronx_distributed", {"trace": nxd_trace, **tp})
        return {
            "torch": torch,
            "torch.jit": jit,
            "torch.neuron": torch_neuron,
            "torch.neuron.experimental": experimental,
            "torch_neuron": torch_neuron,
            "torch_neuron.experimental": experimental,
            "torch_neuronx": torch_neuronx,
            "torch_neuronx.experimental": x_experimental,
            "neuronx_distributed": nxd,
            "neuronx_distributed.trace": nxd_trace,
        }

    def module(self, name: str) -> InertModule:
        """The stand-in module ``name`` (one of :data:`STAND_IN_MODULES` or below)."""
        top = name.partition(".")[0]
        if top in FRAMEWORK_OF or name.startswith("torch.neuron"):
            self.imported.add("torch_neuron" if top == "torch" else top)
        if name not in self.modules:
            if top == "transformers_neuronx":
                self.modules[name] = _TnxModule(name, self)
            else:
                self.modules[name] = InertModule(name)
        return self.modules[name]


class _TnxModule(InertModule):
    """A transformers-neuronx module: every class it names is a model class."""

    def __init__(self, name: str, session: Session) -> None:
        super().__init__(name)
        self._session = session

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _TnxFactory(f"{self.__name__}.{name}", self._session)


def _stem_is(key: str) -> Callable[[Model], bool]:
    """Whether a model's file, without its suffix, is ``key`` (a variable named after it)."""
    return lambda m: m.file is not None and PurePath(m.file).stem == key


def _path_text(path: Any, call: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise Error(
            f"{call}: replay needs a file path to know the model, got {type(path).__name__}"
        )
    text = os.fspath(path)
    return text if isinstance(text, str) else os.fsdecode(text)


def _device_index(device: Any) -> int:
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    if isinstance(device, str) and device.startswith("nc:") and device[3:].isdigit():
        return int(device[3:])
    raise PlacementError(
        f"DataParallel device_ids: {device!r} is not a core; expected an integer or 'nc:#'"
    )


def _degree(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlacementError(f"tp_degree={value!r}: expected an integer >= 1")
    return value
