"""A scripted causal LM for budget-forcing tests: it "wants" to close thinking after k thinking tokens.

Only the logits are scripted; generation runs through ponder's `generate` (the rollout path, whose KV cache this
model fills with the token ids themselves) or HF `generate`, with ponder's processor.
After `<think>` (and the template's newline), it prefers "a" until k thinking tokens, then `</think>`;
after `</think>` it writes "42" and then EOS. Before any `<think>` it opens one.
`stop_with_eos`: it ends thinking with EOS instead of `</think>`. `chaos_seed`: instead of stopping after k
tokens, at each thinking position it wants to stop with probability `p_stop` (by `</think>` or EOS, drawn from
the seed and the position), so random models can be scripted for property tests.
"""

import os
import random

import torch
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput


class ScriptedConfig(PretrainedConfig):
    model_type = "ponder-scripted"

    def __init__(
        self,
        vocab_size=100,
        think_start_id=3,
        think_end_id=4,
        eos_id=2,
        k=5,
        letter_id=10,
        answer_ids=(20, 21),
        newline_id=1,
        stop_with_eos=False,
        chaos_seed=None,
        p_stop=0.3,
        **kwargs,
    ):
        kwargs.setdefault("num_hidden_layers", 1)
        kwargs.setdefault("use_cache", False)
        super().__init__(**kwargs)
        self.vocab_size, self.k = vocab_size, k
        self.think_start_id, self.think_end_id, self.eos_id = think_start_id, think_end_id, eos_id
        self.letter_id, self.answer_ids, self.newline_id = letter_id, list(answer_ids), newline_id
        self.stop_with_eos, self.chaos_seed, self.p_stop = stop_with_eos, chaos_seed, p_stop


class ScriptedThinker(PreTrainedModel, GenerationMixin):
    config_class = ScriptedConfig
    _supports_cache_class = False

    def __init__(self, config):
        super().__init__(config)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def next_token(self, ids: list[int]) -> int:
        c = self.config
        if c.think_start_id not in ids:
            return c.think_start_id
        after = ids[len(ids) - 1 - ids[::-1].index(c.think_start_id) + 1 :]
        if after and after[0] == c.newline_id:  # the template's "<think>\n" prefill is not thinking
            after = after[1:]
        if c.think_end_id not in after:
            return self.thinking_token(len(after))
        answer = after[after.index(c.think_end_id) + 1 :]
        written = [t for t in answer if t in c.answer_ids]
        return c.answer_ids[len(written)] if len(written) < len(c.answer_ids) else c.eos_id

    def thinking_token(self, position: int) -> int:
        c = self.config
        if c.chaos_seed is None:
            wants_stop, by_eos = position >= c.k, c.stop_with_eos
        else:
            draw = random.Random(c.chaos_seed * 100_003 + position)
            wants_stop, by_eos = draw.random() < c.p_stop, draw.random() < 0.5
        if not wants_stop:
            return c.letter_id
        return c.eos_id if by_eos else c.think_end_id

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, **kwargs):
        logits = torch.full((*input_ids.shape, self.config.vocab_size), -10.0, device=input_ids.device)
        history = input_ids
        if past_key_values is not None:  # its "KV cache" holds the token ids themselves, so rollouts can drive it
            ids = input_ids[:, None, :, None].float()
            history = past_key_values.update(ids, ids, 0)[0][:, 0, :, 0].long()
        for b, row in enumerate(history.tolist()):
            if attention_mask is not None:
                row = [t for t, m in zip(row, attention_mask[b].tolist()) if m]
            logits[b, -1, self.next_token(row)] = 10.0
            logits[b, -1, self.config.letter_id] = max(logits[b, -1, self.config.letter_id].item(), 5.0)
        return CausalLMOutput(logits=logits)

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        return {"input_ids": input_ids, "attention_mask": attention_mask}


def scripted(tokenizer, k, **behaviour):
    """A ScriptedThinker on `tokenizer`'s ids: thinks k letters "a", then answers "42" (see ScriptedConfig)."""
    ids = tokenizer.convert_tokens_to_ids
    config = ScriptedConfig(
        **behaviour,
        vocab_size=len(tokenizer),
        think_start_id=ids("<think>"),
        think_end_id=ids("</think>"),
        eos_id=tokenizer.eos_token_id,
        k=k,
        letter_id=ids("a"),
        answer_ids=(ids("4"), ids("2")),
        newline_id=tokenizer("\n", add_special_tokens=False)["input_ids"][0],
    )
    model = ScriptedThinker(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(os.environ.get("PONDER_TEST_DEVICE", "cpu"))  # bench/gpu/run.sh runs these tests on cuda
