"""`eval` stage: held-out accuracy of a checkpoint, direct vs thinking, under thinking budgets.

Per task: direct answers (`enable_thinking=False`), pass@1 over k samples and majority vote, then
greedy accuracy and mean thinking tokens for each maximum budget (s1 budget forcing) and, as a second
curve, each minimum budget ("Wait" extensions); s1's Control / Scaling / Performance over the budgets;
unlimited-budget accuracy per difficulty level of task rows. The k samples go to samples.jsonl.
The model is `init` (an earlier model stage, a path or hub id), or the recipe's model when `init` is unset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from ponder.recipes.kind import StageKind
from ponder.recipes.schema import DIFFICULTY_HELP, check_difficulty, stage_kind


@dataclass
class SearchSettings:
    prm: str = field(default="", metadata={"help": "The PRM: an earlier prm stage or a checkpoint path."})
    n: list = field(default_factory=lambda: [1, 4, 16], metadata={"help": "Numbers of samples/beams N."})
    width: int = field(default=4, metadata={"help": "Beam width M: beam keeps N/M beams, DVTS runs N/M subtrees."})
    methods: list = field(
        default_factory=lambda: ["majority", "weighted", "best_of_n", "beam", "dvts"],
        metadata={"help": "majority, weighted, best_of_n, beam, dvts."},
    )
    aggregation: str = field(
        default="last", metadata={"help": "PRM step scores -> solution score: last, min or prod."}
    )
    size: int = field(default=20, metadata={"help": "Held-out questions per task for search (it costs N x more)."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature of the steps."})
    max_step_tokens: int = field(default=32, metadata={"help": "Max tokens of one reasoning step."})
    mode: str = field(
        default="curves",
        metadata={
            "help": "curves: accuracy vs N per method. compute_optimal: every method x N on every question, an "
            "allocation per predicted-difficulty bin and compute budget fitted on a calibration share and scored "
            "on the rest (Snell et al.), saved as allocation.json."
        },
    )
    budgets: list = field(
        default_factory=list,
        metadata={"help": "compute_optimal: compute budgets, tokens per question (policy writes + PRM reads)."},
    )
    think: list = field(
        default_factory=lambda: [None],
        metadata={
            "help": "compute_optimal: max thinking tokens per sample for majority / weighted / best_of_n (s1 budget "
            "forcing, the sequential axis; null = unlimited), e.g. [null, 16, 32]: each is a strategy dimension."
        },
    )
    leftover: str = field(
        default="hardest",
        metadata={
            "help": "compute_optimal: budget the per-bin picks leave unspent (ties in calibration accuracy go to the "
            "cheaper strategy): hardest (spent on more samples of each bin's vote, majority or weighted, hardest "
            "bins first, while the mean cost fits; best-of-N and tree searches keep their pick) or save (unspent)."
        },
    )
    calibration: float = field(default=0.5, metadata={"help": "compute_optimal: share of questions to fit on."})
    probe: int = field(
        default=2, metadata={"help": "compute_optimal: samples whose PRM scores (or agreement) predict difficulty."}
    )
    bins: int = field(default=5, metadata={"help": "compute_optimal: difficulty bins (quantiles; Snell: 5)."})
    predictor: str = field(
        default="prm",
        metadata={
            "help": "compute_optimal: difficulty from the probe: prm (1 - mean PRM score, Snell) or agreement (1 - "
            "the share of probe samples giving their most common answer; no PRM read)."
        },
    )
    reference: Optional[str] = field(
        default=None,
        metadata={
            "help": "compute_optimal: a larger policy (an earlier model stage or checkpoint) to set against this one "
            "at matched inference FLOPs, per difficulty bin (Snell et al.'s exchange rate)."
        },
    )

    def __post_init__(self):
        from ponder.inference.search_eval import METHODS

        if not self.prm:
            raise ValueError("prm: name the PRM (an earlier prm stage or a checkpoint path)")
        if set(self.methods) - set(METHODS):
            raise ValueError(f"methods: {sorted(set(self.methods) - set(METHODS))} unknown; choose from {METHODS}")
        if self.aggregation not in ("last", "min", "prod"):
            raise ValueError(f"aggregation={self.aggregation!r}: choose last, min or prod")
        if any(n < 1 for n in self.n) or self.width < 1:
            raise ValueError("n and width must be >= 1")
        if self.mode not in ("curves", "compute_optimal"):
            raise ValueError(f"mode={self.mode!r}: choose curves or compute_optimal")
        if self.mode == "compute_optimal" and not (self.budgets and all(b > 0 for b in self.budgets)):
            raise ValueError("mode compute_optimal needs budgets: tokens per question, e.g. [64, 256, 1024]")
        from ponder.inference.compute_optimal import LEFTOVERS, PREDICTORS

        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor={self.predictor!r}: choose one of {PREDICTORS}")
        if self.leftover not in LEFTOVERS:
            raise ValueError(f"leftover={self.leftover!r}: choose one of {LEFTOVERS}")
        if self.reference and self.mode != "compute_optimal":
            raise ValueError("reference: the FLOPs-matched comparison needs mode: compute_optimal")
        if not self.think or any(t is not None and (not isinstance(t, int) or t < 0) for t in self.think):
            raise ValueError(f"think={self.think}: max thinking tokens per sample, integers >= 0 or null (unlimited)")
        if self.think != [None] and self.mode != "compute_optimal":
            raise ValueError("think: thinking budgets as a strategy dimension need mode: compute_optimal")
        if not 0.0 < self.calibration < 1.0 or self.probe < 1 or self.bins < 1:
            raise ValueError("calibration must be within (0, 1); probe and bins >= 1")


@dataclass
class Options:
    tasks: list = field(
        default_factory=lambda: ["running_sum"], metadata={"help": "Held-out tasks (when `data` is not given)."}
    )
    size: int = field(
        default=100, metadata={"help": "Held-out questions per task, or the first `size` rows of `data`."}
    )
    difficulty: dict = field(default_factory=dict, metadata={"help": DIFFICULTY_HELP})
    seed: int = field(default=10_000, metadata={"help": "Question seed, far from training seeds."})
    budgets: list = field(
        default_factory=lambda: [0, 8, 16, 32, 64, None], metadata={"help": "Max thinking budgets (null = unlimited)."}
    )
    ignore_stops: list = field(
        default_factory=list,
        metadata={"help": "s1's 'Wait' curve: accuracy when the end of thinking is ignored N times, e.g. [1, 2, 4]."},
    )
    min_budgets: list = field(
        default_factory=lambda: [16, 32, 64], metadata={"help": "Min thinking budgets ('Wait' curve)."}
    )
    samples: int = field(
        default=4, metadata={"help": "k for pass@1, pass@k and majority vote (sampled, unlimited budget)."}
    )
    sampled_questions: Optional[int] = field(
        default=None,
        metadata={
            "help": "Draw the k samples for the first N questions of each task (domain) only (null = all): pass@k at "
            "a bounded cost."
        },
    )
    batch_size: int = field(
        default=32,
        metadata={
            "help": "Sequences generated together (they bound a batch's memory): batch_size // samples questions "
            "at a time, at least one question with all its samples."
        },
    )
    direct: bool = field(default=True, metadata={"help": "Also answer greedily with thinking off (direct_accuracy)."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature for the k samples."})
    max_new_tokens: int = field(default=160, metadata={"help": "Max new tokens per answer."})
    search: Optional[SearchSettings] = field(
        default=None, metadata={"help": "PRM-guided test-time search (null = off)."}
    )

    def __post_init__(self):
        if any(b is not None and b < 0 for b in self.budgets) or any(m < 0 for m in self.min_budgets):
            raise ValueError("budgets must be >= 0")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: give a count >= 1")
        if self.sampled_questions is not None and self.sampled_questions < 1:
            raise ValueError(f"sampled_questions={self.sampled_questions}: give a count >= 1, or null for all")
        if any(not isinstance(n, int) or n < 0 for n in self.ignore_stops):
            raise ValueError(f"ignore_stops={self.ignore_stops}: give whole numbers >= 0")
        check_difficulty(self.tasks, self.difficulty)


def check(stage, recipe, error):
    search = stage.options.search
    kinds = {s.name: s.kind for s in recipe.stages}
    for key, name, produces, what in (
        ("prm", search and search.prm, "prm", "PRM"),
        ("reference", search and search.reference, "model", "model"),
    ):
        if name and name in kinds and produces not in stage_kind(kinds[name]).produces:
            raise error(f"search.{key}", f"stage {name!r} is a {kinds[name]} stage, which produces no {what}")
        if name and name not in kinds and "/" not in name:
            raise error(f"search.{key}", f"{name!r} is neither an earlier {what} stage nor a checkpoint path")


def main(ctx) -> dict:
    import json

    from ponder.data.s1_metrics import control, performance, scaling
    from ponder.inference.sampling import accuracy, sample_and_verify
    from ponder.models.loading import load_for_inference

    opts, thinking = ctx.stage.options, ctx.recipe.thinking
    model, tokenizer, _ = load_for_inference(ctx.model_source(), ctx.recipe.model.dtype, thinking=ctx.recipe.thinking)
    rows = held_out_rows(ctx, opts.size)

    checked = []  # (ponder's verdict, the source's own) for rows whose source scores answers (reasoning-gym)

    def run(rows=rows, **kwargs):
        out = sample_and_verify(
            model, tokenizer, thinking, rows, max_new_tokens=opts.max_new_tokens, batch_size=opts.batch_size, **kwargs
        )
        checked.extend(
            (s["correct"], s["reference_correct"]) for r in out for s in r if s["reference_correct"] is not None
        )
        return out

    metrics = {"questions": len(rows)}
    if opts.direct:
        metrics["direct_accuracy"] = accuracy(run(enable_thinking=False))
    sampled_rows = rows if opts.sampled_questions is None else first_per_domain(rows, opts.sampled_questions)
    sampled = run(rows=sampled_rows, k=opts.samples, temperature=opts.temperature)
    metrics["pass@1"] = accuracy(sampled)
    metrics[f"pass@{opts.samples}"] = sum(any(s["correct"] for s in r) for r in sampled) / len(sampled)
    metrics["majority_vote_accuracy"] = sum(majority_correct(s) for s in sampled) / len(sampled)
    curve, lengths = {}, {}
    for budget in opts.budgets:
        out = run(max_thinking_tokens=budget)
        curve[budget] = accuracy(out)
        lengths[budget] = [s["thinking_tokens"] for row in out for s in row]
        metrics[f"accuracy@{budget if budget is not None else 'inf'}"] = curve[budget]
        metrics[f"thinking_tokens@{budget if budget is not None else 'inf'}"] = sum(lengths[budget]) / len(
            lengths[budget]
        )
        if budget is None:
            metrics.update(accuracy_by_difficulty(rows, out))
    wait_curve = {}
    for low in opts.min_budgets:
        out = run(min_thinking_tokens=low)
        wait_curve[low] = accuracy(out)
        metrics[f"accuracy@min{low}"] = wait_curve[low]
        metrics[f"control@min{low}"] = control({None: [s["thinking_tokens"] for r in out for s in r]}, low)
    ignored = []
    for n in opts.ignore_stops:
        out = run(ignore_stops=n)
        tokens = [s["thinking_tokens"] for r in out for s in r]
        metrics[f"accuracy@wait{n}"] = accuracy(out)
        metrics[f"thinking_tokens@wait{n}"] = sum(tokens) / len(tokens)
        ignored.append([n, metrics[f"accuracy@wait{n}"], metrics[f"thinking_tokens@wait{n}"]])
    metrics.update(s1_control=control(lengths), s1_scaling=scaling(curve), s1_performance=performance(curve))
    if checked:  # every answer scored twice: ponder's verifier and reasoning-gym's score_answer
        metrics["verifier_agreement"] = sum(a == b for a, b in checked) / len(checked)
        references = [s["reference_correct"] for r in sampled for s in r if s["reference_correct"] is not None]
        metrics["reference_pass@1"] = sum(references) / len(references)
    curves = {
        "max_budget": [[b, curve[b], sum(lengths[b]) / len(lengths[b])] for b in opts.budgets],
        "min_budget": [[m, wait_curve[m]] for m in opts.min_budgets],
        "ignore_stops": ignored,
    }
    artifacts = {"curves": "curves.json", "samples": "samples.jsonl"}
    if opts.search and opts.search.mode == "compute_optimal":
        result = run_search(ctx, model, tokenizer, opts)
        result.pop("oracle_allocation").save(ctx.workdir / "allocation_oracle.json")
        result.pop("allocation").save(ctx.workdir / "allocation.json")
        curves["compute_optimal"] = result
        artifacts.update(allocation="allocation.json", allocation_oracle="allocation_oracle.json")
        metrics["difficulty_rank_correlation"] = result["difficulty_rank_correlation"]
        for point in result["compute_optimal"]:
            budget = point["budget"]
            metrics[f"compute_optimal@{budget}"] = point["accuracy"]
            metrics[f"best_fixed@{budget}"] = point["best_fixed_accuracy"]
            metrics[f"efficiency_ratio@{budget}"] = point["efficiency_ratio"]
        for row in (result["exchange_rate"] or {}).get("bins", []):
            name = f"{row['large_strategy']}_bin{row['bin']}"
            metrics[f"exchange_small_minus_large@{name}"] = row["small_accuracy"] - row["large_accuracy"]
    elif opts.search:
        curves["search"] = run_search(ctx, model, tokenizer, opts)
        for method, points in curves["search"].items():
            metrics.update({f"search_{method}@{n}": accuracy_at_n for n, accuracy_at_n, _ in points})
    (ctx.workdir / "curves.json").write_text(json.dumps(curves))
    with open(ctx.workdir / "samples.jsonl", "w") as f:  # what pass@1 and the majority vote were computed on
        for row, row_samples in zip(sampled_rows, sampled):
            f.write(json.dumps({"prompt": row["prompt"], "answer": row["answer"], "samples": row_samples}) + "\n")
    return {"metrics": metrics, "artifacts": artifacts}


def run_search(ctx, model, tokenizer, opts) -> dict:
    from ponder.inference.prm import PRMScorer
    from ponder.inference.search import prm_score_fn
    from ponder.inference.search_eval import OptimalSettings, compute_optimal_eval, search_curves
    from ponder.inference.step_samplers import ModelStepSampler

    search, thinking = opts.search, ctx.recipe.thinking
    scorer = PRMScorer.from_pretrained(ctx.checkpoint(search.prm))

    def step_sampler(policy, policy_tokenizer):
        return ModelStepSampler(
            policy,
            policy_tokenizer,
            thinking,
            temperature=search.temperature,
            max_step_tokens=search.max_step_tokens,
            max_new_tokens=opts.max_new_tokens,
        )

    sampler = step_sampler(model, tokenizer)
    rows = held_out_rows(ctx, search.size)
    if search.mode == "compute_optimal":
        from ponder.inference.compute_optimal import strategy_grid
        from ponder.models.loading import load_for_inference
        from ponder.models.modeling import count_parameters

        reference = None
        if search.reference:
            large, large_tokenizer, _ = load_for_inference(
                ctx.checkpoint(search.reference), ctx.recipe.model.dtype, thinking=thinking
            )
            reference = (step_sampler(large, large_tokenizer), count_parameters(large) / count_parameters(model))
        settings = OptimalSettings(
            search.calibration,
            search.probe,
            search.bins,
            prm_tokens=lambda: scorer.tokens_read,
            prm_weight=count_parameters(scorer.model) / count_parameters(model),
            aggregation=search.aggregation,
            seed=ctx.recipe.seed,
            predictor=search.predictor,
            leftover=search.leftover,
        )
        return compute_optimal_eval(
            sampler,
            prm_score_fn(scorer, thinking.answer_prefix),
            rows,
            strategy_grid(search.methods, search.n, widths=[search.width], thinks=search.think),
            thinking,
            search.budgets,
            settings,
            reference,
        )
    return search_curves(
        sampler,
        prm_score_fn(scorer, thinking.answer_prefix),
        rows,
        search.n,
        search.width,
        search.methods,
        thinking,
        search.aggregation,
    )


def accuracy_by_difficulty(rows: list[dict], out: list[list[dict]]) -> dict:
    """Unlimited-budget accuracy per task difficulty level (digits of a running sum, ...): where a model's
    accuracy comes from, e.g. only from the lengths its training data had. Benchmark rows have no level.
    With several domains, also per domain (`accuracy@inf_<domain>`)."""
    from ponder.inference.sampling import accuracy

    groups = {}
    domains = {row.get("domain") or "default" for row in rows}
    for row, samples in zip(rows, out):
        domain = row.get("domain") or "default"
        if "difficulty" in row:
            groups.setdefault(f"accuracy@inf_{domain}_{row['difficulty']}", []).append(samples)
        if len(domains) > 1:
            groups.setdefault(f"accuracy@inf_{domain}", []).append(samples)
    return {key: accuracy(group) for key, group in sorted(groups.items())}


def held_out_rows(ctx, size: int) -> list[dict]:
    """The stage's `data:` (a benchmark such as MATH-500: prompt + answer, checked by Math-Verify; rows
    from a task_data stage keep their task's verifier), else `size` fresh questions per task."""
    from ponder.data.tasks import task_rows

    opts = ctx.stage.options
    if ctx.stage.data is not None:
        return ctx.dataset(("prompt", "answer")).to_list()[:size]
    return task_rows(opts.tasks, size, opts.seed, opts.difficulty)


def first_per_domain(rows: list[dict], n: int) -> list[dict]:
    """The first `n` rows of each domain (task), in their order."""
    seen = Counter()
    out = []
    for row in rows:
        domain = row.get("domain") or "default"
        if seen[domain] < n:
            out.append(row)
            seen[domain] += 1
    return out


def majority_correct(samples: list[dict]) -> bool:
    """Majority vote over the k final answers (ties: first seen); correct if the winner is."""
    answers = Counter(s["answer_text"].strip() for s in samples if s["answer_text"].strip())
    if not answers:
        return False
    winner = answers.most_common(1)[0][0]
    return any(s["correct"] for s in samples if s["answer_text"].strip() == winner)


KIND = StageKind(
    name="eval",
    options=Options,
    data_columns=("prompt", "answer"),
    main=main,
    produces=frozenset({"eval"}),
    check=check,
    curves=(),
    headline=("direct_accuracy", "accuracy@inf", "pass@1", "majority_vote_accuracy", "s1_control", "s1_scaling"),
)
