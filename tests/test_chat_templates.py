"""A model's own chat template is kept and gets the thinking prefill: ChatML (SmolLM2-style, default system
prompt), Llama-3-style and Qwen2.5-style templates, built in-process on the byte tokenizer."""

import datasets
import pytest
from scripted_model import scripted

from ponder.inference.generation import generate
from ponder.models.chat import build_char_tokenizer, ensure_thinking_tokens
from ponder.models.sft_format import to_prompt_completion
from ponder.models.thinking import ThinkingConfig

THINKING = ThinkingConfig()
SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
FAMILIES = {
    "chatml": (
        ["<|im_start|>", "<|im_end|>"],
        "<|im_end|>",
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\n" + SMOL_SYSTEM + "<|im_end|>\\n' }}{% endif %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    ),
    "llama3": (
        ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"],
        "<|end_of_text|>",
        "{{- '<|begin_of_text|>' }}{%- for message in messages %}"
        "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
        " + '<|eot_id|>' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
    ),
    "qwen2.5": (
        ["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
        "<|endoftext|>",
        "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
        "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\n" + QWEN_SYSTEM + "<|im_end|>\\n' }}{%- endif %}"
        "{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}"
        "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}"
        "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
    ),
}
END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>", "qwen2.5": "<|im_end|>"}
HEADER = {
    "chatml": "<|im_start|>assistant\n",
    "llama3": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "qwen2.5": "<|im_start|>assistant\n",
}
SYSTEM = {"chatml": SMOL_SYSTEM, "llama3": None, "qwen2.5": QWEN_SYSTEM}


def family_tokenizer(family: str):
    """A hub-like tokenizer: the family's special tokens, its base eos, its template without thinking."""
    tokens, eos, template = FAMILIES[family]
    tokenizer = build_char_tokenizer(THINKING)
    tokenizer.add_special_tokens({"additional_special_tokens": tokens})
    tokenizer.eos_token, tokenizer.pad_token, tokenizer.chat_template = eos, None, template
    return tokenizer


@pytest.fixture(params=sorted(FAMILIES))
def family(request):
    tokenizer = family_tokenizer(request.param)
    ensure_thinking_tokens(tokenizer, THINKING)
    return request.param, tokenizer


def test_own_template_kept_with_the_thinking_prefill(family):
    name, tokenizer = family
    question = [{"role": "user", "content": "sum 3  4  _"}]
    prompt = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith(HEADER[name] + "<think>\n")
    assert SYSTEM[name] is None or SYSTEM[name] in prompt  # the model's default system prompt survives
    direct = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert direct.endswith(HEADER[name] + "<think>\n\n</think>\n\n")
    assert tokenizer.eos_token == END_OF_TURN[name] and tokenizer.pad_token is not None
    for marker in (END_OF_TURN[name], "<think>", "</think>"):  # single tokens, never split into pieces
        assert len(tokenizer(marker, add_special_tokens=False)["input_ids"]) == 1


def test_sft_trains_on_the_completion_ending_with_the_end_of_turn(family, tmp_path):
    """TRL's labels cover exactly reasoning + </think> + answer + the template's end-of-turn token."""
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import SFTConfig, SFTTrainer

    name, tokenizer = family
    rows = datasets.Dataset.from_list([{"prompt": "sum 3  4  _", "reasoning": "3\n\n7", "answer": "7"}])
    data = to_prompt_completion(rows, tokenizer, THINKING)
    assert data[0]["prompt"].endswith(HEADER[name] + "<think>\n")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, use_cpu=True, bf16=False, report_to="none")
    trainer = SFTTrainer(model=Qwen2ForCausalLM(config), args=args, train_dataset=data, processing_class=tokenizer)
    row = trainer.train_dataset[0]
    taught = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
    assert tokenizer.decode(taught) == f"3\n\n7\n</think>\n\nFinal Answer: 7{END_OF_TURN[name]}"


@pytest.mark.parametrize("budget", [0, 4, 32])
def test_budget_forcing_is_exact_on_the_template(family, budget):
    name, tokenizer = family
    k = 12
    model = scripted(tokenizer, k)
    messages = [{"role": "user", "content": "q"}]
    (g,) = generate(model, tokenizer, messages, max_thinking_tokens=budget, max_new_tokens=80, thinking=THINKING)
    assert g.thinking_tokens == min(budget, k) and g.forced_stop == (budget < k)
    assert g.text.endswith(END_OF_TURN[name])  # it stops on the template's end-of-turn token
