"""Seconds per GRPO step, split into generation, reward and training: ponder's grpo stage vs a plain
TRL GRPOTrainer with the same config, model, prompts and reward functions, in one run.

    python bench/grpo_step.py [--steps 8]

Both train a fresh `tiny:tiny` Qwen2 (full fine-tuning) on running-sum prompts, batch 16, 8
generations, 48 new tokens. The same timers wrap TRL's `train`, `_generate` and `_calculate_rewards` in
both runs; training = step time - generation - reward. ponder's extra work per step is its reward guard
and two weight-0 metric rewards (accuracy, thinking length).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_one_stage, write_results  # noqa: E402

FIELDS = dict(
    per_device_train_batch_size=16,
    num_generations=8,
    max_completion_length=48,
    learning_rate=1e-4,
    logging_steps=1,
    log_completions=False,
    save_strategy="no",
    report_to="none",
    seed=0,
)


class Timers:
    def __init__(self):
        self.generation = self.reward = self.total = 0.0

    def install(self, monkey):
        from trl import GRPOTrainer

        for name, slot in (("_generate", "generation"), ("_calculate_rewards", "reward"), ("train", "total")):
            original = getattr(GRPOTrainer, name)

            def timed(self_, *args, _original=original, _slot=slot, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(self_, *args, **kwargs)
                finally:
                    setattr(self, _slot, getattr(self, _slot) + time.perf_counter() - start)

            monkey.append((name, original))
            setattr(GRPOTrainer, name, timed)


def restore(monkey):
    from trl import GRPOTrainer

    for name, original in monkey:
        setattr(GRPOTrainer, name, original)


def timed_run(fn, steps):
    timers, monkey = Timers(), []
    timers.install(monkey)
    try:
        fn()  # only time inside GRPOTrainer.train counts: model building and checkpoint export do not
    finally:
        restore(monkey)
    total = timers.total
    return {
        "step_s": total / steps,
        "generation_s": timers.generation / steps,
        "reward_s": timers.reward / steps,
        "training_s": (total - timers.generation - timers.reward) / steps,
    }


def run_ponder(out: Path, steps: int):
    fields = ", ".join(f"{k}: {v}" for k, v in {**FIELDS, "max_steps": steps}.items() if k != "save_strategy")
    run_one_stage(
        out,
        "tiny:tiny",
        f"""  - name: rl
    kind: grpo
    tasks: [running_sum]
    size: 256
    lora: null
    rewards: [{{name: accuracy}}, {{name: format, weight: 0.2}}]
    trainer: {{{fields}, save_steps: 100000}}
""",
    )


def run_trl(out: Path, steps: int):
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    from ponder.data.tasks import get_task
    from ponder.models.modeling import build_tiny_model
    from ponder.models.prompts import render_prompts
    from ponder.rewards.registry import get_reward
    from ponder.trainers.common import cpu_defaults

    model, tokenizer = build_tiny_model("tiny")
    dataset = datasets.Dataset.from_list(render_prompts(get_task("running_sum").rows(256, 1), tokenizer))
    args = GRPOConfig(
        output_dir=str(out / "trl"), max_steps=steps, reward_weights=[1.0, 0.2], **FIELDS, **cpu_defaults()
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[get_reward("accuracy"), get_reward("format")],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    figures = {"steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_trl(tmp, 1)  # warm-up: imports, worker pool start-up
        for name, fn in (("trl", run_trl), ("ponder", run_ponder)):
            for key, value in timed_run(lambda fn=fn: fn(tmp, args.steps), args.steps).items():
                figures[f"{name}_{key}"] = round(value, 4)
    figures["ponder_vs_trl_step_time_ratio"] = round(figures["ponder_step_s"] / figures["trl_step_s"], 3)
    write_results("grpo_step", figures)


if __name__ == "__main__":
    main()
