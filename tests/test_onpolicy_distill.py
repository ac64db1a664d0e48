"""The distill_onpolicy stage: on TRL's DistillationTrainer the divergence from the teacher falls, the checkpoint keeps
the thinking contract, and validation refuses a teacher that is missing, later in the recipe, no model, or of another
tokenizer (read from tokenizer files, before any model loads)."""

import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from ponder.models.chat import build_char_tokenizer
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import RecipeError, load_recipe

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT / "tests/assets/tiny-reasoner"  # the default recipe's distilled model, right about half the time

RECIPE = f"""
name: t
model: {{name_or_path: "tiny:micro"}}
stages:
  - {{name: data, kind: task_data, tasks: [running_sum], size: 64, difficulty: {{running_sum: [3, 4]}}}}
  - name: onpolicy
    kind: distill_onpolicy
    teacher: {TEACHER}
    data: data
    lora: null
    trainer: {{max_steps: 12, per_device_train_batch_size: 8, learning_rate: 1.0e-2, lr_scheduler_type: constant,
              max_completion_length: 16}}
"""


def test_the_divergence_falls_and_the_checkpoint_keeps_the_thinking_contract(write_recipe, tmp_path):
    results = run_recipe(load_recipe(write_recipe(RECIPE)))
    stage = tmp_path / "runs/t/onpolicy"
    logs = [json.loads(line) for line in (stage / "train_log.jsonl").read_text().splitlines()]
    losses = [h["loss"] for h in logs if "loss" in h]
    assert len(losses) == 12 and all("entropy" in h and "completions/mean_length" in h for h in logs if "loss" in h)
    # reverse KL from the tiny reasoner of a random tiny:micro: 8.6 over the first 3 steps, 5.9 over the last 3 (fp32)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0, losses
    assert results["onpolicy"]["metrics"]["train_prompts"] == 64
    args = json.loads((stage / "trainer_args.json").read_text())
    assert args["teacher_model_name_or_path"] == str(TEACHER) and args["beta"] == 1.0
    assert (stage / "training_curve.png").exists() and "## onpolicy (distill_onpolicy)" in (
        tmp_path / "runs/t/report.md"
    ).read_text()

    checkpoint = stage / "checkpoint"
    trained, base = (AutoModelForCausalLM.from_pretrained(stage / d).state_dict() for d in ("checkpoint", "base"))
    assert all(not torch.equal(trained[k], base[k]) for k in trained if k.endswith("q_proj.weight"))  # lora: null
    thinking = GenerationConfig.from_pretrained(checkpoint).thinking  # written, not defaults
    assert thinking["think_start"] == "<think>" and thinking["think_end"] == "</think>"
    assert thinking["answer_prefix"] == "Final Answer:" and "max_thinking_tokens" in thinking
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert all(len(tokenizer(t, add_special_tokens=False).input_ids) == 1 for t in ("<think>", "</think>"))
    turn = [{"role": "user", "content": "sum 1  2  _  _"}]
    assert tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True).endswith("<think>\n")
    direct = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert direct.endswith("<think>\n\n</think>\n\n")


def test_prompts_without_answers_and_decontaminated(write_recipe, tmp_path):
    """The teacher grades the student's own tokens: a prompt column is all the data needs (grpo, which scores
    answers, refuses the same file naming `answer`); `decontaminate:` drops the eval questions among the prompts."""
    from ponder.data.tasks import task_rows

    heldout = task_rows(["running_sum"], 6, 10_000, {"running_sum": [3, 4]})
    fresh = task_rows(["running_sum"], 10, 7, {"running_sum": [3, 4]})
    asked = [r["prompt"] for r in heldout]
    prompts = asked + [r["prompt"] for r in fresh if r["prompt"] not in asked]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    spec = "[{task: running_sum, size: 6, seed: 10000, difficulty: [3, 4]}]"
    overrides = [
        f"stages.onpolicy.data={{path: {tmp_path / 'prompts.jsonl'}}}",
        "stages.onpolicy.trainer.max_steps=1",
        f"stages.onpolicy.decontaminate={spec}",
        "stages.onpolicy.ngram=0",
    ]
    metrics = run_recipe(load_recipe(write_recipe(RECIPE), overrides))["onpolicy"]["metrics"]
    assert metrics["dropped_contaminated"] == 6 and metrics["train_prompts"] == len(prompts) - 6 > 0
    grpo = RECIPE.replace("kind: distill_onpolicy", "kind: grpo").replace(f"    teacher: {TEACHER}\n", "")
    error = refusal(write_recipe, overrides[0], text=grpo)
    assert error.key == "stages.onpolicy.data.path" and "no column 'answer'" in str(error), error


