"""curate: s1 selection statistics, an HTTP endpoint teacher that fails, and resuming from the cache."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ponder.data.tasks import get_task
from ponder.recipes.cli import main as cli_main
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe

TINY_REASONER = Path(__file__).parent / "assets" / "tiny-reasoner"  # made by configs/tiny/reasoner.yaml (distill)

CURATE = """
name: c
stages:
  - name: curate
    kind: curate
    tasks: [running_sum, addition, last_letters, letter_count]
    pool_size: 5000
    target: 1000
    teacher: {kind: programmatic, flaw_rate: 0.1}
    judges: [{kind: programmatic, flaw_rate: 0.5}]
    judge_samples: 2
    judge_max_correct: 2
"""


def test_s1_selection_on_a_20k_pool(write_recipe, tmp_path):
    result = run_recipe(load_recipe(write_recipe(CURATE)))["curate"]
    m = result["metrics"]
    assert m["pool"] == 20000 and m["selected"] == 1000 and m["selected_domains"] == 4
    assert m["dropped_wrong_answer"] > 1000
    assert m["mean_trace_chars_selected"] > 1.3 * m["mean_trace_chars_pool"]
    rows = [json.loads(line) for line in (tmp_path / "runs/c/curate/data.jsonl").read_text().splitlines()]
    assert len(rows) == 1000 and len({r["id"] for r in rows}) == 1000
    domains = {d: sum(r["domain"] == d for r in rows) for d in {r["domain"] for r in rows}}
    assert min(domains.values()) >= 150  # domain-uniform sampling
    payloads = {r["id"]: r["payload"] for name in domains for r in get_task(name).rows(5000, 0)}
    for row in rows:  # every selected trace is the correct one; none is a deliberately flawed one
        task = get_task(row["domain"])
        assert row["reasoning"] == task.teacher_trace({**row, "payload": payloads[row["id"]]}).text()
    # The judge (flawed half the time, 2 samples, both must be right) solves ~1/4 of the questions: those go.
    judged = m["after_quality"] - m.get("dropped_contaminated", 0)
    assert (
        0.2 < m["dropped_judge0_solved"] / judged < 0.3
        and m["after_difficulty"] == judged - m["dropped_judge0_solved"]
    )
    random_rows = run_recipe(load_recipe(write_recipe(CURATE + "    selection: random\n", "r.yaml")))["curate"][
        "metrics"
    ]
    assert random_rows["selected"] == 1000 and "after_difficulty" not in random_rows

    # Per-level counts add up to the selection, and s1's long-trace preference shifts them to harder levels.
    def mean_level(metrics, task):
        levels = {int(k.rsplit("_", 1)[1]): n for k, n in metrics.items() if k.startswith(f"selected_{task}_")}
        return sum(level * n for level, n in levels.items()) / sum(levels.values())

    assert sum(n for k, n in m.items() if k.startswith(tuple(f"selected_{d}_" for d in domains))) == 1000
    assert mean_level(m, "running_sum") > mean_level(random_rows, "running_sum") + 1


class FlakyTeacher(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that answers correctly, but fails every 4th request with a 500 and
    stalls every 9th past the client's timeout."""

    answers: dict = {}
    count = 0
    lock = threading.Lock()
    log: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        with FlakyTeacher.lock:
            FlakyTeacher.count += 1
            n = FlakyTeacher.count
            FlakyTeacher.log.append(question)
        if n % 4 == 0:
            self.send_response(500)
            self.end_headers()
            return
        if n % 9 == 0:
            time.sleep(1.5)
        reply = {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "reasoning_content": "step\n\nstep",
                        "content": f"Final Answer: {FlakyTeacher.answers[question]}",
                    }
                }
            ]
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that timed out leave broken pipes behind: expected here


