"""The code sandbox holds at the kernel level: every attack scores 0, harms nothing, and the caller lives.

Many attacks run their payload through `_posixsubprocess.fork_exec` in a fresh interpreter, which has no audit
hook, so only the kernel (namespaces, read-only mounts, uid, rlimits) stands in the way. The whole suite runs
as the test's user (root in CI) and again as an ordinary user (nobody) in a separate process.
"""

import json
import os
import pwd
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ponder.rewards.sandbox import SandboxLimits, SandboxUnavailable, bwrap_problem, run_program, score_tests

TESTS = [{"input": "3\n", "output": "6"}]
LIMITS = SandboxLimits(wall_seconds=3.0, cpu_seconds=2)
SANDBOX_SOURCE = Path(__file__).resolve().parent.parent / "rewards" / "sandbox.py"

# `raw(code)` runs `python -c code` without the audit hook and prints 6 only if that child exited 0, i.e. the
# attack went through: an escaped attack would score 1.
RAW = """
import _posixsubprocess, os, sys
def raw(code):
    r, w = os.pipe()
    pid = _posixsubprocess.fork_exec([sys.executable, "-I", "-S", "-c", code], [os.fsencode(sys.executable)],
        True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, -1, None, None, None, -1, None, False)
    os.close(w)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0:
        print(6)
"""

ATTACKS = {
    # files: read, list, write, delete, truncate, rename, link outside the sandbox
    "read_secret": "raw('print(open({secret!r}).read())')",
    "read_passwd": "raw('print(open(\"/etc/passwd\").read())')",
    "list_host_dir": "raw('import os; print(os.listdir({hostdir!r}))')",
    "stat_secret": "raw('import os; os.stat({secret!r})')",
    "mkdir_outside": "import os\nos.mkdir({hostdir!r} + '/escape-dir')\nprint(6)",
    "mkdir_outside_raw": "raw('import os; os.mkdir({hostdir!r} + \"/escape-dir\")')",
    "symlink_outside": "import os\nos.symlink('/etc/passwd', {hostdir!r} + '/escape-link')\nprint(6)",
    "delete_victim": "import os\nos.remove({victim!r})\nprint(6)",
    "truncate_victim": "import os\nos.truncate({victim!r}, 0)\nprint(6)",
    "rename_victim": "import os\nos.rename({victim!r}, {hostdir!r} + '/moved')\nprint(6)",
    "write_host_tmp": 'raw(\'open("/tmp/ponder-escape-{token}", "w").write("x")\')',
    "write_usr": 'raw(\'open("/usr/ponder-escape-{token}", "w").write("x")\')',
    # processes and signals
    "kill_caller": "raw('import os; os.kill({pid}, 9)')",
    "kill_parent": "raw('import os; os.kill(os.getppid(), 9); os.kill({pid}, 9)')",
    "kill_everything": "raw('import os; os.kill(-1, 9)')",
    # (forking inside is no escape; outliving the sandbox would be: the harm check looks for the token)
    "daemon_survives": "raw('import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(30)  # {token}\\n"
    "os._exit(3)')",
    "see_host_processes": "raw('import os; open(\"/proc/{pid}/cmdline\").read()')",
    "become_root": "raw('import os; os.setuid(0); open(\"/etc/shadow\").read()')",
    "fork_bomb": "import os\nwhile True:\n    os.fork()",
    "fork_bomb_raw": "raw('import os\\nwhile True:\\n    os.fork()')",
    # network and information
    "network_raw": 'raw(\'import socket; socket.create_connection(("127.0.0.1", {port}), timeout=1).send(b"x")\')',
    "network_socket": "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint(6)",
    "environment_leak": "import os\nprint(os.environ.get('PONDER_TEST_SECRET', ''))",
    # resources
    "infinite_loop": "while True:\n    pass",
    "allocate_10gb": "x = bytearray(10 * 1024**3)\nprint(6)",
    "write_1gb_file": "f = open('big.bin', 'wb')\nfor _ in range(1024):\n    f.write(b'x' * 1024**2)\nprint(6)",
    "print_100mb": "import sys\nsys.stdout.write('6' + 'x' * 100 * 1024**2)",
    "sleep_past_deadline": "import time\ntime.sleep(60)\nprint(6)",
}
pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no bubblewrap sandbox here: {bwrap_problem()}")


def attack_source(name: str, **values) -> str:
    return RAW + ATTACKS[name].format(**values)


def run_attacks(names, values: dict) -> dict:
    """name -> (score, stdout); the same function runs in the non-root process below."""
    out = {}
    for name in names:
        source = attack_source(name, **values)
        start = time.monotonic()
        result = run_program(source, "3\n", LIMITS)
        out[name] = {
            "score": score_tests(source, TESTS, LIMITS),
            "stdout": result.stdout[:2000],
            "seconds": time.monotonic() - start,
        }
    return out


