"""Running scripts as replayed processes: one forked child per process, on one shared runtime.

Each process of a replay runs in a child forked from the caller, so that nothing the script does
to its process (see :mod:`ncplace.dryrun.sandbox`) reaches the caller, ``os._exit`` and crashes
included. The child starts from the runtime the earlier processes left, runs the script, and
sends back over a pipe the runtime at its end and the runtime's state right after its last
load; the next process starts from there. A child that does not end within ``timeout`` seconds
is killed and the replay fails.

Two states are reported: ``fullest``, right after the last load of the whole replay (all
earlier processes still running), and ``at_exit``, when the last script ended with every
process still running (models the scripts dropped are gone). ``fullest`` is the serving state a
script builds before it unloads anything, and what the score uses.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.abc
import importlib.machinery
import inspect
import json
import linecache
import os
import pickle
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import errors
from ..envvars import PLACEMENT_VARIABLES
from ..errors import Error, one_line
from ..hardware import FRAMEWORKS
from ..layout import Layout, Placement, ProcessSpan
from ..mix import Mix
from ..runtime import Runtime
from .inert import Inert, InertModule
from .neuron import FRAMEWORK_OF, STAND_IN_MODULES, Session

THREAD_WAIT_S = 2.0
"""How long, in all, a replay waits for threads a script leaves running."""

_Snapshot = tuple[
    tuple[tuple[tuple[int, ...], tuple[tuple[int, ...], ...], dict[str, str]], ...],
    tuple[tuple[str, tuple[tuple[int, ...], ...], int], ...],
]


def snapshot(runtime: Runtime | None) -> _Snapshot:
    """The runtime's processes and loads as plain (picklable) tuples."""
    if runtime is None:
        return (), ()
    spans = tuple((p.cores, p.groups, dict(p.env)) for p in runtime.processes)
    loads = tuple(
        (m.name, m.replicas, i) for i, p in enumerate(runtime.processes) for m in p.loaded
    )
    return spans, loads


def to_layout(mix: Mix, state: _Snapshot) -> Layout:
    spans, loads = state
    return Layout(
        mix.instance,
        tuple(ProcessSpan(c, g, e) for c, g, e in spans),
        tuple(Placement(n, r, i) for n, r, i in loads),
    )


@dataclass(frozen=True)
class Script:
    """One process to replay: its code, the name errors give it, its environment, and, for a
    server's class, the entry ``(class, method)`` and which of ``copies`` workers it is."""

    code: str
    filename: str
    env: Mapping[str, str] = field(default_factory=dict)
    entry: tuple[str, str] | None = None
    index: int = 0
    copies: int = 1


class State:
    """What the processes of one replay share: the runtime, its fullest point, notes."""

    def __init__(self, mix: Mix, framework: str | None, stubs: Sequence[str]) -> None:
        if framework is not None and framework not in FRAMEWORKS:
            raise errors.ConfigError(
                f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}"
            )
        self.mix = mix
        self.framework = framework
        self.stubs = tuple(stubs)
        self._runtime: Runtime | None = None
        self.fullest: _Snapshot | None = None
        self.notes: list[str] = []
        self.stood_in: list[str] = []

    def runtime(self, imported: set[str]) -> Runtime:
        """The runtime, created at the first process start with the framework in use: an
        explicit ``framework``, else the one the framework modules the script imported mean
        when they agree, else the mix's."""
        if self._runtime is None:
            framework = self.framework
            if framework is None:
                used = {FRAMEWORK_OF[m] for m in imported if m in FRAMEWORK_OF}
                framework = used.pop() if len(used) == 1 else self.mix.framework
            self._runtime = Runtime(self.mix.instance, framework)
        return self._runtime

    def after_load(self) -> None:
        self.fullest = snapshot(self._runtime)


@dataclass(frozen=True)
class _Outcome:
    runtime: Runtime | None
    fullest: _Snapshot | None
    notes: tuple[str, ...]
    stood_in: tuple[str, ...]
    error: tuple[str, str] | None


