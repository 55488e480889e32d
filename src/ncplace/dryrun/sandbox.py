"""The guards a replayed script runs under, inside its own child process.

A replay runs each script in a forked child of the caller (see :mod:`ncplace.dryrun.driver`), so
whatever the script does to its process (``os.chdir``, ``os.environ`` and the C environment,
``sys.path``, ``sys.modules``, builtins, signal handlers, the recursion limit, ``atexit``,
``logging``, ``warnings``, threads it leaves running) ends with the child. Inside the child,
:func:`install` also keeps the script from acting on the world, each refusal noted once:

- *Output.* The script's stdout and stderr (the file descriptors too) go to ``/dev/null``.
- *Files.* Through Python's ``open`` (and so ``pathlib``, ``shutil``, ``json.dump``...), a file
  opened for writing is a copy in the replay's temporary folder, which later reads of that path
  see; a file that does not exist reads as empty. ``os.open`` with a writing flag goes to the same
  copy; ``os.mkdir``/``makedirs`` make the copy's folder; ``os.remove``, ``unlink``, ``rmdir``,
  ``rename``, ``replace``, ``symlink``, ``link``, ``truncate``, ``chmod`` and ``utime`` outside
  that folder are refused and do nothing. Writes made by C extensions behind Python's back are
  not caught.
- *Network.* ``socket`` connections and name look-ups raise ``OSError`` (refused, never
  attempted); ``urllib.request.urlopen`` reads an empty body and ``urlretrieve`` fetches
  nothing.
- *Processes.* ``subprocess`` commands and ``os.system`` / ``os.popen`` do not run: they
  succeed with empty output. ``os.fork``, ``exec*``, ``spawn*`` and ``posix_spawn`` (so
  ``multiprocessing``) raise ``PermissionError``: run a script as several processes with
  ``A.py:N`` instead. ``os.kill`` of another process is refused.
- *Exits.* ``os._exit(n)`` ends the script as ``sys.exit(n)`` does.
- *Time.* ``time.sleep`` sleeps at most :data:`MAX_SLEEP_S`.
- *Environment.* ``os.putenv`` and ``os.unsetenv`` change ``os.environ``, which the process
  reads for its placement variables when it starts.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

MAX_SLEEP_S = 0.01
"""The longest a script's ``time.sleep`` sleeps in a replay."""

_MAX_NOTES = 20


class ScriptExit(BaseException):
    """``os._exit(code)`` inside a script: ends it as ``sys.exit(code)`` would."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Notes:
    """One-line notes on what the replay did instead of the script's action, each once."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    def add(self, text: str) -> None:
        text = " ".join(text.split())
        if text in self.items:
            return
        if len(self.items) < _MAX_NOTES:
            self.items.append(text)
        else:
            self.dropped += 1


