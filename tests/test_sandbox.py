"""The code sandbox: every attack scores 0 and leaves the host and this process unharmed."""

import os
import socket
import time

import pytest

from ponder.rewards.sandbox import SandboxLimits, run_program, score_tests

TESTS = [{"input": "3\n", "output": "6"}]
LIMITS = SandboxLimits(wall_seconds=3.0, cpu_seconds=2)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET")
    os.chmod(path, 0o600)
    return path


def test_correct_program_scores_one():
    assert score_tests("print(int(input()) * 2)", TESTS, LIMITS) == 1.0


ATTACKS = {
    "infinite_loop": "while True:\n    pass",
    "fork_bomb": "import os\nwhile True:\n    os.fork()",
    "fork_bomb_subprocess": (
        "import subprocess, sys\nwhile True:\n    subprocess.Popen([sys.executable, '-c', 'pass'])"
    ),
    "allocate_10gb": "x = bytearray(10 * 1024**3)\nprint(6)",
    "write_1gb_file": "f = open('big.bin', 'wb')\nfor _ in range(1024):\n    f.write(b'x' * 1024**2)\nprint(6)",
    "network_socket": (
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'hi')\nprint(6)"
    ),
    "print_100mb": "import sys\nsys.stdout.write('6' + 'x' * 100 * 1024**2)",
    "kill_parent": (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill({pid}, signal.SIGKILL)\nprint(6)"
    ),
    "sleep_past_deadline": "import time\ntime.sleep(60)\nprint(6)",
    "read_outside": "print(open('{secret}').read())",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_scores_zero_and_harms_nothing(name, secret, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    source = ATTACKS[name].format(port=listener.getsockname()[1], pid=os.getpid(), secret=secret)
    before = set(os.listdir("/tmp"))
    start = time.monotonic()
    result = run_program(source, "3\n", LIMITS)
    assert time.monotonic() - start < LIMITS.wall_seconds + 2
    assert score_tests(source, TESTS, LIMITS) == 0.0
    assert "TOP-SECRET" not in result.stdout
    assert len(result.stdout) <= LIMITS.output_chars
    with pytest.raises(socket.timeout):  # nothing connected to our listener
        listener.accept()
    listener.close()
    leftovers = {p for p in set(os.listdir("/tmp")) - before if p.startswith("ponder-sandbox-")}
    assert not leftovers, "the sandbox directory must be removed"
    # No sandboxed process survives the run.
    time.sleep(0.2)
    survivors = [p for p in os.listdir("/proc") if p.isdigit() and _is_sandbox(p)]
    assert not survivors


def _is_sandbox(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"sandbox: " in handle.read()
    except OSError:
        return False
