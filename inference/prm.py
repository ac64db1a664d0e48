"""Process reward models at inference: the stepwise token layout shared with training, a batched scorer,
and ProcessBench-style step-level evaluation.

Layout (TRL's former PRMTrainer, Math-Shepherd): `prompt + separator`, then each step followed by the
separator; a step's label sits on the last token of `step + separator`, -100 everywhere else. Training
(`ponder.trainers.prm`) and scoring both call `stepwise_ids`, so the positions are identical by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

PRM_CONFIG_KEY = "ponder_prm"  # model.config key recording the separator the PRM was trained with


def stepwise_ids(
    tokenizer, prompt: str, steps: list[str], separator: str = "\n", max_length: int | None = None
) -> tuple[list[int], list[int]]:
    """Token ids of prompt + steps and, per step, the index of its label token (the separator's last token).

    With `max_length`, whole steps are dropped from the end (never cut in the middle), so a label never
    lands on a token that is not a step's end."""
    ids = list(tokenizer(prompt + separator)["input_ids"])  # the tokenizer's own BOS, if it adds one
    positions = []
    for step in steps:
        step_ids = tokenizer(step + separator, add_special_tokens=False)["input_ids"]
        if max_length is not None and len(ids) + len(step_ids) > max_length:
            break
        ids += step_ids
        positions.append(len(ids) - 1)
    return ids, positions


def pad_right(id_lists: list[list[int]], pad_id: int) -> tuple:
    """(input_ids, attention_mask), right-padded to the longest row: the batch layout of training and scoring."""
    import torch  # lazily: search and step-level eval import this module without a model (validate stays fast)

    width = max(len(ids) for ids in id_lists)
    return (
        torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in id_lists]),
        torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in id_lists]),
    )


@dataclass
class PRMScorer:
    """Per-step P(correct) from a token-classification PRM (label 1 = the step is on a correct path)."""

    model: object
    tokenizer: object
    separator: str = "\n"
    batch_size: int = 32
    max_length: int | None = None
    tokens_read: int = 0  # running count of the tokens scored: what the PRM's compute costs (compute-optimal search)

    @classmethod
    def from_pretrained(cls, path: str, **kwargs) -> PRMScorer:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        model = AutoModelForTokenClassification.from_pretrained(path).eval()
        separator = getattr(model.config, PRM_CONFIG_KEY, {}).get("separator", "\n")
        return cls(model, AutoTokenizer.from_pretrained(path), separator=separator, **kwargs)

    def score(self, prompts: list[str], solutions: list[list[str]]) -> list[list[float]]:
        """For each (prompt, steps), P(correct) after each step; steps beyond `max_length` are not scored."""
        import torch

        with torch.no_grad():
            return self._score(prompts, solutions)

    def _score(self, prompts: list[str], solutions: list[list[str]]) -> list[list[float]]:
        out = []
        for start in range(0, len(prompts), self.batch_size):
            encoded = [
                stepwise_ids(self.tokenizer, p, s, self.separator, self.max_length)
                for p, s in zip(prompts[start : start + self.batch_size], solutions[start : start + self.batch_size])
            ]
            self.tokens_read += sum(len(ids) for ids, _ in encoded)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            input_ids, mask = pad_right([ids for ids, _ in encoded], pad)
            logits = self.model(
                input_ids=input_ids.to(self.model.device), attention_mask=mask.to(self.model.device)
            ).logits
            probs = logits.float().softmax(-1)[..., 1].cpu()
            out += [probs[row, positions].tolist() for row, (_, positions) in enumerate(encoded)]
        return out


def aggregate(step_scores: list[float], how: str = "last") -> float:
    """One score per solution: the last step's (search-and-learn's default), the minimum, or the product."""
    if not step_scores:
        return 0.0
    if how == "last":
        return step_scores[-1]
    if how == "min":
        return min(step_scores)
    if how == "prod":
        product = 1.0
        for s in step_scores:
            product *= s
        return product
    raise ValueError(f"unknown aggregation {how!r}; choose last, min or prod")


def first_error(labels: list) -> int:
    """Index of the earliest step labelled incorrect (< 0.5), -1 when every step is correct."""
    return next((i for i, label in enumerate(labels) if float(label) < 0.5), -1)


def process_bench(predicted_scores: list[list[float]], labels: list[list], threshold: float = 0.5) -> dict:
    """ProcessBench: predict the earliest step scored below `threshold` (-1 = none); accuracy on samples
    with an error (the exact step must match), on correct samples (-1 predicted), and their harmonic mean."""
    hits = {"erroneous": [], "correct": []}
    for scores, gold in zip(predicted_scores, labels):
        truth = first_error(gold)
        predicted = next((i for i, s in enumerate(scores) if s < threshold), -1)
        hits["erroneous" if truth >= 0 else "correct"].append(predicted == truth)
    acc_err = sum(hits["erroneous"]) / len(hits["erroneous"]) if hits["erroneous"] else 0.0
    acc_cor = sum(hits["correct"]) / len(hits["correct"]) if hits["correct"] else 0.0
    f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor) if acc_err + acc_cor else 0.0
    return {
        "accuracy_erroneous": acc_err,
        "accuracy_correct": acc_cor,
        "f1": f1,
        "n_erroneous": len(hits["erroneous"]),
        "n_correct": len(hits["correct"]),
    }
