"""`curate` stage: teacher traces -> verification -> s1 selection (quality, difficulty, diversity).

Questions come from tasks (a synthetic pool) or a data file / earlier stage with prompt + answer
(+ domain). Teachers: the task's program, a local HF model, or an OpenAI-compatible endpoint; every
generated sample is cached in the stage folder, so an interrupted run resumes without regenerating.
result.json counts the rows at every filter step.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Optional

from ponder.recipes.context import StageError
from ponder.recipes.kind import StageKind
from ponder.recipes.schema import DECONTAMINATE_HELP, DIFFICULTY_HELP, NGRAM_HELP, check_difficulty

CHUNK = 16  # questions per teacher call: the unit of caching (and a model teacher's batch)


@dataclass
class TeacherSettings:
    kind: str = field(default="programmatic", metadata={"help": "programmatic, model or endpoint."})
    model: Optional[str] = field(
        default=None,
        metadata={
            "help": "model: an earlier model stage, a checkpoint/hub id ('base' = recipe model); endpoint: the "
            "served model name."
        },
    )
    base_url: Optional[str] = field(default=None, metadata={"help": "endpoint: e.g. http://127.0.0.1:8000/v1"})
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "endpoint: environment variable with the key."}
    )
    samples: int = field(default=1, metadata={"help": "Traces per question (k)."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (model/endpoint)."})
    max_tokens: int = field(default=512, metadata={"help": "Max new tokens per trace."})
    flaw_rate: float = field(default=0.0, metadata={"help": "programmatic: share of deliberately flawed traces."})
    batch_size: int = field(
        default=16, metadata={"help": "model: sequences per generate call (batch_size // samples questions, >= 1)."}
    )
    concurrency: int = field(default=8, metadata={"help": "endpoint: requests in flight."})
    retries: int = field(default=3, metadata={"help": "endpoint: retries per request (exponential backoff)."})
    timeout: float = field(default=60.0, metadata={"help": "endpoint: seconds per request."})
    backoff: float = field(default=0.5, metadata={"help": "endpoint: first retry delay in seconds."})

    def __post_init__(self):
        if self.kind not in ("programmatic", "model", "endpoint"):
            raise ValueError(f"kind={self.kind!r}: choose programmatic, model or endpoint")
        if self.kind == "endpoint" and not (self.base_url and self.model):
            raise ValueError("an endpoint teacher needs base_url and model")
        if self.kind == "model" and not self.model:
            raise ValueError("a model teacher needs model (a path, hub id, or 'base')")


@dataclass
class Options:
    tasks: list = field(default_factory=list, metadata={"help": "Task names for a synthetic question pool."})
    pool_size: int = field(default=2000, metadata={"help": "Questions per task in the pool."})
    difficulty: dict = field(default_factory=dict, metadata={"help": DIFFICULTY_HELP})
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    target: int = field(default=1000, metadata={"help": "Rows to select (s1: 1,000)."})
    selection: str = field(default="s1", metadata={"help": "s1 (quality -> difficulty -> diversity) or random."})
    judges: list[TeacherSettings] = field(
        default_factory=list,
        metadata={"help": "Difficulty judges: [{kind: programmatic, flaw_rate}] or [{kind: model, model: base}]."},
    )
    judge_samples: int = field(default=1, metadata={"help": "Samples per judge per question (k)."})
    judge_max_correct: int = field(
        default=1, metadata={"help": "Drop a question a judge answers correctly this many times (j of k)."}
    )
    diversity: bool = field(default=True, metadata={"help": "s1 domain-uniform, long-trace-preferring sampling."})
    decontaminate: list = field(default_factory=list, metadata={"help": DECONTAMINATE_HELP})
    ngram: int = field(default=8, metadata={"help": NGRAM_HELP})

    def __post_init__(self):
        if self.selection not in ("s1", "random"):
            raise ValueError(f"selection={self.selection!r}: choose s1 or random")
        check_difficulty(self.tasks, self.difficulty)


def check(stage, recipe, error):
    from ponder.recipes.kind import stage_kind

    if stage.data is None and not stage.options.tasks:
        raise error("tasks", "curate needs questions: `tasks:` or `data:` (prompt + answer columns)")
    earlier = {s.name: s.kind for s in recipe.stages}  # the stages before this one (validated in order)
    models = [("teacher.model", stage.options.teacher)] + [
        (f"judges[{i}].model", j) for i, j in enumerate(stage.options.judges)
    ]
    for key, settings in models:
        name = settings.model
        if settings.kind != "model" or name == "base":
            continue
        if name in earlier and "model" not in stage_kind(earlier[name]).produces:
            raise error(key, f"stage {name!r} is a {earlier[name]} stage, which produces no model")
        if name not in earlier and "/" not in name:
            raise error(
                key, f"{name!r} is neither an earlier model stage nor a checkpoint path ('base' = recipe model)"
            )


def main(ctx) -> dict:
    import datasets

    from ponder.data.curation import decontaminate, diversity_select, quality_problem, random_select
    from ponder.data.loading import save_dataset
    from ponder.inference.teachers import TraceCache

    recipe, opts = ctx.recipe, ctx.stage.options
    pool = question_pool(ctx)
    rows = list({r["id"]: r for r in pool}.values())  # the same question twice is one question
    counts = {"pool": len(pool), "dropped_duplicate": len(pool) - len(rows)}

    # 1. Traces (cached), verified against the gold answers.
    cache = TraceCache(ctx.workdir / "traces.jsonl")
    todo = cache.missing([r["id"] for r in rows])
    failed = {}
    for start in range(0, len(todo), CHUNK):  # cached chunk by chunk: a kill loses at most one chunk
        chunk = [rows[i] for i in todo[start : start + CHUNK]]
        done = {}
        for row, samples in zip(chunk, sample(ctx, opts.teacher, chunk, "teacher")):
            api_error = any(s["error"] and s["error"] != "truncated" for s in samples)
            (failed if api_error else done)[row["id"]] = samples  # API errors are retried on the next run
        cache.add(done)
    counts["generated_now"], counts["from_cache"] = len(todo), len(rows) - len(todo)
    traced = [first_verified(row, cache.entries.get(row["id"]) or failed[row["id"]], recipe.thinking) for row in rows]

    # 2. Quality: drop errors, truncation, missing fields, wrong answers (counted by reason).
    kept = []
    for row in traced:
        problem = quality_problem(row)
        if problem:
            counts[f"dropped_{problem}"] = counts.get(f"dropped_{problem}", 0) + 1
        else:
            kept.append(row)
    counts["after_quality"] = len(kept)

    # 3. Decontamination against the recipe's eval sets.
    if opts.decontaminate:
        kept, counts["dropped_contaminated"] = decontaminate(kept, opts.decontaminate, opts.ngram)

    # 4. Difficulty (judges), then diversity -- or a random sample of the same size as the baseline.
    if opts.selection == "s1":
        for j, judge in enumerate(opts.judges):
            solved = judge_solves(ctx, judge, kept, opts.judge_samples, opts.judge_max_correct, f"judge{j}")
            counts[f"dropped_judge{j}_solved"] = sum(solved)
            kept = [r for r, easy in zip(kept, solved) if not easy]
        counts["after_difficulty"] = len(kept)
        chosen = diversity_select(kept, opts.target, recipe.seed) if opts.diversity else kept[: opts.target]
    else:
        chosen = random_select(kept, opts.target, recipe.seed)
    counts["selected"] = len(chosen)
    if not chosen:
        dropped = {k: v for k, v in counts.items() if k.startswith("dropped_") and v}
        hint = "; templated questions share n-grams with every eval question: set `ngram: 0`" if opts.ngram else ""
        hint = hint if counts.get("dropped_contaminated") == counts["after_quality"] else ""
        raise StageError(
            f"stage {ctx.stage.name!r}: nothing left to select from a pool of {len(pool)} ({dropped}){hint}"
        )
    counts["selected_domains"] = len({r["domain"] for r in chosen})
    if any(r["difficulty"] for r in chosen):  # synthetic tasks: s1's long-trace preference can narrow the levels seen
        for (domain, level), n in sorted(collections.Counter((r["domain"], r["difficulty"]) for r in chosen).items()):
            counts[f"selected_{domain}_{level}"] = n
    counts["mean_trace_chars_pool"] = round(sum(len(r["reasoning"]) for r in traced) / max(len(traced), 1), 2)
    counts["mean_trace_chars_selected"] = round(sum(len(r["reasoning"]) for r in chosen) / max(len(chosen), 1), 2)
    columns = ("id", "prompt", "answer", "reasoning", "domain", "difficulty")
    dataset = datasets.Dataset.from_list([{k: r[k] for k in columns} for r in chosen])
    return {"metrics": counts, "artifacts": save_dataset(dataset, ctx.workdir)}


def question_pool(ctx) -> list[dict]:
    import hashlib

    from ponder.data.tasks import task_rows

    stage, opts = ctx.stage, ctx.stage.options
    if stage.data is None:
        return task_rows(opts.tasks, opts.pool_size, ctx.recipe.seed, opts.difficulty)
    return [
        {
            "id": r.get("id") or hashlib.sha1(r["prompt"].encode()).hexdigest()[:12],
            "domain": r.get("domain") or "default",
            "difficulty": r.get("difficulty", 0),
            "prompt": r["prompt"],
            "answer": str(r["answer"]),
            "payload": r.get("payload", ""),
        }
        for r in ctx.dataset(("prompt", "answer"), ("domain", "id"))
    ]


def sample(ctx, teacher, rows: list[dict], role: str) -> list[list[dict]]:
    """k samples per row from the teacher (or a judge: `role` keeps their random draws independent)."""
    import os

    from ponder.data.tasks import get_task
    from ponder.inference.teachers import EndpointTeacher, model_samples, programmatic_samples

    thinking = ctx.recipe.thinking
    if teacher.kind == "programmatic":
        # A string seed per row: reproducible across processes (hash() of a str is salted per process).
        return [
            programmatic_samples(
                get_task(row.get("task") or row["domain"]),  # reasoning-gym rows name their task
                [row],
                teacher.samples,
                teacher.flaw_rate,
                f"{ctx.recipe.seed}:{role}:{row['id']}",
                thinking,
            )[0]
            for row in rows
        ]
    questions = [r["prompt"] for r in rows]
    if teacher.kind == "endpoint":
        client = EndpointTeacher(
            teacher.base_url,
            teacher.model,
            os.environ.get(teacher.api_key_env, "none"),
            teacher.concurrency,
            teacher.retries,
            teacher.timeout,
            teacher.backoff,
            thinking,
        )
        return client.samples(questions, teacher.samples, teacher.temperature, teacher.max_tokens)
    model, tokenizer = load_teacher(ctx, teacher.model)
    return model_samples(
        model,
        tokenizer,
        thinking,
        questions,
        teacher.samples,
        teacher.temperature,
        teacher.max_tokens,
        teacher.batch_size,
    )


def load_teacher(ctx, name: str):
    from ponder.models.modeling import load_model_and_tokenizer

    source = ctx.recipe.model.name_or_path if name == "base" else ctx.checkpoint(name)
    model = ctx.recipe.model
    return load_model_and_tokenizer(
        source, ctx.recipe.thinking, model.dtype, ctx.recipe.seed, attn_implementation=model.attn_implementation
    )


def verify(rows: list[dict], samples: list[dict], thinking) -> list[bool]:
    """Each sample against its row's gold answer: the task's own verifier where there is one."""
    from ponder.inference.sampling import verify_rows

    usable = [not s.get("error") and bool(s.get("answer_text")) for s in samples]
    verdicts = verify_rows(rows, [s.get("answer_text") or "" for s in samples], thinking)
    return [ok and v for ok, v in zip(usable, verdicts)]


def first_verified(row: dict, samples: list[dict], thinking) -> dict:
    """The row with its first verified sample (k > 1 keeps one trace per question), else its first sample."""
    verdicts = verify([row] * len(samples), samples, thinking)
    best = verdicts.index(True) if True in verdicts else 0
    return {**row, **samples[best], "verified": verdicts[best]}


def judge_solves(ctx, judge, rows: list[dict], k: int, max_correct: int, role: str) -> list[bool]:
    """Whether the judge answers each question correctly at least `max_correct` times in k samples."""
    import dataclasses

    samples = sample(ctx, dataclasses.replace(judge, samples=k), rows, role)
    return [sum(verify([row] * len(s), s, ctx.recipe.thinking)) >= max_correct for row, s in zip(rows, samples)]


KIND = StageKind(
    name="curate",
    options=Options,
    data_columns=("prompt", "answer"),
    main=main,
    produces=frozenset({"data"}),
    check=check,
    curves=(),
    headline=("pool", "after_quality", "after_difficulty", "selected"),
)
