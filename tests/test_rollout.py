"""ponder's rollout path (`ponder.inference.rollout`): shared prefill and finished rows leaving the batch change
nothing a model writes (greedy: the same tokens as `generate`), and sampling follows the distribution."""

import pytest
import torch

from ponder.inference.rollout import GrowingLayer, Sampling, generation_weights, rollout, sample
from ponder.models.modeling import build_tiny_model
from ponder.models.thinking import ThinkingConfig


def model_and_prompts(eos_bias: float = 0.0):
    model, tokenizer = build_tiny_model("micro", ThinkingConfig(), seed=3, attn_implementation="eager")
    model.eval()
    with torch.no_grad():  # an EOS the random model reaches at different steps in different rows
        model.lm_head.weight[tokenizer.eos_token_id] += eos_bias * model.model.embed_tokens.weight.mean(0)
    texts = ["sum 3  4  0  7", "sum 9  1", "cpy 5  5  2  8  1  0", "x"]
    prompts = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    return model, tokenizer, prompts


def greedy_generate(model, tokenizer, prompt: list[int], new: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt]),
            max_new_tokens=new,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    return out[0, len(prompt) :].tolist()


@pytest.mark.parametrize("eos_bias, room", [(0.0, 64), (40.0, 64), (0.0, 3)])
def test_greedy_rollout_equals_generate_row_by_row(eos_bias, room, monkeypatch):
    """Shared prefill, rows leaving the batch (eos_bias) and a cache that has to grow many times (room 3)."""
    monkeypatch.setattr(GrowingLayer, "ROOM", room)
    model, tokenizer, prompts = model_and_prompts(eos_bias)
    rows = [p for p in prompts for _ in range(3)]  # GRPO's groups: each prompt 3 times in a row
    sampling = Sampling(24, (tokenizer.eos_token_id,), tokenizer.pad_token_id, temperature=0.0)
    got = rollout(model, rows, sampling)
    expected = [greedy_generate(model, tokenizer, p, 24) for p in rows]
    assert got == expected
    lengths = {len(g) for g in got}
    if eos_bias:  # rows ended at different steps: the compaction path ran
        assert len(lengths) > 1 and min(lengths) < 24, lengths


def test_sampling_follows_temperature_top_k_and_top_p():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(4000, 1)
    gen = torch.Generator().manual_seed(0)
    draws = sample(logits, Sampling(1, (0,), 0, temperature=1.0), gen)
    share = torch.bincount(draws, minlength=4).float() / len(draws)
    assert torch.allclose(share, logits[0].softmax(-1), atol=0.03)
    assert set(sample(logits, Sampling(1, (0,), 0, top_k=2), gen).tolist()) == {0, 1}
    p = logits[0].softmax(-1)  # top_p just above the first token's mass keeps two tokens
    assert set(sample(logits, Sampling(1, (0,), 0, top_p=float(p[0]) + 0.01), gen).tolist()) == {0, 1}


def test_rollout_runs_in_the_trainers_precision():
    model, tokenizer, prompts = model_and_prompts()
    seen = []
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    sampling = Sampling(8, (tokenizer.eos_token_id,), tokenizer.pad_token_id)
    out = rollout(model, prompts, sampling, precision=torch.bfloat16)
    assert seen and set(seen) == {torch.bfloat16} and all(0 < len(o) <= 8 for o in out)
    assert all(0 <= t < len(tokenizer) for o in out for t in o)
    seen.clear()
    rollout(model, prompts, sampling)
    assert set(seen) == {torch.float32}


def test_lora_is_folded_in_for_the_rollout_and_restored_after():
    """Under autocast a LoRA model runs as plain linear layers holding W + BA in bf16: the same function (logits
    within bf16 rounding of the adapter's own), and afterwards the very same adapter modules, outputs and gradients."""
    from peft import get_peft_model

    from ponder.recipes.schema import LoraSettings
    from ponder.trainers.common import lora_config

    model, tokenizer, prompts = model_and_prompts()
    model = get_peft_model(model, lora_config(LoraSettings(r=4, alpha=8)))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)  # a trained adapter: far from the base model
    x = torch.tensor([prompts[0]])
    before = dict(model.named_modules())
    with torch.no_grad():
        lora = model(input_ids=x).logits
        with model.disable_adapter():
            base = model(input_ids=x).logits
        with generation_weights(model, torch.bfloat16):
            inside = dict(model.named_modules())
            folded = [m for n, m in inside.items() if n in before and m is not before[n]]
            assert folded and all(type(m) is torch.nn.Linear and m.weight.dtype == torch.bfloat16 for m in folded)
            assert not any("lora" in n for n in inside)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                merged = model(input_ids=x).logits.float()
        after = model(input_ids=x).logits
    assert dict(model.named_modules()).items() == before.items() and torch.equal(after, lora)
    assert (merged - lora).abs().max() < 0.1 * (lora - base).abs().max()
    model(input_ids=x).logits.sum().backward()
    assert all(p.grad is not None for name, p in model.named_parameters() if "lora_" in name)
    sampling = Sampling(8, (tokenizer.eos_token_id,), tokenizer.pad_token_id, temperature=0.0)
    assert all(0 < len(o) <= 8 for o in rollout(model, prompts, sampling, precision=torch.bfloat16))
    assert dict(model.named_modules()).items() == before.items()