@pytest.fixture
def host(tmp_path):
    """A host directory with a 0600 secret and a victim file, a loopback listener, and a secret in the env."""
    hostdir = tmp_path / "host"
    hostdir.mkdir()
    secret, victim = hostdir / "secret.txt", hostdir / "victim.txt"
    secret.write_text("TOP-SECRET")
    victim.write_text("VICTIM")
    for path in (secret, victim):
        os.chmod(path, 0o600)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    token = secrets.token_hex(6)
    yield {
        "hostdir": str(hostdir),
        "secret": str(secret),
        "victim": str(victim),
        "token": token,
        "port": listener.getsockname()[1],
        "listener": listener,
    }
    listener.close()


def assert_unharmed(host: dict, results: dict, caller_pid: int):
    hostdir = Path(host["hostdir"])
    assert all(r["score"] == 0.0 for r in results.values()), {n: r for n, r in results.items() if r["score"]}
    leaked = [n for n, r in results.items() if "TOP-SECRET" in r["stdout"] or "root:x:0" in r["stdout"]]
    assert not leaked and not any("secret.txt" in r["stdout"] or "VICTIM" in r["stdout"] for r in results.values())
    assert not any("ENV-SECRET" in r["stdout"] for r in results.values())
    assert sorted(p.name for p in hostdir.iterdir()) == ["secret.txt", "victim.txt"]
    assert Path(host["victim"]).read_text() == "VICTIM" and Path(host["secret"]).read_text() == "TOP-SECRET"
    assert not list(Path("/tmp").glob(f"ponder-escape-{host['token']}*"))
    assert not Path(f"/usr/ponder-escape-{host['token']}").exists()
    with pytest.raises(socket.timeout):  # nothing connected to the listener
        host["listener"].accept()
    time.sleep(0.3)
    survivors = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, host["token"])]
    assert not survivors, "a process started in the sandbox outlived it"
    assert not [p for p in os.listdir("/tmp") if p.startswith("ponder-sandbox-")], "sandbox folders left behind"
    os.kill(caller_pid, 0)  # the caller is alive
    assert all(r["seconds"] < 2 * (LIMITS.wall_seconds + 2) for r in results.values())


def _cmdline_has(pid: str, token: str) -> bool:
    try:
        return token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_correct_program_scores_one():
    assert score_tests("print(int(input()) * 2)", TESTS, LIMITS) == 1.0


def test_output_lines_compare_stripped():
    assert score_tests("print('   6   ')\nprint()", TESTS, LIMITS) == 1.0


def test_attacks_as_the_calling_user(host, monkeypatch):
    monkeypatch.setenv("PONDER_TEST_SECRET", "ENV-SECRET")
    values = {k: v for k, v in host.items() if k != "listener"} | {"pid": os.getpid()}
    results = run_attacks(sorted(ATTACKS), values)
    assert_unharmed(host, results, os.getpid())


RUNNER = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("sandbox", sys.argv[1])
sandbox = sys.modules["sandbox"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sandbox)
values = json.loads(sys.argv[2])
values["pid"] = os.getpid()
limits = sandbox.SandboxLimits(wall_seconds=3.0, cpu_seconds=2)
tests = [{"input": "3\\n", "output": "6"}]
out = {}
for name, source in json.loads(sys.argv[3]).items():
    source = source.replace("__PID__", str(os.getpid()))
    result = sandbox.run_program(source, "3\\n", limits)
    out[name] = {"score": sandbox.score_tests(source, tests, limits), "stdout": result.stdout[:2000], "seconds": 0.0}
print(json.dumps({"pid": os.getpid(), "uid": os.getuid(), "results": out}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_attacks_as_an_ordinary_user(host, tmp_path):
    """The caller is an ordinary user (nobody): its own 0600 files, its own process, its own environment."""
    nobody = pwd.getpwnam("nobody")
    os.chown(tmp_path, nobody.pw_uid, nobody.pw_gid)
    for path in (host["hostdir"], host["secret"], host["victim"]):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    values = {k: v for k, v in host.items() if k != "listener"} | {"pid": "__PID__"}
    sources = {name: attack_source(name, **values) for name in sorted(ATTACKS)}
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

    def as_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    done = subprocess.run(
        [python, "-c", RUNNER, str(SANDBOX_SOURCE), json.dumps(values), json.dumps(sources)],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=as_nobody,
        env={"PATH": "/usr/bin:/bin", "PONDER_TEST_SECRET": "ENV-SECRET"},
        cwd="/tmp",
    )
    assert done.returncode == 0, done.stderr[-3000:]  # the runner was not killed
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["uid"] == nobody.pw_uid
    assert_unharmed(host, report["results"], os.getpid())


def test_missing_kernel_sandbox_refuses_unless_opted_in(monkeypatch):
    import ponder.rewards.sandbox as sandbox

    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap.*isolation"):
        run_program("print(6)")
    from ponder.rewards import get_reward

    code = get_reward("code")
    with pytest.raises(SandboxUnavailable):
        code(["</think>\n```python\nprint(6)\n```"], test_cases=[TESTS])
    weaker = SandboxLimits(isolation="process")
    assert run_program("print(int(input()) * 2)", "3\n", weaker).stdout.strip() == "6"
    opted = get_reward("code", isolation="process")
    assert opted(["</think>\n```python\nprint(int(input()) * 2)\n```"], test_cases=[TESTS]) == [1.0]
