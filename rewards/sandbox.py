"""A local sandbox for model-written programs (open-r1 only runs code remotely; this one is ours).

Default isolation, `bwrap` (bubblewrap, Debian's `bubblewrap` package): each program runs
- in its own user, PID, network, IPC, UTS and cgroup namespaces (no network at all; it sees only its own
  processes, and everything it starts dies with it: double forks and setsid included);
- in its own mount namespace: a read-only /usr (the interpreter and its standard library), a fresh /dev and
  /proc, and one writable, empty directory; nothing else of the host's files exists for it (no /etc, /home,
  /root, /tmp, no caller's files);
- as uid 65534 with no capabilities and no new privileges; when the caller is root, bubblewrap itself runs as
  nobody, so the process limit applies and nothing the caller owns is reachable;
- under rlimits (CPU seconds, address space, file size, so output is capped too, open files, processes, no
  core dumps) and a wall-clock deadline after which the whole sandbox is killed.
A Python audit hook still refuses sockets, subprocesses, signals and outside files first, as an early and
friendly error, not as the boundary. Where bubblewrap or user namespaces are missing, code rewards refuse to
run (SandboxUnavailable says what to install) unless the caller opts in by name to `isolation="process"`: the
older, weaker isolation (rlimits, a network namespace, nobody when root, the audit hook).
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
from functools import lru_cache

try:
    from ponder.errors import PonderError
except ImportError:  # loaded by file path, outside the package (tests/test_sandbox.py runs it as an ordinary user)

    class PonderError(Exception):
        """Stands in for ponder's base outside the package."""


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


ISOLATIONS = ("bwrap", "process")


class SandboxUnavailable(PonderError, RuntimeError):
    """The kernel-level sandbox cannot run here; the message says what to install or how to opt out."""


@dataclass
class SandboxLimits:
    isolation: str = field(
        default="bwrap",
        metadata={"help": "bwrap (namespaces + read-only system, the default) or process (weaker: opt in by name)."},
    )
    wall_seconds: float = field(default=5.0, metadata={"help": "Wall-clock deadline per run."})
    cpu_seconds: int = field(default=4, metadata={"help": "RLIMIT_CPU."})
    memory_mb: int = field(default=512, metadata={"help": "RLIMIT_AS (address space)."})
    file_size_mb: int = field(default=4, metadata={"help": "RLIMIT_FSIZE; stdout is a file, so this caps output."})
    processes: int = field(default=16, metadata={"help": "RLIMIT_NPROC (applies when the run drops to nobody)."})
    output_chars: int = field(default=64_000, metadata={"help": "Characters of stdout kept for comparison."})

    def __post_init__(self):
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation={self.isolation!r}: choose one of {ISOLATIONS}")


@dataclass
class RunResult:
    stdout: str
    returncode: int | None
    timed_out: bool
    seconds: float
    stderr: str = ""


def _set_limits(limits: SandboxLimits, processes: int):
    mb = 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_AS, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
        (resource.RLIMIT_NOFILE, 64),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, processes),
    ):
        resource.setrlimit(limit, (value, value))


def _drop_to_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _processes_of(uid: int) -> int:
    """How many processes `uid` runs now (RLIMIT_NPROC counts them all, not only the sandbox's)."""
    count = 0
    for pid in os.listdir("/proc"):
        try:
            count += pid.isdigit() and os.stat(f"/proc/{pid}").st_uid == uid
        except OSError:
            pass
    return count


def _world_executable(path: str) -> bool:
    """Whether an unprivileged user can run `path` (every directory on the way must be searchable)."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    for i in range(2, len(parts) + 1):
        mode = os.stat(os.sep.join(parts[:i]) or os.sep).st_mode
        if not mode & 0o001:
            return False
    return True


def sandbox_interpreter() -> str | None:
    """A CPython that the sandbox's user may run: programs use the standard library only, so any will do."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", base):
        if os.path.exists(candidate) and (os.geteuid() != 0 or _world_executable(candidate)):
            return os.path.realpath(candidate)
    return None


