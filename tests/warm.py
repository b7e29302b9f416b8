"""Warm processes: each `cauce`, `dvc`, `gto` and `python -m cauce…` process the tests
start is forked from an interpreter that imported pandas, scikit-learn, skops and DVC
once, instead of importing them anew (about 2 s a process, most of an end-to-end test's
time).

Each is still a process of its own, with the command line, working directory,
environment, standard streams and exit status it was given, and it runs the code of
the workspace it was started in (its PYTHONPATH), never this checkout's: the warm
interpreter imports no cauce module. A workspace's PATH starts with a folder of
stand-ins named after those commands (tests/conftest.py `tool_environment`). A stand-in
hands its command line, directory, environment and streams to the warm server of the
pytest worker over a Unix socket, and exits as the forked process does: with its status,
or by its signal. A signal sent to the stand-in reaches the process; a stand-in killed
outright takes the process down with it.

A command runs cold (the stand-in becomes the real command) when the server cannot serve
it as a fresh interpreter would: no server (`CAUCE_WARM` unset, as in the rehearsals,
whose jobs have their own virtual environments), or an environment variable read when a
library loads (OpenMP's, BLAS's, Python's own) set otherwise than the server's. A test
that signals a process group runs its command in `cold(env)`: the forked process is not
in the stand-in's group. tests/test_isolation.py checks that a warm command prints,
writes and exits as a cold one does.

`python tests/warm.py SOCKET` runs the server (started by `environment()`).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# What the server imports once: what cauce's commands and stages, DVC and GTO import.
PRELOADED = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.calibration",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.inspection",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "skops.io",
    "pandera.pandas",
    "pydantic",
    "yaml",
    "ruamel.yaml",
    "httpx",
    "fastapi",
    "uvicorn",
    "vl_convert",
    "dvclive",
    "dvc.cli",
    "dvc.repo",
    "gto.cli",
)
# The console scripts of this virtual environment that the stand-ins serve; `python`
# serves only `python -m cauce…` (the pipeline's stages, as dvc.yaml runs them).
SCRIPTS = ("cauce", "dvc", "gto")
# Read when a library loads, so a forked process could not honour another value.
AT_LOAD = ("OMP_", "OPENBLAS_", "MKL_", "GOTO", "PYTHON")
PER_PROCESS = {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}  # the fork sets them
HEADER = struct.Struct("!I")
STATUS = struct.Struct("!q")
COLD = 0  # the pid the server answers when the stand-in must run the command itself

STAND_IN = """#!{python} -IS
# A stand-in for `{name}` (tests/warm.py): the command, forked from the warm server.
import json, os, signal, socket, struct, sys

REAL = {real!r}
args = sys.argv[1:]


def cold():
    os.execv(REAL, [REAL, *args])


served = os.environ.get("CAUCE_WARM")
module = args[1] if len(args) > 1 and args[0] == "-m" else ""
if not served or ({name!r} == "python" and module.split(".")[0] != "cauce"):
    cold()
request = json.dumps([{name!r}, args, os.getcwd(), dict(os.environ)]).encode()
server = socket.socket(socket.AF_UNIX)
try:
    server.connect(served)
    socket.send_fds(server, [struct.pack("!I", len(request)) + request], [0, 1, 2])
    pid = struct.unpack("!q", server.recv(8, socket.MSG_WAITALL))[0]
except (OSError, struct.error):
    cold()
if pid == 0:
    cold()
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
               signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(number, lambda n, _: os.kill(pid, n))
answer = b""
while len(answer) < 8:
    try:
        part = server.recv(8 - len(answer))
    except InterruptedError:
        continue
    if not part:
        os._exit(70)  # the server went away (EX_SOFTWARE)
    answer += part
code = os.waitstatus_to_exitcode(struct.unpack("!q", answer)[0])
if code < 0:  # ended by a signal: so does the stand-in
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
os._exit(code)
"""


# The client side: the stand-ins, and the server they talk to, one per pytest worker.


@dataclass(frozen=True)
class _Server:
    folder: Path  # bin/ (the stand-ins), socket, server.log
    process: subprocess.Popen


_servers: list[_Server] = []  # this process's, once started


def environment(env: dict[str, str]) -> dict[str, str]:
    """`env` with the stand-ins first on its PATH and the warm server's socket, started
    for this process on first use (and stopped when it exits). Where the server cannot
    run (it needs Linux's pidfd and /proc), `env` as it is: every command cold."""
    if not hasattr(os, "pidfd_open") or not Path("/proc/self/task").is_dir():
        return env
    if not _servers:
        _servers.append(_start())
        atexit.register(_stop, _servers[0])
    folder = _servers[0].folder
    served = {"PATH": f"{folder}/bin{os.pathsep}{env['PATH']}", "CAUCE_WARM": f"{folder}/socket"}
    return env | served


def cold(env: dict[str, str]) -> dict[str, str]:
    """`env` in which every command runs cold: as the real one, in the caller's process
    group (a test that signals the group of what it started)."""
    return {name: value for name, value in env.items() if name != "CAUCE_WARM"}


def _start() -> _Server:
    folder = Path(tempfile.mkdtemp(prefix="cauce-warm-"))
    bin_folder = folder / "bin"
    bin_folder.mkdir()
    venv_bin = Path(sys.executable).parent
    for name in (*SCRIPTS, "python"):
        real = venv_bin / name
        stand_in = bin_folder / name
        stand_in.write_text(
            STAND_IN.format(python=sys.executable, name=name, real=str(real)), encoding="utf-8"
        )
        stand_in.chmod(0o755)
    # The server forks, so it must hold no thread: not pyarrow's jemalloc thread (the
    # allocator pyarrow uses is mimalloc either way), nor OpenBLAS's pool (what the forks
    # compute does not depend on BLAS threads: cauce sums without BLAS where it matters).
    # Requests are compared with the environment as it was before these.
    at_load = {name: value for name, value in os.environ.items() if _read_at_load(name)}
    env = {
        "OPENBLAS_NUM_THREADS": "1",
        **os.environ,
        "JE_ARROW_MALLOC_CONF": "background_thread:false",
    }
    env.pop("PYTHONPATH", None)
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, __file__, str(folder / "socket"), json.dumps(at_load)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 120
    while not (folder / "ready").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the warm server did not start: {(folder / 'server.log').read_text()}"
            )
        time.sleep(0.05)
    return _Server(folder, server)


