"""A fork server for the command lines the tests start: ``python -m MODULE ARGS`` in a fork of a
process that has already imported numpy, torch, torchvision and fairseq.

A fresh interpreter spends 8-9 s of CPU importing those before a command does anything, and the
suite starts a hundred commands. :func:`fast_python` starts this server once per test process
(on first use) and returns the path of a stand-in for the interpreter: a wrapper that runs
tests/fork_client.py, which passes its arguments, working folder, environment and standard
streams (the file descriptors) to the server. For each command the server forks a *waiter*,
which forks the command's process and reports its exit status; the client ends with that
status and forwards the signals it gets, and when it is killed the waiter kills the command. A
caller sees the stand-in as it would see ``python`` (``subprocess.run``, ``Popen``, ``$PY`` in a
shell script).

The command's process is made to look like a fresh interpreter's: the client's streams as file
descriptors 0-2, with the buffering ``PYTHONUNBUFFERED`` asks for; its folder and environment;
``sys.argv``, ``sys.orig_argv`` and ``sys.path[0]`` as ``-m``, ``-c``, ``-`` (a script on standard
input) or a script path set them; a fresh ``__main__``; fresh seeds for ``random``, numpy and torch.
The preloaded modules are out of ``sys.modules`` until the command imports them
(:class:`PreloadedImports`), and then show the warnings and log lines their import showed. At
the end, the interpreter's exit: ``SystemExit``'s code or message, a traceback and status 1 for
an uncaught exception, death by SIGINT for an uncaught ``KeyboardInterrupt``, non-daemon threads
joined, ``atexit`` handlers run, the streams flushed. Other interpreter options, or environment
variables the imports read (``PYTHON*`` such as ``PYTHONHASHSEED``, thread counts, CUDA and
torch settings) other than the server's, get a real interpreter (the client execs it). The
project itself is never imported here: each command imports ``ofa_mue`` from its own folder,
and ``--user-dir`` loads the plugin as usual. What the forks share is the hash seed of ``str``:
tests whose point is a fresh interpreter (determinism across processes, another hash seed,
installation, a killed training's resumption) start real ones.
"""
from __future__ import annotations

import atexit
import importlib
import importlib.abc
import importlib.machinery
import io
import json
import logging
import os
import random
import re
import runpy
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from fork_client import SERVER_VARIABLE

PRELOAD = ("numpy", "numpy.random", "PIL.Image", "torch", "torchvision", "torchvision.transforms", "fairseq",
           "fairseq.tasks", "fairseq.models", "fairseq.criterions", "fairseq.options", "fairseq.checkpoint_utils")
"""Third-party modules the project's commands import (never the project itself), each with what
it imports: a group, restored in a command's process when the command imports one of its modules."""

IMPORT_ENVIRONMENT = re.compile(r"PYTHON(?!UNBUFFERED$|WARNINGS$)|OMP_|MKL_|KMP_|OPENBLAS|CUDA|TORCH|LD_|NCCL|GLOO")
"""Environment variables the interpreter's start or the preloaded imports may read: a command
whose values differ from the server's runs in a real interpreter. A command process sets up its
streams for ``PYTHONUNBUFFERED`` and its warning filters for ``PYTHONWARNINGS`` itself (which
fairseq's data loaders set in the test process, for the processes it starts)."""

STAMP = ".ofa_mue_install_stamp"  # run_scripts/setup_env.sh's
CLIENT = Path(__file__).with_name("fork_client.py")
_started: Dict[str, str] = {}


def fast_python() -> str:
    """The path of an executable that behaves as ``sys.executable`` for the project's command
    lines, served by this test process's fork server (started on the first call); sets
    ``$OFA_MUE_FORK_SERVER`` so that the processes this one starts find the server."""
    if not _started:
        folder = tempfile.mkdtemp(prefix="ofa-mue-fork-server-")
        address = os.path.join(folder, "socket")
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
        server = subprocess.Popen([sys.executable, __file__, address], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env={**environment, "PYTHONUNBUFFERED": "1"})  # the commands set up their own
        ready = server.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"the tests' fork server did not start (it said {ready!r})")
        wrapper = os.path.join(folder, "python")
        with open(wrapper, "w", encoding="utf-8") as handle:
            python, client = shlex.quote(sys.executable), shlex.quote(str(CLIENT))
            handle.write(f'#!/bin/sh\nexec {python} -I -S {client} {python} "$@"\n')
        os.chmod(wrapper, 0o755)

        def stop() -> None:
            server.stdin.close()  # the server ends when its standard input does, deleting its folder
            server.wait(timeout=30)

        atexit.register(stop)
        _started.update(wrapper=wrapper, address=address)
    os.environ[SERVER_VARIABLE] = _started["address"]
    return _started["wrapper"]