@pytest.mark.parametrize("eos_bias", [0.0, 40.0])
def test_generate_on_the_rollout_path_forces_budgets_like_hf_generate(eos_bias):
    """`generate` (eval, curation, the server) runs on the rollout path: per-row budget forcing state follows each
    row as finished rows leave the batch, and every row gets the tokens HF `generate` gives it alone with the same
    processor (greedy), min, max and ignored stops mixed in one batch."""
    from ponder.inference.generation import budget_processor, generate

    model, tokenizer, _ = model_and_prompts(eos_bias)
    thinking = ThinkingConfig()
    questions = ["sum 3  4  0  7", "sum 9  1", "cpy 5  5  2  8  1  0", "x", "sum 1  2"]
    budgets = {"min_thinking_tokens": [0, 6, 0, 3, 0], "max_thinking_tokens": [None, 10, 2, None, 0]}
    batch = [[{"role": "user", "content": q}] for q in questions]
    stops = [0, 0, 1, 0, 0]
    got = generate(model, tokenizer, batch, ignore_stops=stops, max_new_tokens=20, thinking=thinking, **budgets)
    for i, messages in enumerate(batch):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        lo, hi = budgets["min_thinking_tokens"][i], budgets["max_thinking_tokens"][i]
        processor = budget_processor(tokenizer, thinking, [lo], [hi], [stops[i]])
        with torch.no_grad():
            out = model.generate(
                ids,
                max_new_tokens=20,
                do_sample=False,
                logits_processor=[processor],
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        assert got[i].text == tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=False)
        state = processor.rows[0]
        assert (got[i].forced_stop, got[i].extensions) == (state.forced_stop, state.extensions)
    assert got[1].thinking_tokens >= 6 and got[4].thinking_tokens == 0 and got[2].thinking_tokens <= 2
    if eos_bias:  # rows ended at different steps: the batch was compacted under the processor
        assert len({g.completion_tokens for g in got}) > 1


@pytest.mark.parametrize("reused", [False, True])
def test_grpo_loss_skips_zero_advantage_completions_with_the_same_gradient(tmp_path, reused):
    """Completions of groups that all scored alike (advantage 0) leave the loss's forward and backward; the gradient
    and the loss are TRL's own, to rounding. `reused`: a batch trained again (num_iterations > 1) carries the
    generating policy's log-probabilities, so the ratio moves off 1 and clipping cuts some tokens."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    from ponder.trainers.grpo import PonderGRPOTrainer

    model, tokenizer, _ = model_and_prompts()
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=6,
        num_generations=2,
        max_completion_length=8,
        report_to=[],
        use_cpu=True,
        bf16=False,
    )
    trainer = PonderGRPOTrainer(
        model=model,
        reward_funcs=lambda completions, **_: [0.0] * len(completions),
        args=args,
        train_dataset=datasets.Dataset.from_list([{"prompt": "sum 3 4"}] * 6),
        processing_class=tokenizer,
    )
    gen = torch.Generator().manual_seed(0)
    completion_mask = torch.ones(6, 8, dtype=torch.long)
    completion_mask[1, 5:] = 0
    inputs = {
        "prompt_ids": torch.randint(5, 20, (6, 4), generator=gen),
        "prompt_mask": torch.ones(6, 4, dtype=torch.long),
        "completion_ids": torch.randint(5, 20, (6, 8), generator=gen),
        "completion_mask": completion_mask,
        "advantages": torch.tensor([0.0, 0.7, -0.7, 0.0, 0.0, 0.0]),  # rows 0, 3-5: groups without signal
        "num_items_in_batch": completion_mask.sum(),
    }
    if reused:
        inputs["old_per_token_logps"] = -4.0 + 0.5 * torch.randn(6, 8, generator=gen)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.training_step

    def loss_and_grads(compute) -> tuple:
        trainer.model.zero_grad()
        loss = compute(trainer.model, dict(inputs))
        loss.backward()
        return loss.item(), [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]

    seen = []
    forward = trainer.model.forward
    trainer.model.forward = lambda *a, **k: seen.append(k["input_ids"].shape[0]) or forward(*a, **k)
    ours, ours_grads = loss_and_grads(trainer.compute_loss)
    trl, trl_grads = loss_and_grads(lambda m, i: GRPOTrainer.compute_loss(trainer, m, i))
    assert seen == [2, 6]  # only rows 1 and 2 ran the forward pass
    if reused:  # the clipped region was reached, in both losses
        assert all(r > 0 for r in trainer._metrics["train"]["clip_ratio/region_mean"])
    assert ours == pytest.approx(trl, rel=1e-5) and ours != 0.0
    assert len(ours_grads) == len(trl_grads) > 0
    for a, b in zip(ours_grads, trl_grads):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
