"""The tests' fork server (tests/fork_server.py) stands in for a fresh interpreter: each command
gives the same exit status, standard output and standard error through :func:`fast_python` as
through ``sys.executable``, and the server's preloaded imports show only in a command that imports
them, as they would."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo_training import REPO, subprocess_env
from fork_server import fast_python

STREAMS = ("import sys; print(sys.stdout.line_buffering, sys.stdout.write_through, sys.stderr.line_buffering, "
           "sys.stderr.write_through, sys.stdout.encoding, sys.stderr.errors, sys.stdout.isatty())")


def both(argv, **options):
    """The same command run by the real interpreter and by the fork server's stand-in."""
    options = {"cwd": REPO, "capture_output": True, "text": True, "timeout": 300, "env": subprocess_env(), **options}
    return [subprocess.run([python, *argv], **options) for python in (sys.executable, fast_python())]


def shown(done: subprocess.CompletedProcess) -> tuple:
    """Exit status and output, with the interpreter's path and fairseq's log times made comparable."""
    def clean(text: str) -> str:
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(,\d+)?", "TIME", text.replace(sys.executable, "PYTHON"))
    return done.returncode, clean(done.stdout), clean(done.stderr)


@pytest.mark.parametrize("argv, stdin", [
    (["-c", "import sys; print(sys.argv, repr(sys.path[0]), __name__); sys.exit('stopped')", "a", "b"], None),
    (["-c", "def f():\n    raise ValueError('bad value')\nf()"], None),
    (["-c", "raise SystemExit(3)"], None),
    (["-c", "raise KeyboardInterrupt"], None),
    (["-c", "import os, signal; print('before', flush=True); os.kill(os.getpid(), signal.SIGTERM)"], None),
    (["-c", "import atexit, threading, time\natexit.register(print, 'at exit')\n"
            "threading.Thread(target=lambda: (time.sleep(0.3), print('thread'))).start()\nprint('main')"], None),
    (["-c", "print('no newline', end='')\nimport sys\nsys.stderr.write('error text')"], None),
    (["-c", STREAMS], None),
    (["-", "x", "y"], "import sys\nprint(sys.argv, repr(sys.path[0]), sys.stdin.read() == '')\n"),
    (["-m", "json.tool", "--sort-keys"], '{"b": 1, "a": [1, 2]}'),
    (["-m", "no_such_module_here"], None),
    (["-c", "import sys; print(sorted(m for m in ('torch', 'fairseq', 'numpy') if m in sys.modules))"], None),
])
def test_a_command_behaves_as_in_a_fresh_interpreter(argv, stdin):
    real, forked = both(argv, input=stdin)
    assert shown(forked) == shown(real)


@pytest.mark.parametrize("options", ["ignore::UserWarning", "error::UserWarning,default::DeprecationWarning",
                                     "ignore:semaphore_tracker:UserWarning", "not an option"])
def test_pythonwarnings_sets_the_commands_warning_filters(options):
    """fairseq's data loaders set PYTHONWARNINGS in the test process; a command honours it as a
    fresh interpreter does (the server starts without it)."""
    environment = {**subprocess_env(), "PYTHONWARNINGS": options}
    real, forked = both(["-c", "import sys, warnings; print(sys.warnoptions); warnings.warn('careful', UserWarning)"],
                        env=environment)
    assert shown(forked) == shown(real)


def test_a_project_command_prints_what_its_imports_print_and_its_one_line_error(tmp_path):
    """fairseq's import-time warning and log line, then the command's error, as a fresh
    interpreter prints them; unbuffered and block-buffered streams as the interpreter sets them."""
    real, forked = both(["-m", "ofa_mue.evaluate", str(tmp_path), "--path", str(tmp_path / "missing.pt"),
                         "--task", "snli_ve", "--cpu"])
    assert real.returncode == 1 and "tensorboardX" in real.stderr  # what fairseq's import logs
    assert shown(forked) == shown(real)
    environment = {key: value for key, value in subprocess_env().items() if key != "PYTHONUNBUFFERED"}
    real, forked = both(["-c", STREAMS], env=environment)
    assert shown(forked) == shown(real) and real.stdout.startswith("False False True False")


def test_each_command_draws_fresh_random_numbers():
    draw = ("import random, numpy, torch; "
            "print(random.random(), numpy.random.random(), torch.rand(1).item(), torch.initial_seed())")
    first, second = (subprocess.run([fast_python(), "-c", draw], capture_output=True, text=True, timeout=60,
                                    env=subprocess_env()).stdout.split() for _ in range(2))
    assert len(first) == 4 and all(a != b for a, b in zip(first, second))


def test_another_hash_seed_gets_a_fresh_interpreter():
    """The server's str hash seed is fixed when it starts: a command that sets PYTHONHASHSEED (or
    another variable its imports read) runs in a real interpreter."""
    environment = {**subprocess_env(), "PYTHONHASHSEED": "12345"}
    real, forked = both(["-c", "print(hash('ofa-mue'))"], env=environment)
    assert forked.stdout == real.stdout and forked.returncode == 0


def test_killing_the_stand_in_kills_its_command(tmp_path):
    """subprocess's kill on timeout, or a test's SIGKILL, reaches the command, not just the client."""
    started = tmp_path / "pid"
    process = subprocess.Popen([fast_python(), "-c", f"import os, time\nopen({str(started)!r}, 'w').write("
                                f"str(os.getpid()))\ntime.sleep(120)"], env=subprocess_env())
    deadline = time.monotonic() + 60
    while not started.exists() or not started.read_text():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    command = int(started.read_text())
    assert command != process.pid
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    while running(command):
        assert time.monotonic() < deadline, "the command outlived its killed stand-in"
        time.sleep(0.05)


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
