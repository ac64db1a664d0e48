"""`self_improve` stage: STaR / rejection-sampling rounds (ReST-EM, RFT) on the current model.

Each round samples k completions per problem from the current checkpoint, keeps the ones the verifier
accepts (deduplicated, at most `keep_per_problem` per problem), fine-tunes on them with the sft
trainer, and logs the sample pass rate and the held-out accuracy (greedy) of the checkpoint it
started from; the final checkpoint's held-out accuracy closes the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ponder.recipes.context import StageError
from ponder.recipes.kind import StageKind
from ponder.recipes.schema import DECONTAMINATE_HELP, DIFFICULTY_HELP, NGRAM_HELP, LoraSettings, check_difficulty
from ponder.recipes.sft import DEFAULTS


@dataclass
class Options:
    tasks: list = field(default_factory=list, metadata={"help": "Task names for the problems."})
    size: int = field(default=256, metadata={"help": "Problems per task."})
    difficulty: dict = field(default_factory=dict, metadata={"help": DIFFICULTY_HELP})
    rounds: int = field(default=2, metadata={"help": "Sample -> filter -> fine-tune rounds (R)."})
    samples: int = field(default=4, metadata={"help": "Completions per problem per round (k)."})
    keep_per_problem: int = field(
        default=2, metadata={"help": "Cap on kept distinct solutions per problem (ReST-EM: 10)."}
    )
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature."})
    max_new_tokens: int = field(default=128, metadata={"help": "Max new tokens per sample."})
    heldout_size: int = field(default=64, metadata={"help": "Held-out problems per task for per-round accuracy."})
    decontaminate: list = field(default_factory=list, metadata={"help": DECONTAMINATE_HELP})
    ngram: int = field(default=8, metadata={"help": NGRAM_HELP})
    lora: Optional[LoraSettings] = field(default_factory=LoraSettings, metadata={"help": "`lora: null` = full."})

    def __post_init__(self):
        if self.rounds < 1 or self.samples < 1 or self.keep_per_problem < 1:
            raise ValueError("rounds, samples and keep_per_problem must be >= 1")
        if not self.tasks:
            raise ValueError("self_improve needs tasks (problems with verifiable answers)")
        check_difficulty(self.tasks, self.difficulty)


def main(ctx) -> dict:
    import datasets

    from ponder.data.loading import save_dataset
    from ponder.data.tasks import task_rows
    from ponder.inference.sampling import accuracy, sample_and_verify
    from ponder.models.loading import load_for_inference
    from ponder.trainers.common import prepare_model
    from ponder.trainers.sft import SFTRequest, train_sft

    recipe, opts = ctx.recipe, ctx.stage.options
    problems = {r["id"]: r for r in task_rows(opts.tasks, opts.size, recipe.seed + 2, opts.difficulty)}
    heldout = [
        r
        for r in task_rows(opts.tasks, opts.heldout_size, recipe.seed + 3, opts.difficulty)
        if r["id"] not in problems
    ]  # held out = never trained on
    problems, dropped = ctx.without_eval_questions(list(problems.values()))
    metrics = {"problems": len(problems), "heldout": len(heldout), "dropped_contaminated": dropped}
    current = ctx.model_source()
    if current.startswith("tiny:"):
        current = prepare_model(ctx, current, ctx.workdir)[2]
    thinking, kept_all = recipe.thinking, []

    def heldout_accuracy(model, tokenizer) -> float:
        return accuracy(sample_and_verify(model, tokenizer, thinking, heldout, max_new_tokens=opts.max_new_tokens))

    for r in range(1, opts.rounds + 1):
        model, tokenizer, _ = load_for_inference(current, recipe.model.dtype, thinking=recipe.thinking)
        metrics[f"round{r}_heldout_accuracy"] = metrics["final_heldout_accuracy"] = heldout_accuracy(model, tokenizer)
        samples = sample_and_verify(
            model,
            tokenizer,
            thinking,
            problems,
            k=opts.samples,
            temperature=opts.temperature,
            max_new_tokens=opts.max_new_tokens,
        )
        kept = []
        for problem, row_samples in zip(problems, samples):
            distinct = {s["reasoning"]: s for s in row_samples if s["correct"] and s["reasoning"]}  # dedupe
            kept += [
                {
                    "prompt": problem["prompt"],
                    "answer": problem["answer"],
                    "reasoning": s["reasoning"],
                    "model_answer": s["answer_text"],
                    "domain": problem["domain"],
                    "round": r,
                }
                for s in list(distinct.values())[: opts.keep_per_problem]
            ]
        metrics[f"round{r}_sample_pass_rate"] = accuracy(samples)
        metrics[f"round{r}_problems_solved"] = sum(any(s["correct"] for s in row) for row in samples)
        metrics[f"round{r}_kept"] = len(kept)
        print(
            f"self_improve round {r}: pass rate {metrics[f'round{r}_sample_pass_rate']:.3f}, kept {len(kept)}, "
            f"held-out accuracy {metrics[f'round{r}_heldout_accuracy']:.3f}",
            flush=True,
        )
        if not kept:
            print(f"self_improve round {r}: no verified sample to learn from; stopping", flush=True)
            break
        kept_all += kept
        round_dir = ctx.workdir / f"round{r}"
        rows = datasets.Dataset.from_list(kept)
        outcome = train_sft(ctx, SFTRequest(current, rows, opts.lora, round_dir))
        metrics[f"round{r}_loss_last"] = outcome["metrics"].get("loss_last")
        current = str(ctx.workdir / outcome["artifacts"]["checkpoint"])
    else:  # every round trained: the last checkpoint has not been evaluated yet
        metrics["final_heldout_accuracy"] = heldout_accuracy(
            *load_for_inference(current, recipe.model.dtype, thinking=recipe.thinking)[:2]
        )
    artifacts = save_dataset(datasets.Dataset.from_list(kept_all), ctx.workdir) if kept_all else {}
    inside = Path(current).is_relative_to(ctx.workdir)  # stage-relative: the folder is renamed when done
    if not inside and not Path(current).is_dir():  # a hub id or packaged model: no folder to name
        raise StageError(
            f"stage {ctx.stage.name!r}: round 1 kept no verified sample, so nothing was trained from {current!r} "
            "(raise samples or temperature, or start from a model that solves some problems)"
        )
    # no round trained: the model it started from, as an absolute path (a relative one would be read from this stage)
    artifacts["checkpoint"] = str(Path(current).relative_to(ctx.workdir) if inside else Path(current).resolve())
    return {"metrics": metrics, "artifacts": artifacts}


KIND = StageKind(
    name="self_improve",
    options=Options,
    main=main,
    produces=frozenset({"data", "model"}),
    trainer_config="trl.SFTConfig",
    defaults=DEFAULTS,  # each round trains with the sft kind's defaults
    distributed=True,
    headline=("round1_heldout_accuracy", "final_heldout_accuracy", "round1_kept", "problems"),
)
