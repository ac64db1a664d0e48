"""README's "From Python" example runs as written and prints what its comments say, with no library warning."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_prints_what_it_says():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## From Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    promised = [line.split("# ", 1)[1].split(":")[0] for line in code.splitlines() if line.startswith("print(")]
    printed = done.stdout.splitlines()
    assert printed[0] == promised[0].replace(" Final Answer", "") + " Final Answer: 1"
    assert printed[1] == promised[1] == "8 True"
    assert "Warning" not in done.stderr, done.stderr
