"""The client half of the tests' fork server (tests/fork_server.py): stands in for
``python ARGS``, run by the wrapper that :func:`fork_server.fast_python` writes.

It hands its arguments, working folder, environment and its own standard input, output and
error (the file descriptors themselves) to the server named by ``$OFA_MUE_FORK_SERVER``, which
runs the command in a fork of a process that has already imported torch, torchvision and
fairseq; it forwards the signals it gets to that fork and ends with the fork's exit status (a
fork killed by a signal kills this process with the same signal). Without a server, or when
the server says the command needs a fresh interpreter (other interpreter options, another
import-time environment), it becomes that interpreter: ``exec`` of the real Python with the
same arguments (with ``$OFA_MUE_FORK_SERVER_LOG`` set, it appends the server's reason to that
file). Standard library only, started with ``-I -S``: it costs milliseconds.
"""
import json
import os
import signal
import socket
import struct
import sys

SERVER_VARIABLE = "OFA_MUE_FORK_SERVER"
LOG_VARIABLE = "OFA_MUE_FORK_SERVER_LOG"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def become_real_python(python: str) -> None:
    """Replace this process with the real interpreter on the same arguments."""
    os.execv(python, [python, *sys.argv[2:]])


def read_reply(connection: socket.socket, pending: bytearray) -> dict:
    """The server's next reply (a JSON line); ``pending`` holds bytes already received."""
    while b"\n" not in pending:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the fork server closed the connection")
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return json.loads(line)


def main() -> None:
    python, address = sys.argv[1], os.environ.get(SERVER_VARIABLE)
    if not address:
        become_real_python(python)
    request = json.dumps({"argv": sys.argv[2:], "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
        socket.send_fds(connection, [struct.pack("!Q", len(request)) + request], [0, 1, 2])
        pending = bytearray()
        reply = read_reply(connection, pending)
    except OSError:
        connection.close()
        become_real_python(python)
    if "fallback" in reply:
        connection.close()
        if os.environ.get(LOG_VARIABLE):  # why a command needed a real interpreter
            with open(os.environ[LOG_VARIABLE], "a", encoding="utf-8") as log:
                log.write(f"{reply['fallback']}: {sys.argv[2:5]}\n")
        become_real_python(python)
    pid = reply["pid"]
    for number in FORWARDED_SIGNALS:
        signal.signal(number, lambda received, frame: os.kill(pid, received))
    code = os.waitstatus_to_exitcode(read_reply(connection, pending)["status"])
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


if __name__ == "__main__":
    main()