def bwrap_command(python: str, workdir: str) -> list[str]:
    """bubblewrap: every namespace, a read-only /usr (plus the interpreter's prefix), one writable directory."""
    command = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent"]
    command += ["--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"]
    command += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/sbin"):  # merged-/usr links, or the real directories
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    prefix = os.path.dirname(os.path.dirname(python))
    if not python.startswith("/usr/"):
        command += ["--ro-bind", prefix, prefix]
    command += ["--dev", "/dev", "--proc", "/proc", "--bind", workdir, "/sandbox", "--chdir", "/sandbox"]
    command += ["--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/sandbox"]
    command += ["--setenv", "PYTHONHASHSEED", "0", "--", python, "-I", "-S", "-c", GUARD]
    return command


@lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why the bubblewrap sandbox cannot run here (None when it can): probed once per process."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    python = sandbox_interpreter()
    if python is None:
        return "no Python interpreter that an unprivileged user may run (install python3)"
    result = run_program("print('ok')", limits=SandboxLimits(wall_seconds=20.0), _probe=True)
    if result.stdout.strip() != "ok":
        return f"bwrap did not run a program (user namespaces disabled?): {result.stderr.strip()[-300:]}"
    return None


def ensure_isolation(limits: SandboxLimits):
    """Raise SandboxUnavailable where the chosen isolation cannot run (checked before the first program)."""
    if limits.isolation == "bwrap" and bwrap_problem():
        raise SandboxUnavailable(
            f"the code sandbox needs bubblewrap with user namespaces: {bwrap_problem()}. Install it "
            "(`apt-get install bubblewrap`), or accept the weaker process isolation by name: "
            "SandboxLimits(isolation='process') / reward params {isolation: process}"
        )


def _legacy_isolate(limits: SandboxLimits, drop: bool):
    """preexec_fn of `isolation="process"`: a network namespace, rlimits, nobody when root."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0 and not drop:
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)  # unprivileged: a user namespace brings a netns
    _set_limits(limits, limits.processes)
    if drop:
        _drop_to_nobody()


def run_program(source: str, stdin: str = "", limits: SandboxLimits | None = None, _probe: bool = False) -> RunResult:
    """Run untrusted Python source; never raises for anything the program does (SandboxUnavailable when the
    chosen isolation cannot run here)."""
    limits = limits or SandboxLimits()
    if not _probe:
        ensure_isolation(limits)
    root = os.geteuid() == 0
    python = sandbox_interpreter() if limits.isolation == "bwrap" else sys.executable
    if limits.isolation == "process" and root and not _world_executable(python):
        python = sandbox_interpreter() or python
    drop = root and _world_executable(python)
    workdir = tempfile.mkdtemp(prefix="ponder-sandbox-")
    try:
        if drop:
            os.chown(workdir, NOBODY, NOBODY)
        with open(os.path.join(workdir, "program.py"), "w") as handle:
            handle.write(source)
        with open(os.path.join(workdir, "stdin.txt"), "w") as handle:
            handle.write(stdin)
        stdout_path, stderr_path = os.path.join(workdir, "stdout.txt"), os.path.join(workdir, "stderr.txt")
        if limits.isolation == "bwrap":
            command, cwd, env = bwrap_command(python, workdir), workdir, {"PATH": "/usr/bin:/bin"}
            outer_uid = NOBODY if root else os.geteuid()
            processes = _processes_of(outer_uid) + limits.processes + 2  # + bwrap's own two

            def prepare():
                _set_limits(limits, processes)
                if root:
                    _drop_to_nobody()
        else:
            command, cwd = [python, "-I", "-S", "-c", GUARD], workdir
            env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "HOME": workdir}

            def prepare():
                _legacy_isolate(limits, drop)

        start = time.monotonic()
        with (
            open(os.path.join(workdir, "stdin.txt")) as fin,
            open(stdout_path, "w") as fout,
            open(stderr_path, "w") as ferr,
        ):
            process = subprocess.Popen(
                command,
                cwd=cwd,
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                env=env,
                preexec_fn=prepare,
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
    """Output lines stripped on both sides (as open-r1 compares them), without blank lines at either end."""
    return [line.strip() for line in text.strip().splitlines()]
