"""Monte Carlo step labels (Math-Shepherd): stepwise PRM rows in TRL's format (`prompt`, `completions` = steps,
`labels`) from rollouts of a policy.

A labelled solution's last step is its answer line ("Final Answer: X"), as search scores it
(`ponder.inference.search.scored_steps`), so a PRM learns to judge the answer too.
"""

from __future__ import annotations

from ponder.inference.sampling import verify_rows
from ponder.inference.search import Candidate, scored_steps


def monte_carlo_labels(
    sampler, questions: list[dict], solutions: list[Candidate], n_rollouts: int, thinking
) -> list[dict]:
    """For each solution and each step prefix, `n_rollouts` continuations by `sampler`; soft label = the
    fraction reaching the gold answer, hard label = any did. The answer step is labelled by the verifier."""
    rows = []
    for question, solution in zip(questions, solutions):
        prefixes = [solution.steps[:j] for j in range(1, len(solution.steps) + 1)]
        rollouts = sampler.complete(question, [p for p in prefixes for _ in range(n_rollouts)]) if prefixes else []
        answers = [c.answer or "" for c in rollouts] + [solution.answer or ""]
        verdicts = verify_rows([question] * len(answers), [f"{thinking.answer_prefix} {a}" for a in answers], thinking)
        soft = [sum(verdicts[j * n_rollouts : (j + 1) * n_rollouts]) / n_rollouts for j in range(len(prefixes))]
        if solution.done:
            soft.append(float(verdicts[-1]))
        rows.append(
            {
                "prompt": question["prompt"],
                "completions": scored_steps(solution, thinking.answer_prefix)[: len(soft)],
                "labels": [s > 0 for s in soft],
                "soft_labels": soft,
                "answer": question["answer"],
                "domain": question.get("domain", ""),
                "rollouts": n_rollouts,
            }
        )
    return rows