def fast_venv() -> str:
    """A folder that run_scripts' ``OFA_MUE_VENV`` may name: ``bin/python`` is :func:`fast_python`'s
    stand-in, and setup_env.sh finds the install stamp of the virtual environment running the
    tests, so it installs nothing."""
    venv = os.path.join(os.path.dirname(fast_python()), "venv")
    if not os.path.isdir(venv):
        os.makedirs(os.path.join(venv, "bin"))
        os.symlink(fast_python(), os.path.join(venv, "bin", "python"))
        shutil.copy(os.path.join(sys.prefix, STAMP), os.path.join(venv, STAMP))
    return venv


# --- the server --------------------------------------------------------------------------------


@dataclass
class ImportGroup:
    """What importing one of :data:`PRELOAD` added: its modules, the environment variables, warnings,
    log records and root logging set-up it made, and what it wrote to standard output and error."""

    modules: Dict[str, types.ModuleType]
    environment: Dict[str, str]
    warnings: List[warnings.WarningMessage]
    records: List[logging.LogRecord]
    filters: list
    root_handlers: List[logging.Handler]
    root_level: int
    exit_handlers: List[Tuple[Callable, tuple, dict]]
    printed: Tuple[bytes, bytes]


def import_group(name: str) -> ImportGroup:
    """Import ``name`` here, recording what it changes (its warnings and log records are kept, not
    shown: each command shows them when it imports the group)."""
    modules, environment, filters = set(sys.modules), dict(os.environ), list(warnings.filters)
    handlers, records = list(logging.root.handlers), []
    handle, register, exit_handlers = logging.Logger.handle, atexit.register, []
    logging.Logger.handle = lambda logger, record: records.append(record)
    atexit.register = lambda function, *args, **kwargs: (exit_handlers.append((function, args, kwargs)),
                                                         register(function, *args, **kwargs))[1]
    with captured_output() as printed, warnings.catch_warnings(record=True) as caught:
        try:
            importlib.import_module(name)
        finally:
            logging.Logger.handle, atexit.register = handle, register
            added_filters = [entry for entry in warnings.filters if entry not in filters]
    warnings.filters[:] = added_filters + filters
    return ImportGroup(modules={key: sys.modules[key] for key in set(sys.modules) - modules},
                       environment={key: value for key, value in os.environ.items() if environment.get(key) != value},
                       warnings=caught, records=records, filters=added_filters,
                       root_handlers=[h for h in logging.root.handlers if h not in handlers],
                       root_level=logging.root.level, exit_handlers=exit_handlers, printed=printed.result)


class captured_output:
    """Within the block, file descriptors 1 and 2 write to temporary files; ``result`` then holds
    what was written to each."""

    def __enter__(self) -> "captured_output":
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(1), os.dup(2)
        self.files = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        os.dup2(self.files[0].fileno(), 1)
        os.dup2(self.files[1].fileno(), 2)
        return self

    def __exit__(self, *exception) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        output = []
        for handle in self.files:
            handle.seek(0)
            output.append(handle.read())
            handle.close()
        self.result = tuple(output)


