"""The sft stage trains for real: loss falls, LoRA moves, base stays, the merged checkpoint keeps the contract."""

import json

import torch
import trl
from conftest import SFT_RECIPE
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from ponder.models.thinking import ThinkingConfig
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import load_recipe


def test_sft_lora_trains_and_writes_the_checkpoint_contract(write_recipe, tmp_path, monkeypatch):
    snapshots = {}
    real_train = trl.SFTTrainer.train

    def spy_train(self, *args, **kwargs):  # records parameters around the real training loop
        snapshots["before"] = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        snapshots["attention"] = self.model.config._attn_implementation
        out = real_train(self, *args, **kwargs)
        snapshots["after"] = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        return out

    monkeypatch.setattr(trl.SFTTrainer, "train", spy_train)
    recipe = load_recipe(
        write_recipe(SFT_RECIPE), ["stages.distill.trainer.max_steps=30", "model.attn_implementation=eager"]
    )
    results = run_recipe(recipe)
    assert snapshots["attention"] == "eager", "the recipe's attention kernel must reach the trained model"
    result = json.loads((tmp_path / "runs/t/distill/result.json").read_text())
    assert result["peak_memory_mb"] > 50 and result["peak_memory_of"] in ("cuda", "process rss")
    args = json.loads((tmp_path / "runs/t/distill/trainer_args.json").read_text())  # every field, resolved
    assert args["max_steps"] == 30 and args["save_total_limit"] == 2 and args["output_dir"].endswith("trainer")
    metrics = results["distill"]["metrics"]
    assert metrics["loss_last"] < metrics["loss_first"] - 0.3, metrics

    before, after = snapshots["before"], snapshots["after"]
    lora = [n for n in before if "lora_" in n]
    base = [n for n in before if "lora_" not in n]
    assert lora and base
    assert all(not torch.equal(before[n], after[n]) for n in lora), "every LoRA parameter must change"
    assert all(torch.equal(before[n], after[n]) for n in base), "base weights must stay frozen"

    stage_dir = tmp_path / "runs" / "t" / "distill"
    result = json.loads((stage_dir / "result.json").read_text())
    assert result["status"] == "finished" and result["artifacts"]["checkpoint"] == "checkpoint"
    ckpt = stage_dir / "checkpoint"
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    base_model = AutoModelForCausalLM.from_pretrained(stage_dir / "base")
    merged_differs = any(
        not torch.equal(a, b) for a, b in zip(model.state_dict().values(), base_model.state_dict().values())
    )
    assert merged_differs, "the merged checkpoint must include the LoRA update"

    stored = GenerationConfig.from_pretrained(ckpt).thinking  # not defaults: the file must carry them
    thinking = ThinkingConfig.from_dict(stored)
    assert thinking.think_start == "<think>" and thinking.extension == "Wait" and "max_thinking_tokens" in stored
    for token in ("<think>", "</think>"):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "sum 123_____"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<think>\n")
    ids = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=30, do_sample=False)
    text = tokenizer.decode(out[0])
    assert "<think>" in text and len(out[0]) > ids["input_ids"].shape[1]
    card = (ckpt / "README.md").read_text()
    assert "loss_last" in card and "<think>" in card


def test_full_finetune_changes_base_weights(write_recipe, tmp_path):
    recipe = load_recipe(write_recipe(SFT_RECIPE), ["stages.distill.lora=null", "stages.distill.trainer.max_steps=4"])
    run_recipe(recipe)
    stage_dir = tmp_path / "runs" / "t" / "distill"
    trained = AutoModelForCausalLM.from_pretrained(stage_dir / "checkpoint").state_dict()
    base = AutoModelForCausalLM.from_pretrained(stage_dir / "base").state_dict()
    assert all(not torch.equal(trained[k], base[k]) for k in trained if k.endswith("q_proj.weight"))
    assert not (stage_dir / "adapter").exists()