def refusal(write_recipe, *overrides, text: str = RECIPE) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(write_recipe(text), list(overrides))
    return info.value


def test_a_missing_later_or_modelless_teacher_is_refused(write_recipe):
    error = refusal(write_recipe, "stages.onpolicy.teacher=null")
    assert error.key == "stages.onpolicy.teacher" and "needs a teacher" in str(error)
    later = RECIPE + "  - {name: sft, kind: sft, data: data}\n"
    error = refusal(write_recipe, "stages.onpolicy.teacher=sft", text=later)
    assert error.key == "stages.onpolicy.teacher" and "'sft' is neither an earlier stage" in str(error)
    error = refusal(write_recipe, "stages.onpolicy.teacher=data")
    assert error.key == "stages.onpolicy.teacher" and "stage 'data' (task_data) produces no model" in str(error)
    error = refusal(write_recipe, "stages.onpolicy.trainer.teacher_model_revision=main")
    assert error.key == "stages.onpolicy.trainer.teacher_model_revision" and "loads the teacher itself" in str(error)
    assert "forward KL" in str(refusal(write_recipe, "stages.onpolicy.trainer.beta=1.5"))
    assert "drop lm_head" in str(refusal(write_recipe, "stages.onpolicy.lora={target_modules: [q_proj, lm_head]}"))


def test_a_teacher_of_another_tokenizer_is_refused_naming_both(write_recipe, tmp_path):
    other = build_char_tokenizer()
    other.add_tokens(["<tool>"])
    other.save_pretrained(tmp_path / "other")  # a tokenizer alone: validation reads no model
    error = refusal(write_recipe, f"stages.onpolicy.teacher={tmp_path / 'other'}")
    assert error.key == "stages.onpolicy.teacher" and "GOLD" in str(error)
    assert "has Qwen2Tokenizer (262 tokens), 'tiny:micro' ponder's byte tokenizer (261 tokens)" in str(error)
    assert "'<tool>' is token 261 in the first, absent in the second" in str(error)
    build_char_tokenizer().save_pretrained(tmp_path / "same")  # the student's byte tokenizer: accepted
    load_recipe(write_recipe(RECIPE), [f"stages.onpolicy.teacher={tmp_path / 'same'}"])
    # a teacher stage is followed back through `init:` to the model it starts from
    staged = RECIPE.replace("  - name: onpolicy", "  - {name: sft, kind: sft, data: data}\n  - name: onpolicy")
    load_recipe(write_recipe(staged), ["stages.onpolicy.teacher=sft"])  # from the recipe model, as the student
    error = refusal(write_recipe, "stages.onpolicy.teacher=sft", f"stages.sft.init={tmp_path / 'other'}", text=staged)
    assert error.key == "stages.onpolicy.teacher" and "'<tool>'" in str(error)


def docs_block() -> dict:
    section = (ROOT / "docs/recipes.md").read_text().split("### On-policy distillation\n")[1]
    (stage,) = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1))
    return stage


def flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip()  # 5.0e-05, not json's 5e-05 (a YAML string)