class PreloadedImports(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """In a command's process: the preloaded modules, out of ``sys.modules`` until the command
    imports one of them. Then that one's group and the groups before it (their dependencies) come
    back; importing a group's root (a name of :data:`PRELOAD`) also brings back what importing it
    left: the environment variables it set, its warning filters and exit handlers, the root
    logger's handlers if none is set (as ``logging.basicConfig`` does), and its warnings, log
    records and output, shown as the command's own settings show them."""

    def __init__(self, groups: List[ImportGroup], server_streams: Tuple[io.TextIOWrapper, io.TextIOWrapper]) -> None:
        self.groups, self.server_streams = groups, server_streams
        self.activated, self.to_show = 0, []
        self.stashed = {name: index for index, group in enumerate(groups) for name in group.modules}
        for name in self.stashed:
            del sys.modules[name]
        logging.root.handlers[:] = []
        logging.root.setLevel(logging.WARNING)
        for group in groups:
            del warnings.filters[:len(group.filters)]
            for function, _, _ in group.exit_handlers:
                atexit.unregister(function)
        warnings._filters_mutated()

    def find_spec(self, name: str, path=None, target=None) -> Optional[importlib.machinery.ModuleSpec]:
        index = self.stashed.get(name)
        if index is None:
            return None
        for group in self.groups[:index + 1]:  # a group's root only comes back when imported itself
            for module_name, module in group.modules.items():
                if module_name != name and module_name in self.stashed and module_name not in PRELOAD:
                    del self.stashed[module_name]
                    sys.modules[module_name] = module
        if name in PRELOAD:
            while self.activated <= index:
                self.activate(self.groups[self.activated])
                self.activated += 1
        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = self.groups[self.stashed.pop(spec.name)].modules[spec.name]
        self.original_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """With the requested module in place, show what its groups showed."""
        module.__spec__ = self.original_spec  # the import system set it to this loader's
        shown, self.to_show = self.to_show, []
        for group in shown:
            self.show(group)

    def activate(self, group: ImportGroup) -> None:
        """Put back what importing ``group``'s root set; what it showed is shown once the requested
        module is in place."""
        os.environ.update(group.environment)
        for function, args, kwargs in group.exit_handlers:
            atexit.register(function, *args, **kwargs)
        warnings.filters[:0] = group.filters
        warnings._filters_mutated()
        if group.root_handlers and not logging.root.handlers:
            for handler in group.root_handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream in self.server_streams:
                    handler.setStream(sys.stdout if handler.stream is self.server_streams[0] else sys.stderr)
                logging.root.addHandler(handler)
            logging.root.setLevel(group.root_level)
        self.to_show.append(group)

    @staticmethod
    def show(group: ImportGroup) -> None:
        """Show ``group``'s import-time warnings, log records and output."""
        for message in group.warnings:
            warnings.warn_explicit(message.message, message.category, message.filename, message.lineno,
                                   source=message.source)
        for record in group.records:
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(1, group.printed[0])
        os.write(2, group.printed[1])


def serve(address: str) -> None:
    """Preload, say ``ready`` on standard output, then fork a waiter per connection until
    standard input ends (the test process is gone); then delete the socket's folder."""
    environment = dict(os.environ)
    groups = [import_group(name) for name in PRELOAD]
    added = {key: value for group in groups for key, value in group.environment.items()}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    os.write(1, b"ready\n")
    while True:
        readable, _, _ = select.select([listener, 0], [], [], 1.0)
        while True:  # reap the waiters that have reported
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if 0 in readable and not os.read(0, 4096):
            listener.close()
            shutil.rmtree(os.path.dirname(address), ignore_errors=True)  # xdist workers skip atexit
            return
        if listener in readable:
            connection, _ = listener.accept()
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                wait_for_command(connection, environment, added, groups)  # never returns
            connection.close()


def receive(connection: socket.socket) -> Tuple[dict, List[int]]:
    """A client's request and the three file descriptors sent with it."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    data = bytearray(data)
    while len(data) < 8 or len(data) < 8 + struct.unpack("!Q", data[:8])[0]:
        chunk = connection.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return json.loads(bytes(data[8:])), fds


def reason_for_a_real_interpreter(request: dict, environment: Dict[str, str], added: Dict[str, str]) -> Optional[str]:
    """Why the request cannot be served by a fork (None when it can): interpreter options, or an
    environment variable the imports read whose value is neither the server's nor the one the
    imports set (a process that imported them passes those on)."""
    argv = request["argv"]
    if (not argv or (argv[0].startswith("-") and argv[0] not in ("-m", "-c", "-"))
            or (argv[0] in ("-m", "-c") and len(argv) < 2)):
        return f"interpreter arguments {argv[:2]}"
    for key in set(environment) | set(request["env"]):
        value = request["env"].get(key)
        if IMPORT_ENVIRONMENT.match(key) and value not in (environment.get(key), added.get(key, environment.get(key))):
            return f"environment variable {key}"
    return None


def wait_for_command(connection: socket.socket, environment: Dict[str, str], added: Dict[str, str],
                     groups: List[ImportGroup]) -> None:
    """In a waiter: fork the command's process, tell the client its pid, and report its exit
    status; kill it if the client goes away first."""
    code = 0
    try:
        request, fds = receive(connection)
        reason = reason_for_a_real_interpreter(request, environment, added)
        if reason:
            connection.sendall(json.dumps({"fallback": reason}).encode() + b"\n")
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            connection.close()
            run_command(request, fds, groups)  # never returns
        for fd in fds:
            os.close(fd)
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        try:
            process = [os.pidfd_open(pid)]  # readable when the command ends
        except (AttributeError, OSError):
            process = []  # a kernel without pidfds: poll
        while True:
            readable, _, _ = select.select([connection, *process], [], [], None if process else 0.02)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                connection.sendall(json.dumps({"status": status}).encode() + b"\n")
                break
            if connection in readable and not connection.recv(1):  # the client was killed: so is its command
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
    except BaseException:  # a waiter never returns into the server's loop
        code = 1
    os._exit(code)


def standard_stream(fd: int, template: io.TextIOWrapper, unbuffered: bool) -> io.TextIOWrapper:
    """A text stream on ``fd`` set up as the interpreter sets up ``template``'s (encoding, errors,
    buffering: block-buffered output, line-buffered standard error, unbuffered when asked)."""
    writing = fd != 0
    buffered = io.open(fd, "wb" if writing else "rb", buffering=0 if unbuffered and writing else -1, closefd=False)
    raw = buffered if unbuffered and writing else buffered.raw
    stream = io.TextIOWrapper(buffered, encoding=template.encoding, errors=template.errors, newline="\n",
                              line_buffering=fd == 2 and not unbuffered, write_through=unbuffered)
    raw.name = template.name
    stream.mode = "w" if writing else "r"
    return stream


def run_command(request: dict, fds: List[int], groups: List[ImportGroup]) -> None:
    """In the command's process: become ``python ARGV`` as a fresh interpreter would, run it, exit."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    streams = [standard_stream(fd, template, unbuffered)
               for fd, template in enumerate((sys.__stdin__, sys.__stdout__, sys.__stderr__))]
    server_streams = sys.__stdout__, sys.__stderr__
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams
    random.seed()  # a fresh interpreter's generators start from random seeds, unlike a fork's
    sys.modules["numpy.random"].seed()
    sys.modules["torch"].seed()
    sys.meta_path.insert(0, PreloadedImports(groups, server_streams))
    if os.environ.get("PYTHONWARNINGS"):  # the server has none (fast_python): its filters are the defaults
        sys.warnoptions[:] = [option for option in os.environ["PYTHONWARNINGS"].split(",") if option]
        warnings._processoptions(sys.warnoptions)
    importlib.invalidate_caches()
    main = types.ModuleType("__main__")
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    argv = request["argv"]
    sys.orig_argv = [sys.executable, *argv]
    try:
        if argv[0] == "-m":
            sys.argv = ["-m", *argv[2:]]
            sys.path[0] = os.getcwd()
            runpy._run_module_as_main(argv[1])
        else:
            if argv[0] == "-c":
                sys.argv, sys.path[0], source, filename = ["-c", *argv[2:]], "", argv[1], "<string>"
            elif argv[0] == "-":
                sys.argv, sys.path[0], source, filename = list(argv), "", sys.stdin.buffer.read(), "<stdin>"
            else:
                sys.argv, sys.path[0] = list(argv), os.path.dirname(os.path.realpath(argv[0]))
                with open(argv[0], "rb") as handle:
                    source, filename = handle.read(), argv[0]
                main.__file__ = filename
            exec(compile(source, filename, "exec"), main.__dict__)
        code = 0
    except SystemExit as stop:
        code = exit_code(stop)
    except BaseException as error:  # shown as the interpreter shows it: without this function's frame
        error.__traceback__ = error.__traceback__.tb_next
        sys.excepthook(type(error), error, error.__traceback__)
        if isinstance(error, KeyboardInterrupt):
            finish()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        code = 1
    os._exit(finish(code))


def exit_code(stop: SystemExit) -> int:
    """The status the interpreter exits with for an uncaught ``SystemExit`` (printing its message)."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code & 0xFF
    sys.stderr.write(f"{stop.code}\n")
    return 1


def finish(code: int = 0) -> int:
    """The interpreter's shutdown: join non-daemon threads, run ``atexit`` handlers, flush the
    streams (status 120 when standard output cannot be flushed)."""
    try:
        threading._shutdown()
    except BaseException:
        sys.excepthook(*sys.exc_info())
    atexit._run_exitfuncs()
    try:
        if sys.stdout is not None and not sys.stdout.closed:
            sys.stdout.flush()
    except BaseException:
        code = 120
    try:
        if sys.stderr is not None and not sys.stderr.closed:
            sys.stderr.flush()
    except BaseException:
        pass
    return code


if __name__ == "__main__":
    serve(sys.argv[1])