def quiet_output() -> None:
    """Send the process's stdout and stderr, descriptors included, to ``/dev/null``."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115


class _Files:
    """Python-level file access confined to ``folder`` (see the module docstring)."""

    def __init__(self, folder: str, notes: Notes) -> None:
        self.folder = os.path.realpath(folder)
        self.notes = notes
        self.real_open = builtins.open
        self.real_os_open = os.open
        self.real_makedirs = os.makedirs

    def inside(self, path: str) -> bool:
        return os.path.realpath(path).startswith(self.folder + os.sep)

    def copy_of(self, path: str) -> str:
        return os.path.join(self.folder, "files", os.path.abspath(path).lstrip(os.sep))

    def open(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, int) or not isinstance(file, (str, bytes, os.PathLike)):
            return self.real_open(file, mode, *args, **kwargs)
        path = os.fsdecode(os.fspath(file))
        if self.inside(path):
            return self.real_open(path, mode, *args, **kwargs)
        copy = self.copy_of(path)
        if any(flag in mode for flag in "wax+"):
            self.real_makedirs(os.path.dirname(copy), exist_ok=True)
            self.notes.add(f"{path}: written to the replay's temporary folder instead")
            return self.real_open(copy, mode, *args, **kwargs)
        if os.path.exists(copy):
            return self.real_open(copy, mode, *args, **kwargs)
        if os.path.exists(path):
            return self.real_open(path, mode, *args, **kwargs)
        self.notes.add(f"{path}: no such file, read as empty")
        return io.BytesIO(b"") if "b" in mode else io.StringIO("")

    def os_open(self, path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        text = os.fsdecode(os.fspath(path)) if not isinstance(path, int) else ""
        if writing and text and "dir_fd" not in kwargs and not self.inside(text):
            copy = self.copy_of(text)
            self.real_makedirs(os.path.dirname(copy), exist_ok=True)
            self.notes.add(f"{text}: written to the replay's temporary folder instead")
            return self.real_os_open(copy, flags, *args, **kwargs)
        return self.real_os_open(path, flags, *args, **kwargs)

    def make_dirs(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def make(path: Any, *args: Any, **kwargs: Any) -> None:
            text = os.fsdecode(os.fspath(path))
            if self.inside(text) or "dir_fd" in kwargs:
                return real(path, *args, **kwargs)
            self.real_makedirs(self.copy_of(text), exist_ok=True)
            return None

        return make

    def refuse(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def refused(path: Any = "", *args: Any, **kwargs: Any) -> None:
            text = (
                os.fsdecode(os.fspath(path)) if isinstance(path, (str, bytes, os.PathLike)) else ""
            )
            if text and "dir_fd" not in kwargs and self.inside(text):
                return real(path, *args, **kwargs)
            self.notes.add(f"os.{name}({text!r}) refused: the replay changes no file")
            return None

        return refused


class _RefusedPopen:
    """``subprocess.Popen`` in a replay: the command does not run; it succeeds, silently."""

    returncode = 0
    pid = 0
    stdin = stdout = stderr = None
    notes: Notes

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        self.args = args
        self.text = any(kwargs.get(k) for k in ("text", "universal_newlines", "encoding", "errors"))
        command = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
        self.notes.add(f"subprocess refused (never started): {command[:120]}")

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        empty = "" if self.text else b""
        return empty, empty

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int:
        return 0

    def kill(self) -> None:
        pass

    terminate = kill

    def send_signal(self, signal: int) -> None:
        pass

    def __enter__(self) -> _RefusedPopen:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def install(folder: str, notes: Notes) -> None:
    """Guard this (child) process: files, network, processes, exits, sleep and environment."""
    files = _Files(folder, notes)
    builtins.open = io.open = files.open
    os.open = files.os_open
    os.mkdir = files.make_dirs(os.mkdir)
    os.makedirs = files.make_dirs(os.makedirs)
    for name in [
        "remove",
        "unlink",
        "rmdir",
        "removedirs",
        "rename",
        "renames",
        "replace",
        "symlink",
        "link",
        "truncate",
        "chmod",
        "chown",
        "utime",
    ]:
        if hasattr(os, name):
            setattr(os, name, files.refuse(name, getattr(os, name)))
    tempfile.tempdir = os.path.join(files.folder, "tmp")
    files.real_makedirs(tempfile.tempdir, exist_ok=True)
    _guard_network(notes)
    _guard_processes(notes)
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        real_sleep(min(max(float(seconds), 0.0), MAX_SLEEP_S))

    time.sleep = sleep  # type: ignore[assignment]
    _guard_environment()


def _guard_environment() -> None:
    """``os.putenv``/``unsetenv`` with str names go through ``os.environ`` (which calls them
    back with encoded bytes: those reach the C environment as before)."""
    environ, real_putenv, real_unsetenv = os.environ, os.putenv, os.unsetenv

    def putenv(key: Any, value: Any) -> None:
        if isinstance(key, bytes):
            real_putenv(key, value)
        else:
            environ[key] = value

    def unsetenv(key: Any) -> None:
        if isinstance(key, bytes):
            real_unsetenv(key)
        else:
            environ.pop(key, None)

    os.putenv, os.unsetenv = putenv, unsetenv


def _guard_network(notes: Notes) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        target = next((a for a in args if not isinstance(a, socket.socket)), "")
        notes.add(f"network access refused (never attempted): {target!r}")
        raise OSError(errno.ENETUNREACH, "network access refused by the replay")

    socket.socket.connect = socket.socket.connect_ex = refused  # type: ignore[method-assign]
    socket.create_connection = socket.getaddrinfo = refused

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> io.BytesIO:
        notes.add(f"network access refused (never attempted): {getattr(url, 'full_url', url)}")
        return io.BytesIO(b"")

    def urlretrieve(url: Any, filename: Any = None, *args: Any, **kwargs: Any) -> Any:
        notes.add(f"network access refused (never attempted): {url}")
        return filename, {}

    urllib.request.urlopen = urlopen
    urllib.request.urlretrieve = urlretrieve


def _guard_processes(notes: Notes) -> None:
    _RefusedPopen.notes = notes
    subprocess.Popen = _RefusedPopen  # type: ignore[assignment,misc]

    def system(command: Any) -> int:
        notes.add(f"subprocess refused (never started): {str(command)[:120]}")
        return 0

    def popen(command: Any, *args: Any, **kwargs: Any) -> io.StringIO:
        system(command)
        return io.StringIO("")

    os.system, os.popen = system, popen  # type: ignore[assignment]

    def refused(name: str) -> Callable[..., Any]:
        def start(*args: Any, **kwargs: Any) -> Any:
            notes.add(f"os.{name} refused: run a script as N processes with SCRIPT:N")
            raise PermissionError(f"os.{name} is refused by the replay (replay SCRIPT:N instead)")

        return start

    for name in dir(os):
        if name.startswith(("exec", "spawn", "posix_spawn", "fork")) and callable(
            getattr(os, name)
        ):
            setattr(os, name, refused(name))
    own = os.getpid()
    real_kill = os.kill

    def kill(pid: int, signal: int) -> None:
        if pid != own:
            notes.add(f"os.kill({pid}, {signal}) refused: the replay signals no other process")
            return
        real_kill(pid, signal)

    def _exit(code: int) -> None:
        raise ScriptExit(code)

    os.kill, os._exit = kill, _exit  # type: ignore[assignment]