def test_docs_block_validates_in_the_tiny_reasoner_with_its_grpo_stage_as_teacher():
    """docs/recipes.md's block, put after configs/tiny/reasoner.yaml's grpo stage (in eval_base's place), validates
    with no tokenizer read: the teacher and the student both start from the recipe's copy-base."""
    stage = docs_block()
    recipe = load_recipe(ROOT / "configs/tiny/reasoner.yaml", [f"stages.eval_base={flow(stage)}"])
    onpolicy = recipe.stage("onpolicy")
    assert onpolicy.kind == "distill_onpolicy" and onpolicy.options.teacher == "grpo" and onpolicy.init == "distill"
    assert onpolicy.trainer == stage["trainer"] and onpolicy.options.lora is None


def test_validate_compares_tokenizer_files_without_importing_torch(write_recipe):
    from test_validate_types import run_cli

    proc, _, loaded = run_cli("validate", str(write_recipe(RECIPE)))  # tiny:micro vs the tiny reasoner's files
    assert proc.returncode == 0 and "ok " in proc.stdout, proc.stderr
    assert loaded == ["False", "False"], f"validate imported torch/trl: {loaded}"


@pytest.mark.slow
def test_tiny_reasoner_with_the_docs_block_end_to_end(tmp_path, capfd):
    """curate -> sft -> grpo -> distill_onpolicy (grpo teaches distill) -> eval, shrunk, through `ponder run`."""
    from test_tiny_recipe import SHRINK

    from ponder.recipes.cli import main

    stage = {**docs_block(), "size": 32, "trainer": {**docs_block()["trainer"], "max_steps": 3}}
    evaluate = {"name": "eval_onpolicy", "kind": "eval", "init": "onpolicy", "tasks": ["running_sum"], "size": 8}
    overrides = [f"output_dir={tmp_path}", *SHRINK, f"stages.eval_base={flow(stage)}"]
    overrides.append(f"stages.eval_distill={flow(evaluate)}")
    assert main(["run", "configs/tiny/reasoner.yaml", *overrides]) == 0
    out = capfd.readouterr().out
    (line,) = [line for line in out.split("\n") if line.lstrip().startswith("onpolicy: ")]
    assert "loss " in line, out  # the progress line shows the divergence
    run_dir = tmp_path / "tiny-reasoner"
    result = json.loads((run_dir / "onpolicy" / "result.json").read_text())
    assert result["status"] == "finished" and result["metrics"]["global_step"] == 3
    args = json.loads((run_dir / "onpolicy" / "trainer_args.json").read_text())
    assert args["teacher_model_name_or_path"] == str(run_dir / "grpo" / "checkpoint")
    evaluated = json.loads((run_dir / "eval_onpolicy" / "result.json").read_text())
    assert evaluated["status"] == "finished" and "accuracy" in json.dumps(evaluated["metrics"])
    assert "| eval_onpolicy | onpolicy |" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_distill_onpolicy_under_torchrun_two_processes(write_recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    launcher = ["stages.onpolicy.launcher={type: torchrun, num_processes: 2}", "stages.onpolicy.trainer.max_steps=2"]
    lora = ["stages.onpolicy.lora={r: 8, alpha: 16}", "stages.onpolicy.trainer.per_device_train_batch_size=4"]
    path, overrides = write_recipe(RECIPE), launcher + lora
    metrics = run_recipe(load_recipe(path, overrides), overrides)["onpolicy"]["metrics"]  # the processes load both
    # 2 steps x 4 prompts x 2 processes = 16 of 64 prompts: a quarter epoch proves both ranks trained
    assert metrics["global_step"] == 2 and metrics["epoch"] == pytest.approx(0.25)
    assert (tmp_path / "runs/t/onpolicy/adapter/adapter_config.json").exists()
    thinking = GenerationConfig.from_pretrained(tmp_path / "runs/t/onpolicy/checkpoint").thinking
    assert thinking["think_end"] == "</think>"