def run(state: State, script: Script, timeout: float) -> None:
    """Replay ``script`` as the next process of ``state`` (in a child process)."""
    from . import sandbox  # noqa: F401  (imported here, once, so that children inherit it)

    try:
        code = compile(script.code, script.filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise Error(f"{script.filename}, line {exc.lineno}: invalid Python: {exc.msg}") from None
    except ValueError as exc:
        raise Error(f"{script.filename}: cannot compile: {exc}") from None
    folder = tempfile.mkdtemp(prefix="ncplace-replay-")
    try:
        outcome = _in_child(lambda: _child(state, script, code, folder), script.filename, timeout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    state._runtime = outcome.runtime
    if outcome.fullest is not None:
        state.fullest = outcome.fullest
    state.notes += [f"{script.filename}: {n}" for n in outcome.notes]
    state.stood_in += [m for m in outcome.stood_in if m not in state.stood_in]
    if outcome.error is not None:
        kind, message = outcome.error
        cls = getattr(errors, kind, Error)
        raise cls(message)


def _in_child(work: Any, filename: str, timeout: float) -> _Outcome:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child; coverage cannot follow it)
        os.close(read)
        exit_now = os._exit
        try:
            data = pickle.dumps(("ok", work()))
        except BaseException as exc:
            data = pickle.dumps(("failed", f"{type(exc).__name__}: {one_line(exc)}"))
        view = memoryview(data)
        while view:
            view = view[os.write(write, view) :]
        exit_now(0)
    os.close(write)
    data = _read_all(read, pid, filename, timeout)
    _, status = os.waitpid(pid, 0)
    if not data:
        raise Error(
            f"{filename}: the script's process ended before the replay could read its layout "
            f"({_status_text(status)})"
        )
    kind, value = pickle.loads(data)
    if kind != "ok":
        raise Error(f"{filename}: the replay failed in the script's process: {value}")
    return value


def _read_all(fd: int, pid: int, filename: str, timeout: float) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise Error(
                    f"{filename}: the script did not end within {timeout:g} s (a serving "
                    "loop?); a replay runs each script to its end"
                )
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"os._exit({os.waitstatus_to_exitcode(status)}) or a crash"


# --- inside the child ---------------------------------------------------------------------------


def _child(state: State, script: Script, code: types.CodeType, folder: str) -> _Outcome:
    from . import sandbox

    notes = sandbox.Notes()
    sandbox.quiet_output()
    for key in PLACEMENT_VARIABLES:
        os.environ.pop(key, None)
    os.environ.update(script.env)
    sys.argv = [script.filename]
    here = os.path.dirname(os.path.abspath(script.filename))
    if os.path.isfile(script.filename):
        sys.path.insert(0, here)
    session = Session(state, state.mix)
    stood_in: list[str] = []
    sys.meta_path.insert(0, _Served(session, state.stubs, stood_in))
    folder_of_script = here if os.path.isfile(script.filename) else None
    sys.meta_path.append(_Missing(session, folder_of_script, script.filename, stood_in))
    lines = script.code.splitlines(keepends=True)
    linecache.cache[script.filename] = (len(script.code), None, lines, script.filename)
    sandbox.install(folder, notes)
    if not hasattr(builtins, "get_ipython"):  # a notebook exported as a script
        builtins.get_ipython = lambda: Inert("get_ipython()")  # type: ignore[attr-defined]
    error = _execute(session, script, code)
    _join_threads(notes)
    fullest = state.fullest
    runtime = state._runtime
    notes.items += [f"{notes.dropped} more note(s) left out"] if notes.dropped else []
    return _Outcome(runtime, fullest, tuple(notes.items), tuple(stood_in), error)


def _execute(session: Session, script: Script, code: types.CodeType) -> tuple[str, str] | None:
    """Run the script (and its entry); the error it ends with, as (class name, message)."""
    from .sandbox import ScriptExit

    name = "__main__" if script.entry is None else Path(script.filename).stem
    namespace: dict[str, Any] = {"__name__": name, "__file__": script.filename}
    module = types.ModuleType(name)
    module.__dict__.update(namespace)
    sys.modules[name] = module
    where = script.filename
    try:
        exec(code, module.__dict__)
        if script.entry is not None:  # the server holds its handler until it stops
            module.__dict__["__ncplace_handler__"] = _call_entry(
                module.__dict__, script, session.mix
            )
    except (SystemExit, ScriptExit) as exc:
        status = exc.code
        if status not in (None, 0):
            return "Error", f"{where}: the script exited with status {status!r}"
    except Error as exc:
        return type(exc).__name__, f"{_where(exc, where)}: {one_line(exc)}"
    except BaseException as exc:
        detail = one_line(exc)
        return "Error", (
            f"{_where(exc, where)}: the script raised {type(exc).__name__}"
            + (f": {detail}" if detail else "")
        )
    return None


def _call_entry(namespace: dict[str, Any], script: Script, mix: Mix) -> object:
    """``Class().method(context)`` (or ``method()`` when it takes no argument); the instance."""
    assert script.entry is not None
    cls_name, method_name = script.entry
    cls = namespace.get(cls_name)
    if not isinstance(cls, type):
        raise Error(f"--entry {cls_name}.{method_name}: the script defines no class {cls_name!r}")
    instance = cls()
    method = getattr(instance, method_name, None)
    if not callable(method):
        raise Error(f"--entry {cls_name}.{method_name}: class {cls_name} has no such method")
    try:
        takes = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        takes = []
    if takes:
        method(server_context(script, mix))
    else:
        method()
    return instance


class ServerContext(dict[str, str]):
    """What a model server passes to its handler's ``initialize``, for both servers at once.

    As a mapping it is Triton's python-backend ``args``: ``model_name``, ``model_version``
    (``"1"``), ``model_repository``, ``model_instance_kind`` (``"KIND_MODEL"``),
    ``model_instance_name`` (``<model>_0_<k>``, k the worker), ``model_instance_device_id``
    (``"0"``) and ``model_config`` (JSON of ``name``, ``instance_group`` ``[{"count": N, "kind":
    "KIND_MODEL"}]``, ``max_batch_size`` 0, empty ``input``/``output``/``parameters``). As an
    object it is TorchServe's ``Context``: ``model_name``, ``system_properties`` (``model_dir``,
    ``gpu_id`` = k, ``batch_size`` 1, ``server_name`` ``"MMS"``), ``manifest`` (``model``:
    ``modelName``, ``serializedFile`` = the file of the mix's only model, else ``model.pt``,
    ``handler``), ``model_yaml_config`` (empty) and ``metrics`` (inert)."""

    def __init__(self, values: dict[str, str], **attributes: Any) -> None:
        super().__init__(values)
        self.__dict__.update(attributes)


def server_context(script: Script, mix: Mix) -> ServerContext:
    folder = Path(os.path.abspath(script.filename)).parent
    model_dir = folder
    if folder.name.isdigit():
        folder = folder.parent
    model = folder.name or "model"
    config = {
        "name": model,
        "instance_group": [{"count": script.copies, "kind": "KIND_MODEL"}],
        "max_batch_size": 0,
        "input": [],
        "output": [],
        "parameters": {},
    }
    values = {
        "model_name": model,
        "model_version": "1",
        "model_repository": str(folder),
        "model_instance_kind": "KIND_MODEL",
        "model_instance_name": f"{model}_0_{script.index}",
        "model_instance_device_id": "0",
        "model_config": json.dumps(config),
    }
    models = mix.models
    serialized = (
        os.path.basename(models[0].path) if len(models) == 1 and models[0].file else "model.pt"
    )
    return ServerContext(
        values,
        model_name=model,
        system_properties={
            "model_dir": str(model_dir),
            "gpu_id": script.index,
            "batch_size": 1,
            "server_name": "MMS",
        },
        manifest={
            "model": {
                "modelName": model,
                "serializedFile": serialized,
                "handler": os.path.basename(script.filename),
            }
        },
        model_yaml_config={},
        metrics=Inert("context.metrics"),
    )


def _where(exc: BaseException, filename: str) -> str:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return filename if line is None else f"{filename}, line {line}"


def _join_threads(notes: Any) -> None:
    deadline = time.monotonic() + THREAD_WAIT_S
    for thread in threading.enumerate():
        if thread is threading.main_thread():
            continue
        thread.join(max(deadline - time.monotonic(), 0))
        if thread.is_alive():
            notes.add(f"thread {thread.name!r} still running after {THREAD_WAIT_S:g} s: abandoned")


class _Served(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the stand-in frameworks and ``--stub`` modules, installed or not."""

    def __init__(self, session: Session, stubs: Sequence[str], stood_in: list[str]) -> None:
        self.session = session
        self.stubs = tuple(stubs)
        self.stood_in = stood_in

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        top = name.partition(".")[0]
        if top in STAND_IN_MODULES or top in self.stubs:
            if top in self.stubs and top not in self.stood_in:
                self.stood_in.append(top)
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        top = spec.name.partition(".")[0]
        if top in STAND_IN_MODULES:
            return self.session.module(spec.name)
        return InertModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


_IMPORT_MACHINERY = ("<frozen", __file__, os.path.dirname(importlib.abc.__file__) + os.sep)
"""Where the frames of the import system itself come from (skipped to find the importer)."""


class _Missing(_Served):
    """Stands in for modules the script (or a module beside it) imports and that are not
    installed, listing them; a missing import inside an installed library stays an error."""

    def __init__(
        self, session: Session, folder: str | None, filename: str, stood_in: list[str]
    ) -> None:
        super().__init__(session, (), stood_in)
        self.folder = None if folder is None else folder + os.sep
        self.filename = filename

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            frame = frame.f_back
        importer = "" if frame is None else frame.f_code.co_filename
        beside = self.folder is not None and importer.startswith(self.folder)
        if importer != self.filename and not beside:
            return None
        top = name.partition(".")[0]
        if top not in self.stood_in:
            self.stood_in.append(top)
        return importlib.machinery.ModuleSpec(name, self, is_package=True)
