"""Compute-optimal test-time scaling (Snell et al. 2024; Liu et al. 2025): predict each question's difficulty from a
cheap probe, then spend its compute budget on the strategy a calibration split found best for that difficulty and
budget, instead of one fixed method for every question.

- Strategies: majority vote, PRM-weighted vote and best-of-N over N samples, beam search and DVTS with N beams of
  width M (`ponder.inference.search`); sample strategies also at a max thinking budget per sample (s1 budget
  forcing, the sequential axis: `majority@8:think32`), which draw their own capped samples.
- Cost: policy-token equivalents per question: every token the policy generates (discarded branches and the probe
  included) plus every token the PRM reads times `prm_weight` (its parameters / the policy's), since a forward token
  costs ~2 x parameters FLOPs either way; FLOPs = 2 x policy parameters x cost.
- Probe: the first `probe` of the N samples; predicted difficulty (no gold answer needed) = 1 - their mean final PRM
  score (`predictor="prm"`, Snell's model-predicted difficulty) or 1 - the share of them giving their most common
  answer (`"agreement"`: no PRM read). The probe's samples think without a cap. After the probe, uncapped sample
  strategies reuse its samples; tree and capped strategies pay for them on top; fixed methods (the baselines) run
  without a probe. Majority vote reads no PRM and pays none.
- Allocation: difficulty bins from quantiles of the calibration split's predictions; per bin and budget, the strategy
  that maximises accuracy with the questions' mean cost within the budget (easy bins may spend less, hard ones
  more; `scope="bin"`: each bin within the budget on its own). Calibration accuracy often ties (at 1.0 on a few
  dozen questions): ties go to the cheaper strategy, and `leftover="hardest"` (the default) then spends what the
  budget leaves on more samples of each bin's vote, hardest bins first (more votes help a policy that is right more
  often than not; the calibration split is too small to show it); `"save"` leaves it.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ponder.inference.prm import aggregate
from ponder.inference.search import SearchResult, beam_search, best_of_n, canonical, dvts, select_answer

SAMPLE_METHODS = {"majority": "majority", "weighted": "weighted", "best_of_n": "best"}
TREE_METHODS = {"beam": beam_search, "dvts": dvts}
PREDICTORS = ("prm", "agreement")
LEFTOVERS = ("save", "hardest")
VOTES = ("majority", "weighted")  # more samples help a vote in expectation; `spend_leftover` buys only these


@dataclass(frozen=True)
class Strategy:
    method: str
    n: int
    width: int = 1
    think: int | None = None  # max thinking tokens per sample (budget forcing); None: unlimited

    def __post_init__(self):
        if self.method not in SAMPLE_METHODS and self.method not in TREE_METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {[*SAMPLE_METHODS, *TREE_METHODS]}")
        if self.n < 1 or self.width < 1 or (self.method in TREE_METHODS and self.n % self.width):
            raise ValueError(f"{self.method}: n={self.n} must be >= 1 and a multiple of width={self.width}")
        if self.think is not None and (self.method in TREE_METHODS or self.think < 0):
            raise ValueError(
                f"{self.method}@{self.n}: think={self.think}: a thinking budget (>= 0) caps a sample method's "
                f"samples ({list(SAMPLE_METHODS)}); a tree search writes step by step, use think=None"
            )

    @property
    def key(self) -> str:
        width = f"/{self.width}" if self.method in TREE_METHODS else ""
        return f"{self.method}@{self.n}{width}" + (f":think{self.think}" if self.think is not None else "")

    @classmethod
    def from_key(cls, key: str) -> Strategy:
        key, _, think = key.partition(":think")
        method, _, rest = key.partition("@")
        n, _, width = rest.partition("/")
        return cls(method, int(n), int(width or 1), int(think) if think else None)


def strategy_grid(methods, ns, widths=(4,), thinks=(None,)) -> list[Strategy]:
    """Every method at every N (tree methods at every width that divides N, beams wider than one); sample methods
    at every max thinking budget in `thinks` (None: unlimited), tree methods unlimited."""
    grid = []
    for method in methods:
        for n in ns:
            if method in SAMPLE_METHODS:
                grid += [Strategy(method, n, think=t) for t in thinks]
            else:
                grid += [Strategy(method, n, w) for w in widths if w > 1 and n % w == 0]
    return grid


@dataclass
class QuestionRecord:
    """What every strategy did on one question ({strategy key: [correct, cost]}), the probe, the oracle pass rate."""

    predicted: float  # from the probe samples (`predicted_difficulty`)
    pass_rate: float  # share of the N_max samples that are correct (oracle difficulty = 1 - pass rate)
    probe_cost: float  # the probe's tokens, and its PRM reads when the predictor reads the PRM
    outcomes: dict = field(default_factory=dict)  # key -> [correct, cost of the strategy alone]
    probe_prm: float = 0.0  # the PRM reads within probe_cost


def unscored(question: dict, solutions: list) -> list[list[float]]:
    """A score function that reads no PRM (every solution 0.0): for samples a majority vote alone will judge."""
    return [[0.0] for _ in solutions]


def predicted_difficulty(probe: SearchResult, predictor: str = "prm") -> float:
    """Difficulty without the gold answer, from the probe's samples. `prm`: 1 - their mean final PRM score (Snell et
    al.'s model-predicted difficulty); `agreement`: 1 - the share giving their most common answer (an unfinished
    sample agrees with none)."""
    if predictor == "prm":
        return 1.0 - sum(probe.scores) / len(probe.scores)
    if predictor != "agreement":
        raise ValueError(f"predictor={predictor!r}: choose one of {PREDICTORS}")
    answers = Counter(canonical(c.answer) for c in probe.solutions if c.done)
    return 1.0 - max(answers.values(), default=0) / len(probe.solutions)


def run_question(
    sampler,
    score,
    question: dict,
    strategies: list[Strategy],
    verify,
    probe: int = 2,
    prm_tokens=None,
    prm_weight: float = 1.0,
    aggregation: str = "last",
    predictor: str = "prm",
) -> QuestionRecord:
    """Run every strategy on one question. Sample strategies at one thinking budget share one set of max-N samples
    (the first n of them are the n-sample strategy's; the unlimited set holds the probe's and gives the pass rate);
    `verify(answers) -> [bool]` checks answers against the gold; `prm_tokens()` reads a running count of tokens the
    PRM has read (None: PRM reads cost nothing)."""
    read = prm_tokens or (lambda: 0)
    sampled = [s for s in strategies if s.method in SAMPLE_METHODS]
    pools = {}  # think -> (samples, what each costs a majority vote (no PRM read), with its reads, the reads' share)
    for think in [None, *sorted({s.think for s in sampled} - {None})]:
        n_max = max([s.n for s in sampled if s.think == think] + ([probe] if think is None else []))
        before = read()
        pool = best_of_n(sampler, score, question, n_max, aggregation, think)
        share = prm_weight * (read() - before) / n_max  # the PRM read every sample: each carries its share
        plain = [c.tokens for c in pool.solutions]
        pools[think] = (pool, plain, [t + share for t in plain], share)
    pool, plain, _, share = pools[None]
    correct = verify([c.answer if c.done else None for c in pool.solutions])
    probe_prm = share * probe if predictor == "prm" else 0.0
    record = QuestionRecord(
        predicted=predicted_difficulty(SearchResult(pool.solutions[:probe], pool.scores[:probe], 0), predictor),
        pass_rate=sum(correct) / len(correct),
        probe_cost=sum(plain[:probe]) + probe_prm,
        probe_prm=probe_prm,
    )
    picks, spent = {}, {}
    for s in sampled:
        pool, plain, scored, _ = pools[s.think]
        head = SearchResult(pool.solutions[: s.n], pool.scores[: s.n], 0)
        picks[s.key] = select_answer(head, SAMPLE_METHODS[s.method])
        spent[s.key] = sum((plain if s.method == "majority" else scored)[: s.n])
    for s in strategies:
        if s.method in TREE_METHODS:
            before = read()
            result = TREE_METHODS[s.method](sampler, score, question, s.n, s.width, aggregation=aggregation)
            picks[s.key] = select_answer(result, "best")
            spent[s.key] = result.tokens + prm_weight * (read() - before)
    verdicts = verify(list(picks.values()))
    record.outcomes = {key: [ok, spent[key]] for key, ok in zip(picks, verdicts)}
    return record


def probed_cost(record: QuestionRecord, key: str) -> float:
    """A strategy's cost when run after the probe: sample strategies reuse the probe's samples (and pay for them
    when they need fewer; a majority vote pays the probe's PRM reads on top, its own samples read none), tree
    strategies and capped ones (their samples think under a budget, the probe's did not) pay for the probe on top."""
    strategy = Strategy.from_key(key)
    cost, method = record.outcomes[key][1], strategy.method
    if strategy.think is not None:
        return cost + record.probe_cost
    if method == "majority":
        return max(cost, record.probe_cost - record.probe_prm) + record.probe_prm
    if method in SAMPLE_METHODS:
        return max(cost, record.probe_cost)
    return cost + record.probe_cost


@dataclass
class Allocation:
    """Per predicted-difficulty bin and compute budget, the strategy to run (a strategy key)."""

    thresholds: list  # lower edges of bins 1..k-1 on the difficulty score (quantiles of the calibration split)
    budgets: list
    table: dict  # str(bin) -> {str(budget): key}
    difficulty: str = "predicted"  # or "oracle" (1 - pass rate)
    predictor: str = "prm"  # how the probe predicts difficulty (`predicted_difficulty`): serving must do the same
    probe: int = 2  # samples in the probe (the thresholds are on this many samples' scores or agreement)
    leftover: str = "save"  # what the fit did with budget its picks left (`fit_allocation`; older files: save)

    def bin_of(self, value: float) -> int:
        return bisect.bisect_right(self.thresholds, value)

    def choose(self, value: float, budget: float) -> Strategy:
        row = self.table[str(self.bin_of(value))]
        fitting = [b for b in self.budgets if b <= budget] or [min(self.budgets)]
        return Strategy.from_key(row[str(max(fitting))])

    def save(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(asdict(self), indent=2))
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> Allocation:
        return cls(**json.loads(Path(path).read_text()))


def difficulty_of(record: QuestionRecord, kind: str) -> float:
    return record.predicted if kind == "predicted" else 1.0 - record.pass_rate


def quantile_edges(values: list[float], bins: int) -> list[float]:
    ordered = sorted(values)
    edges = [ordered[min(len(ordered) - 1, (len(ordered) * i) // bins)] for i in range(1, bins)]
    return sorted(set(edges))


def fit_allocation(
    records: list[QuestionRecord],
    budgets: list[float],
    bins: int = 5,
    difficulty: str = "predicted",
    scope: str = "global",
    predictor: str = "prm",
    probe: int = 2,
    leftover: str = "hardest",
) -> Allocation:
    """The calibration split's table, per bin and budget (ties: the cheaper strategy; nothing affordable: the
    cheapest). `scope`: "bin": each bin's strategy costs at most the budget on average there; "global": the
    questions' mean cost stays within the budget, so easy bins may spend less and hard ones more (a Lagrangian
    search: each bin maximises accuracy - lambda x cost, lambda the smallest whose mean cost fits). `leftover`:
    "hardest": `spend_leftover`; "save": what the picks leave of the budget is not spent."""
    if scope not in ("bin", "global"):
        raise ValueError(f"scope={scope!r}: choose bin or global")
    if leftover not in LEFTOVERS:
        raise ValueError(f"leftover={leftover!r}: choose one of {LEFTOVERS}")
    thresholds = quantile_edges([difficulty_of(r, difficulty) for r in records], bins)
    allocation = Allocation(thresholds, sorted(budgets), {}, difficulty, predictor, probe, leftover)
    keys = list(records[0].outcomes)

    def stats(members):
        return {k: (mean(r.outcomes[k][0] for r in members), mean(probed_cost(r, k) for r in members)) for k in keys}

    groups = {}  # bin -> (questions, {key: (accuracy, mean cost)})
    for b in range(len(thresholds) + 1):
        members = [r for r in records if allocation.bin_of(difficulty_of(r, difficulty)) == b]
        if members:
            groups[b] = (len(members), stats(members))
    everyone = stats(records)  # for a bin no calibration question fell in
    for budget in allocation.budgets:
        if scope == "bin":
            picks = {b: best_within(bin_stats, keys, budget) for b, (_, bin_stats) in groups.items()}
        else:
            picks = global_picks(groups, keys, budget)
        if leftover == "hardest":
            picks = spend_leftover(groups, keys, picks, budget, scope)
        for b in range(len(thresholds) + 1):
            allocation.table.setdefault(str(b), {})[str(budget)] = picks.get(b) or best_within(everyone, keys, budget)
    return allocation


def best_within(stats: dict, keys: list, budget: float) -> str:
    fits = [k for k in keys if stats[k][1] <= budget]
    if not fits:
        return min(keys, key=lambda k: (stats[k][1], -stats[k][0]))
    return max(fits, key=lambda k: (stats[k][0], -stats[k][1]))


def global_picks(groups: dict, keys: list, budget: float) -> dict:
    """Per bin, the strategy maximising accuracy - lambda x cost, for the lambda (0, then a log grid) whose picks
    are the most accurate with the questions' mean cost within `budget`; else each bin's cheapest."""
    total = sum(n for n, _ in groups.values())
    best, best_accuracy = None, -1.0
    for lam in [0.0] + [10 ** (e / 10) for e in range(-60, 31)]:
        picks = {b: max(keys, key=lambda k: (st[k][0] - lam * st[k][1], -st[k][1])) for b, (_, st) in groups.items()}
        cost = sum(groups[b][0] * groups[b][1][k][1] for b, k in picks.items()) / total
        accuracy = sum(groups[b][0] * groups[b][1][k][0] for b, k in picks.items()) / total
        if cost <= budget and accuracy > best_accuracy:
            best, best_accuracy = picks, accuracy
    if best is None:
        best = {b: min(keys, key=lambda k: (st[k][1], -st[k][0])) for b, (_, st) in groups.items()}
    return best


def spend_leftover(groups: dict, keys: list, picks: dict, budget: float, scope: str = "global") -> dict:
    """Hardest bin first, a bin that votes (majority or PRM-weighted) gets the same vote (same thinking budget) over
    the most samples that is as accurate on calibration and keeps the cost within `budget` (the questions' mean
    cost, or with `scope="bin"` the bin's own). Best-of-N and tree searches keep their pick: more candidates for a
    maximiser over an imperfect PRM can lose (over-optimisation; on the fp32 letter-count bench beam@16/2 bought in
    place of beam@4/2 lost test accuracy)."""
    total = sum(n for n, _ in groups.values())
    spent = sum(groups[b][0] * groups[b][1][k][1] for b, k in picks.items()) / total
    picks = dict(picks)
    for b in sorted(picks, reverse=True):
        size, stats = groups[b]
        pick = Strategy.from_key(picks[b])
        if pick.method not in VOTES:
            continue
        (accuracy, cost), share = stats[picks[b]], (1.0 if scope == "bin" else size / total)
        room = budget - cost if scope == "bin" else budget - spent
        more = [
            k
            for k in keys
            if (s := Strategy.from_key(k)).n > pick.n
            and (s.method, s.width, s.think) == (pick.method, pick.width, pick.think)
            and stats[k][0] >= accuracy
            and (stats[k][1] - cost) * share <= room
        ]
        if more:
            picks[b] = max(more, key=lambda k: Strategy.from_key(k).n)
            spent += (stats[picks[b]][1] - cost) * size / total
    return picks


def apply_allocation(records: list[QuestionRecord], allocation: Allocation, budget: float) -> tuple[float, float]:
    """(accuracy, mean cost, probe included) of the allocation at `budget` on questions it was not fitted on."""
    keys = [allocation.choose(difficulty_of(r, allocation.difficulty), budget).key for r in records]
    return mean(r.outcomes[k][0] for r, k in zip(records, keys)), mean(
        probed_cost(r, k) for r, k in zip(records, keys)
    )


def mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else 0.0


@dataclass
class SearchPlan:
    """What a server needs to spend each request's compute by difficulty: a step sampler over the policy, the PRM's
    `score`, a fitted allocation and the request-level budgets (`reasoning_effort` -> tokens per question)."""

    sampler: object
    score: object
    allocation: Allocation
    effort_budgets: dict = field(default_factory=lambda: {"low": 64, "medium": 256, "high": 1024})
    aggregation: str = "last"
    prm_tokens: object = None
    prm_weight: float = 1.0


@dataclass
class SearchOutcome:
    answer: str | None
    steps: list  # the reasoning of the solution that carries the answer (the highest-scored one)
    strategy: str
    difficulty_bin: int
    predicted_difficulty: float
    policy_tokens: int
    cost: float  # policy tokens + PRM reads x prm_weight, the probe included


def search_with_allocation(plan: SearchPlan, question: dict, budget: float) -> SearchOutcome:
    """Probe, predict the difficulty as the allocation was fitted (its `probe` samples, its `predictor`), run its
    strategy for it at `budget`: an uncapped sample strategy keeps the probe's samples and draws the rest (a majority
    vote without PRM reads), a capped one draws its own under its thinking budget, a tree strategy runs on its own."""
    read = plan.prm_tokens or (lambda: 0)
    start = read()
    agreement = plan.allocation.predictor == "agreement"  # then the probe reads no PRM, unless the strategy does
    probe = plan.allocation.probe
    probed = best_of_n(plan.sampler, unscored if agreement else plan.score, question, probe, plan.aggregation)
    predicted = predicted_difficulty(probed, plan.allocation.predictor)
    strategy = plan.allocation.choose(predicted, budget)
    tokens = probed.tokens
    if agreement and strategy.method in ("weighted", "best_of_n"):
        scores = [aggregate(s, plan.aggregation) for s in plan.score(question, probed.solutions)]
        probed = SearchResult(probed.solutions, scores, probed.tokens)
    if strategy.method in SAMPLE_METHODS:
        score = unscored if strategy.method == "majority" else plan.score
        if strategy.think is not None:  # its own samples, each thinking within the budget
            result = best_of_n(plan.sampler, score, question, strategy.n, plan.aggregation, strategy.think)
            tokens += result.tokens
        else:
            result = probed
            if strategy.n > probe:
                more = best_of_n(plan.sampler, score, question, strategy.n - probe, plan.aggregation)
                result = SearchResult(probed.solutions + more.solutions, probed.scores + more.scores, 0)
                tokens += more.tokens
        result = SearchResult(result.solutions[: strategy.n], result.scores[: strategy.n], 0)
        answer = select_answer(result, SAMPLE_METHODS[strategy.method])
    else:
        result = TREE_METHODS[strategy.method](
            plan.sampler, plan.score, question, strategy.n, strategy.width, aggregation=plan.aggregation
        )
        tokens += result.tokens
        answer = select_answer(result, "best")
    carriers = [(s, c) for c, s in zip(result.solutions, result.scores) if c.done and c.answer == answer]
    steps = max(carriers, key=lambda pair: pair[0])[1].steps if carriers else []
    return SearchOutcome(
        answer,
        steps,
        strategy.key,
        plan.allocation.bin_of(predicted),
        predicted,
        tokens,
        tokens + plan.prm_weight * (read() - start),
    )