def _stop(server: _Server) -> None:
    server.process.terminate()
    server.process.wait(timeout=10)
    shutil.rmtree(server.folder, ignore_errors=True)


# The server side.


def serve(address: str, at_load: dict[str, str]) -> None:
    """Import what is slow to import, then fork a handler for each stand-in that asks."""
    for module in PRELOADED:
        __import__(module)
    assert not any(m == "cauce" or m.startswith("cauce.") for m in sys.modules)
    assert len(list(Path("/proc/self/task").iterdir())) == 1, "the warm server must hold no thread"
    base_path = [p for p in sys.path if p != str(Path(__file__).parent)]
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped as they end
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(64)
    Path(address).with_name("ready").touch()
    while os.getppid() == parent:  # the pytest worker is gone: so is its server
        if not select.select([listener], [], [], 1.0)[0]:
            continue
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            try:
                _handle(connection, base_path, at_load)
            finally:
                os._exit(0)
        connection.close()


def _read_at_load(name: str) -> bool:
    return name.startswith(AT_LOAD) and name not in PER_PROCESS


def _handle(connection: socket.socket, base_path: list[str], at_load: dict[str, str]) -> None:
    """One command: fork it, tell the stand-in its pid, and its status once it ends; kill
    it if the stand-in goes first (killed outright)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # The streams come with the first bytes; the rest of the request may take more reads.
    message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    while (
        len(message) < HEADER.size
        or len(message) < HEADER.size + HEADER.unpack(message[: HEADER.size])[0]
    ):
        more = connection.recv(1 << 16)
        if not more:
            return
        message += more
    program, argv, cwd, env = json.loads(message[HEADER.size :])
    mine = {k: v for k, v in env.items() if _read_at_load(k)}
    if mine != at_load:
        connection.sendall(STATUS.pack(COLD))
        return
    pid = os.fork()
    if pid == 0:
        connection.close()
        _run(program, argv, cwd, env, fds, base_path)
    for fd in fds:
        os.close(fd)
    connection.sendall(STATUS.pack(pid))
    ended = os.pidfd_open(pid)
    readable = select.select([ended, connection], [], [])[0]
    if ended not in readable:  # the stand-in hung up first: it was killed
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):  # the stand-in is gone: nobody to tell
        connection.sendall(STATUS.pack(status))


def _run(
    program: str, argv: list[str], cwd: str, env: dict[str, str], fds: list[int], base: list[str]
) -> None:
    """In the forked process: become `program argv` started in `cwd` with `env`, as a new
    interpreter would, and exit with its status."""
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
        os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    _standard_streams(unbuffered=bool(env.get("PYTHONUNBUFFERED")))
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    code = 1
    try:
        import importlib
        import runpy

        if program == "python":  # python -m MODULE ARGS
            sys.path[:] = [cwd, *extra, *base]
            importlib.invalidate_caches()
            sys.argv = ["-m", *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            script = str(Path(sys.executable).parent / program)
            sys.path[:] = [str(Path(script).parent), *extra, *base]
            importlib.invalidate_caches()
            sys.argv = [script, *argv]
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
    _finish()
    os._exit(code)


def _standard_streams(unbuffered: bool) -> None:
    """sys.stdin, stdout and stderr made anew on the descriptors the stand-in passed, as an
    interpreter makes them: stdout line-buffered on a terminal, else block-buffered;
    stderr line-buffered; neither buffered with PYTHONUNBUFFERED."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        with contextlib.suppress(OSError, ValueError):
            old.flush()
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        binary = (
            raw if unbuffered and fd else (io.BufferedReader if fd == 0 else io.BufferedWriter)(raw)
        )
        stream = io.TextIOWrapper(
            binary,
            encoding=old.encoding,
            errors=old.errors,
            line_buffering=not unbuffered and (fd == 2 or (fd == 1 and raw.isatty())),
            write_through=unbuffered,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _exit_code(code: object) -> int:
    """What the interpreter exits with for SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish() -> None:
    """What an interpreter does on its way out: wait for its threads, run atexit, flush."""
    import atexit as exits

    threading._shutdown()  # type: ignore[attr-defined]
    exits._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a stream the command closed
            stream.flush()


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]))
