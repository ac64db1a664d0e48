"""A local sandbox for model-written programs (open-r1 only runs code remotely; this one is ours).

Each program runs in its own process, in its own session, in an empty temporary directory, with:
- rlimits: CPU seconds, address space, file size (stdout goes to a file, so output is capped too),
  open files, core dumps, and processes;
- a wall-clock deadline, after which the whole process group is SIGKILLed;
- no network: a fresh network namespace (root, or an unprivileged user namespace where allowed);
- when run as root, an unprivileged uid/gid (nobody), so other users' files, processes (the test
  runner included) and the process limit all apply;
- a Python audit hook installed before the program's first line that refuses sockets, subprocesses,
  forks, signals to other processes, and opening files outside the sandbox directory and the
  interpreter's own library (a second wall where the kernel ones are missing).
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
NOBODY = 65534

# Runs first inside the sandboxed interpreter: the audit hook, then the program as __main__.
GUARD = r"""
import os, sys
_root = os.path.realpath(os.getcwd())
_lib = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__)})
_blocked = ("socket.", "subprocess.", "os.fork", "os.forkpty", "os.posix_spawn", "os.system", "os.exec",
            "os.spawn", "os.kill", "os.killpg", "pty.spawn", "ctypes.", "os.chdir", "os.chroot")
def _hook(event, args):
    if event.startswith(_blocked):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        inside = path == _root or path.startswith(_root + os.sep)
        if not (inside or path.startswith(_lib) or path.startswith("/dev/null")):
            raise PermissionError(f"sandbox: opening {path} is not allowed")
sys.addaudithook(_hook)
del _hook
_source = open("program.py").read()
sys.argv = ["program.py"]
exec(compile(_source, "program.py", "exec"), {"__name__": "__main__"})
"""


@dataclass
class SandboxLimits:
    wall_seconds: float = field(default=5.0, metadata={"help": "Wall-clock deadline per run."})
    cpu_seconds: int = field(default=4, metadata={"help": "RLIMIT_CPU."})
    memory_mb: int = field(default=512, metadata={"help": "RLIMIT_AS (address space)."})
    file_size_mb: int = field(default=4, metadata={"help": "RLIMIT_FSIZE; stdout is a file, so this caps output."})
    processes: int = field(default=16, metadata={"help": "RLIMIT_NPROC (applies when the run drops to nobody)."})
    output_chars: int = field(default=64_000, metadata={"help": "Characters of stdout kept for comparison."})


@dataclass
class RunResult:
    stdout: str
    returncode: int | None
    timed_out: bool
    seconds: float
    stderr: str = ""


def _isolate(limits: SandboxLimits, drop_to_nobody: bool):
    """preexec_fn: runs in the child between fork and exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0 and not drop_to_nobody:
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)  # unprivileged: a user namespace brings a netns
    mb = 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
        (resource.RLIMIT_NOFILE, 64),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, limits.processes),
    ):
        resource.setrlimit(limit, (value, value))
    if drop_to_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _world_executable(path: str) -> bool:
    """Whether an unprivileged user can run `path` (every directory on the way must be searchable)."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    for i in range(2, len(parts) + 1):
        mode = os.stat(os.sep.join(parts[:i]) or os.sep).st_mode
        if not mode & 0o001:
            return False
    return True


def sandbox_interpreter() -> tuple[str, bool]:
    """(python, drop_to_nobody): our interpreter if nobody may run it, else a system python3.

    Programs use the standard library only, so any CPython 3 will do. With no usable interpreter for
    nobody, the run stays root inside its namespaces and relies on the audit hook and rlimits."""
    if os.geteuid() != 0:
        return sys.executable, False
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and _world_executable(candidate):
            return candidate, True
    return sys.executable, False


def run_program(source: str, stdin: str = "", limits: SandboxLimits | None = None) -> RunResult:
    """Run untrusted Python source; never raises for anything the program does."""
    limits = limits or SandboxLimits()
    python, as_root = sandbox_interpreter()
    workdir = tempfile.mkdtemp(prefix="ponder-sandbox-")
    try:
        if as_root:
            os.chown(workdir, NOBODY, NOBODY)
        with open(os.path.join(workdir, "program.py"), "w") as handle:
            handle.write(source)
        with open(os.path.join(workdir, "stdin.txt"), "w") as handle:
            handle.write(stdin)
        stdout_path, stderr_path = os.path.join(workdir, "stdout.txt"), os.path.join(workdir, "stderr.txt")
        start = time.monotonic()
        with (
            open(os.path.join(workdir, "stdin.txt")) as fin,
            open(stdout_path, "w") as fout,
            open(stderr_path, "w") as ferr,
        ):
            process = subprocess.Popen(
                [python, "-I", "-S", "-c", GUARD],
                cwd=workdir,
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "HOME": workdir},
                preexec_fn=lambda: _isolate(limits, as_root),
                start_new_session=True,
                close_fds=True,
            )
            try:
                process.wait(timeout=limits.wall_seconds)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(process)
        seconds = time.monotonic() - start
        return RunResult(
            _read_capped(stdout_path, limits.output_chars),
            None if timed_out else process.returncode,
            timed_out,
            seconds,
            _read_capped(stderr_path, 4000),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _read_capped(path: str, limit: int) -> str:
    try:
        with open(path, errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return ""


def score_tests(source: str, tests: list[dict], limits: SandboxLimits | None = None) -> float:
    """Fraction of stdin/stdout tests passed ({"input": ..., "output": ...}); whitespace-trimmed lines."""
    if not tests:
        return 0.0
    passed = 0
    for test in tests:
        result = run_program(source, test.get("input", ""), limits)
        passed += (
            not result.timed_out
            and result.returncode == 0
            and _lines(result.stdout) == _lines(str(test.get("output", "")))
        )
    return passed / len(tests)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]
