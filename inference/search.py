"""PRM-guided test-time search (search-and-learn, Snell et al.): best-of-N, majority and PRM-weighted
majority vote, beam search and diverse verifier tree search (DVTS).

A search works on a `StepSampler` (anything with `next_steps` and `complete`, see `ModelStepSampler`
for a causal LM; `complete` may take `max_thinking`, a cap on each sample's thinking tokens: s1 budget
forcing) and a `score` callable: `score(question, solutions) -> per-step scores` (a `PRMScorer` wrapped
by `prm_score_fn`). A finished solution's last step is its answer line ("Final Answer: X"), so
the PRM judges the answer as well as the reasoning.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ponder.inference.prm import aggregate


@dataclass
class Candidate:
    steps: list[str]
    answer: str | None = None  # set once the solution is finished
    tokens: int = 0  # tokens generated to reach it from its parent

    @property
    def done(self) -> bool:
        return self.answer is not None


@dataclass
class SearchResult:
    solutions: list[Candidate]
    scores: list[float]  # aggregated PRM score per solution
    tokens: int  # every token generated, discarded branches included


def scored_steps(candidate: Candidate, answer_prefix: str) -> list[str]:
    return candidate.steps + ([f"{answer_prefix} {candidate.answer}"] if candidate.done else [])


def prm_score_fn(scorer, answer_prefix: str = "Final Answer:"):
    """Adapt a `PRMScorer` to `score(question, candidates) -> per-step scores`."""

    def score(question: dict, candidates: list[Candidate]) -> list[list[float]]:
        return scorer.score(
            [question["prompt"]] * len(candidates), [scored_steps(c, answer_prefix) for c in candidates]
        )

    return score


def canonical(answer: str | None) -> str:
    return " ".join(str(answer or "").split()).lower()


def select_answer(result: SearchResult, method: str = "weighted") -> str | None:
    """`majority`: most frequent answer; `weighted`: answer with the largest summed PRM score;
    `best`: the single highest-scoring solution (best-of-N)."""
    finished = [(c, s) for c, s in zip(result.solutions, result.scores) if c.done]
    if not finished:
        return None
    if method == "best":
        return max(finished, key=lambda pair: pair[1])[0].answer
    totals: dict = defaultdict(float)
    first: dict = {}
    for candidate, score in finished:
        key = canonical(candidate.answer)
        totals[key] += 1.0 if method == "majority" else score
        first.setdefault(key, candidate.answer)
    if method not in ("majority", "weighted"):
        raise ValueError(f"unknown selection {method!r}; choose majority, weighted or best")
    return first[max(totals, key=totals.get)]  # ties: the answer seen first


def best_of_n(
    sampler, score, question: dict, n: int, aggregation: str = "last", max_thinking: int | None = None
) -> SearchResult:
    """N independent samples, each scored by the PRM; `max_thinking`: each sample thinks at most that many tokens,
    then answers (the sampler's budget forcing; None: as long as it likes)."""
    capped = {} if max_thinking is None else {"max_thinking": max_thinking}
    solutions = sampler.complete(question, [[] for _ in range(n)], **capped)
    per_step = score(question, solutions)
    return SearchResult(solutions, [aggregate(s, aggregation) for s in per_step], sum(c.tokens for c in solutions))


def _extend(
    sampler, score, question, beams: list[Candidate], lookahead: int
) -> tuple[list[Candidate], list[float], int]:
    """One step for every beam; each child scored by the PRM at its last step, after `lookahead` greedy
    steps when asked (the look-ahead tokens count as spent, the look-ahead steps are not kept)."""
    children = sampler.next_steps(question, [b.steps for b in beams])
    tokens = sum(c.tokens for c in children)
    probes = children
    for _ in range(lookahead):
        pending = [i for i, c in enumerate(probes) if not c.done]
        if not pending:
            break
        extended = sampler.next_steps(question, [probes[i].steps for i in pending], greedy=True)
        tokens += sum(c.tokens for c in extended)
        probes = list(probes)
        for i, c in zip(pending, extended):
            probes[i] = c
    scores = [aggregate(s, "last") for s in score(question, probes)]
    return children, scores, tokens


def beam_search(
    sampler,
    score,
    question: dict,
    n: int,
    width: int,
    max_steps: int = 32,
    lookahead: int = 0,
    aggregation: str = "last",
) -> SearchResult:
    """N beams; each iteration keeps the best N/width unfinished ones and expands each into `width`
    children, until N solutions finish or `max_steps` iterations pass."""
    if n % width:
        raise ValueError(f"beam search needs n divisible by width; got n={n}, width={width}")
    beams, finished, tokens = [Candidate([]) for _ in range(n)], [], 0
    for _ in range(max_steps):
        children, scores, spent = _extend(sampler, score, question, beams, lookahead)
        tokens += spent
        finished += [c for c in children if c.done]
        active = sorted(((s, i) for i, (c, s) in enumerate(zip(children, scores)) if not c.done), reverse=True)
        if len(finished) >= n or not active:
            break
        keep = [children[i] for _, i in active[: max(1, (n - len(finished)) // width)]]
        beams = [Candidate(list(b.steps)) for b in keep for _ in range(width)]
    finished = finished or [Candidate(b.steps) for b in beams]
    final = score(question, finished)
    return SearchResult(finished, [aggregate(s, aggregation) for s in final], tokens)


def dvts(
    sampler, score, question: dict, n: int, width: int, max_steps: int = 32, aggregation: str = "last"
) -> SearchResult:
    """Diverse verifier tree search: n/width independent subtrees; each expands its beam into `width`
    children per iteration and keeps its best one, so the subtrees stay apart."""
    if n % width:
        raise ValueError(f"DVTS needs n divisible by width; got n={n}, width={width}")
    subtrees, tokens = [Candidate([]) for _ in range(n // width)], 0
    for _ in range(max_steps):
        active = [i for i, c in enumerate(subtrees) if not c.done]
        if not active:
            break
        children, scores, spent = _extend(
            sampler, score, question, [subtrees[i] for i in active for _ in range(width)], 0
        )
        tokens += spent
        for j, i in enumerate(active):
            group = range(j * width, (j + 1) * width)
            subtrees[i] = children[max(group, key=lambda k: scores[k])]
    final = score(question, subtrees)
    return SearchResult(subtrees, [aggregate(s, aggregation) for s in final], tokens)