@pytest.fixture
def flaky_server():
    FlakyTeacher.answers = {r["prompt"]: r["answer"] for r in get_task("addition").rows(60, 0)}
    FlakyTeacher.count, FlakyTeacher.log = 0, []
    server = QuietServer(("127.0.0.1", 0), FlakyTeacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


ENDPOINT = """
name: e
stages:
  - name: curate
    kind: curate
    tasks: [addition]
    pool_size: 60
    target: 60
    teacher: {{kind: endpoint, base_url: "{url}", model: teacher, concurrency: 4,
               retries: {retries}, timeout: 0.5, backoff: 0.01}}
"""


def test_endpoint_teacher_retries_and_loses_nothing(write_recipe, flaky_server):
    m = run_recipe(load_recipe(write_recipe(ENDPOINT.format(url=flaky_server, retries=4))))["curate"]["metrics"]
    unique = 60 - m["dropped_duplicate"]
    assert m["pool"] == 60 and m["selected"] == m["after_quality"] == unique  # every question recovered
    assert FlakyTeacher.count > 60  # retries happened
    assert set(FlakyTeacher.log) == set(FlakyTeacher.answers)


def test_endpoint_failures_are_counted_not_lost(write_recipe, flaky_server):
    m = run_recipe(load_recipe(write_recipe(ENDPOINT.format(url=flaky_server, retries=0))))["curate"]["metrics"]
    assert m["dropped_api_error"] > 0 and m["dropped_api_error"] + m["after_quality"] + m["dropped_duplicate"] == 60


def test_interrupted_curate_resumes_from_cache(write_recipe, tmp_path, flaky_server):
    path = write_recipe(ENDPOINT.format(url=flaky_server, retries=5))
    one_at_a_time = "stages.curate.teacher.concurrency=1"
    cache = tmp_path / "runs/e/curate.partial/traces.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ponder.recipes.cli", "run", str(path), one_at_a_time],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while (not cache.exists() or not cache.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cached = {json.loads(line)["id"] for line in cache.read_text().splitlines() if line.strip()}
    unique = len({r["id"] for r in get_task("addition").rows(60, 0)})
    assert 0 < len(cached) < unique
    asked_before = set(FlakyTeacher.log)
    FlakyTeacher.log = []
    m = run_recipe(load_recipe(path, [one_at_a_time]))["curate"]["metrics"]
    assert m["from_cache"] == len(cached) and m["generated_now"] == unique - len(cached)
    cached_questions = {r["prompt"] for r in get_task("addition").rows(60, 0) if r["id"] in cached}
    assert not cached_questions & set(FlakyTeacher.log), "cached traces were generated again"
    assert asked_before | set(FlakyTeacher.log) == set(FlakyTeacher.answers)


SELF_IMPROVE = """
name: si
model: {name_or_path: "tiny:micro"}
stages:
  - name: data
    kind: task_data
    tasks: [running_sum]
    size: 256
    difficulty: {running_sum: [1, 1]}
  - name: distill
    kind: sft
    data: data
    lora: null
    trainer: {max_steps: 80, per_device_train_batch_size: 32, learning_rate: 5.0e-3,
              logging_steps: 20, save_steps: 1000}
  - name: star
    kind: self_improve
    init: distill
    tasks: [running_sum]
    difficulty: {running_sum: [1, 2]}
    size: 48
    heldout_size: 32
    rounds: 2
    samples: 4
    max_new_tokens: 40
    lora: null
    trainer: {max_steps: 10, per_device_train_batch_size: 16, learning_rate: 1.0e-3,
              logging_steps: 5, save_steps: 1000}
"""


def test_self_improve_two_rounds_logs_and_keeps_only_verified(write_recipe, tmp_path, monkeypatch):
    m = run_recipe(load_recipe(write_recipe(SELF_IMPROVE)))["star"]["metrics"]
    for r in (1, 2):
        assert 0.0 <= m[f"round{r}_sample_pass_rate"] <= 1.0 and f"round{r}_heldout_accuracy" in m
    assert "final_heldout_accuracy" in m and m["round1_kept"] > 0
    kept = [json.loads(line) for line in (tmp_path / "runs/si/star/data.jsonl").read_text().splitlines()]
    task = get_task("running_sum")
    for row in kept:  # the kept set holds verified solutions only: the model's own answer checks out
        assert task.verify(row, f"{row['reasoning']}\n</think>\n\n{row['model_answer']}")
    per_problem = {}
    for row in kept:
        per_problem.setdefault((row["round"], row["prompt"]), set()).add(row["reasoning"])
    assert all(len(v) <= 2 for v in per_problem.values())
    for r in (1, 2):  # each round goes through the one trainer path with the sft kind's defaults
        args = json.loads((tmp_path / f"runs/si/star/round{r}/trainer_args.json").read_text())
        assert args["max_steps"] == 10 and args["train_sampling_strategy"] == "group_by_length"
    assert (
        tmp_path
        / "runs/si/star"
        / json.loads((tmp_path / "runs/si/star/result.json").read_text())["artifacts"]["checkpoint"]
    ).exists()
    # A round that keeps nothing trains nothing: the stage's model is the one it started from, also when the run
    # folder is relative to the working directory (`ponder run`'s default `runs/`), and a later stage can load it.
    monkeypatch.chdir(tmp_path)
    heldout = "stages.star.decontaminate=[{task: running_sum, size: 200, seed: 10000, difficulty: [1, 1]}]"
    edits = ["output_dir=runs", "stages.star.rounds=1", "stages.star.max_new_tokens=1", heldout, "stages.star.ngram=0"]
    star = run_recipe(load_recipe(write_recipe(SELF_IMPROVE), edits))["star"]
    assert star["metrics"]["round1_kept"] == 0 and "round1_loss_last" not in star["metrics"]
    # ... and its problems leave out the eval set's questions (1-step sums: many are), counted
    assert star["metrics"]["dropped_contaminated"] > 0
    assert star["metrics"]["problems"] + star["metrics"]["dropped_contaminated"] == m["problems"]
    start = json.loads((tmp_path / "runs/si/distill/result.json").read_text())["artifacts"]["checkpoint"]
    assert Path(star["artifacts"]["checkpoint"]) == (tmp_path / "runs/si/distill" / start).resolve()
    assert (Path("runs/si/star") / star["artifacts"]["checkpoint"]).is_dir()  # as a later stage reads it


def test_local_model_teacher_and_judge(write_recipe, tiny_checkpoint):
    recipe = f"""
name: m
stages:
  - name: curate
    kind: curate
    tasks: [running_sum]
    pool_size: 24
    target: 10
    teacher: {{kind: programmatic}}
    judges: [{{kind: model, model: "{tiny_checkpoint}", temperature: 0.0, max_tokens: 48}}]
"""
    path = write_recipe(recipe)
    m = run_recipe(load_recipe(path))["curate"]["metrics"]
    unique = 24 - m["dropped_duplicate"]
    assert m["after_quality"] == unique and m["after_difficulty"] == unique - m["dropped_judge0_solved"]
    assert m["selected"] == min(10, m["after_difficulty"])
    # A model teacher: each question traced, each failure counted by its reason. The default recipe's distilled
    # reasoner (right about half the time), not the 60-step checkpoint: on a CPU without native bf16 that one got
    # every trace wrong or truncated, leaving nothing to select. batch_size counts sequences: 16 questions x 2 samples.
    options = f'model: "{TINY_REASONER}", samples: 2, max_tokens: 48, batch_size: 32'
    teacher = f"stages.curate.teacher={{kind: model, {options}}}"
    m = run_recipe(load_recipe(path, [teacher, "output_dir=" + str(path.parent / "teacher")]))["curate"]["metrics"]
    dropped = sum(
        v for k, v in m.items() if k.startswith("dropped_") and k != "dropped_duplicate" and "judge" not in k
    )
    assert m["generated_now"] == unique and dropped + m["after_quality"] == unique and dropped > 0
    assert 0 < m["selected"] <= min(10, m["after_difficulty"])


def test_templated_questions_are_decontaminated_by_exact_match(write_recipe, capsys):
    from ponder.data.curation import contaminated

    eval_questions = [r["prompt"] for r in get_task("word_problems").rows(20, seed=10_000)]
    pool = [r["prompt"] for r in get_task("word_problems").rows(200, seed=0)] + eval_questions[:3]
    assert all(contaminated(pool, eval_questions, n=8))  # the template's 8-grams are in every question
    assert sum(contaminated(pool, eval_questions, n=0)) == 3 + sum(q in eval_questions for q in pool[:200])
    recipe = """
    name: c
    stages:
      - name: curate
        kind: curate
        tasks: [word_problems]
        pool_size: 200
        target: 50
        teacher: {kind: programmatic}
        decontaminate: [{task: word_problems, size: 20, seed: 10000}]
    """
    path = write_recipe(recipe)
    # `ponder run` says it in one line that names the stage and the fix, with no traceback, and exits 2
    assert cli_main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.fullmatch(
        r"ponder: error: stage 'curate': nothing left to select from a pool of 200 .*dropped_contaminated.*ngram: 0`",
        err.strip().splitlines()[-1],
    )
    metrics = run_recipe(load_recipe(path, ["stages.curate.ngram=0"]))["curate"]["metrics"]
    assert metrics["selected"] == 50 and metrics["dropped_contaminated"] < 5
