"""`safe`: Generate, Verify, Ensemble (SAFE, arXiv 2510.15346).

Each cycle the drafter drafts a chunk; every verifier re-tokenizes the continuation and scores
it in one batch, but only at candidate positions (a boundary for every model) that the drafter
does not decide alone, the cheapest verifier first and a dearer one only where C2 is still
open; the earliest candidate without consensus (neither C1 nor C2) is ensembled with the base
method and sharpened, and drafted tokens after a replaced one are discarded. Verifiers never
get ensembled ids pushed in, and their caches lag until a row is needed.

Sampled (temperature > 0), a candidate the gate leaves open is decided by App. H's acceptance
test against the target P* (safe_local.core.speculative), never by C1/C2: the uniform is drawn
first, the drafter alone keeps the token where a proven bound allows, and otherwise every
verifier gives its row. Left out: the shared steps (union, choice, target, proposal, events:
safe_local.runs.base).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from safe_local.core import (
    EOG_KEY,
    SHARPENING_THRESHOLD,
    UnionDistribution,
    accept_or_resample,
    aligned_indices,
    c2_settled,
    candidate_positions,
    check,
    complete_utf8_len,
    drafter_decides,
    drafter_keeps,
    draw,
    proven_share,
    sampler_distribution,
    softmax,
    token_ends,
    verifiers_sure,
)
from safe_local.events import SpeculativeTest, TokenLogprob
from safe_local.generation_config import AUTO, CHUNK_MAX, CHUNK_MIN, CHUNK_START
from safe_local.runs.base import Run, Stop, aligned_view, max_prob


@dataclass
class Drafted:
    ids: list[int] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)  # the drafter's probability of each drafted token
    # What the drafter gate reads at each position: greedy, the drafted token's probability (its
    # largest); sampled, the largest, whichever token was drawn (consensus.drafter_keeps).
    gates: list[float] = field(default_factory=list)
    # Sampled: the drafter's sampler distribution each token was drawn from (the proposal q), and
    # each tested position's uniform.
    proposals: list[np.ndarray] = field(default_factory=list)
    draws: dict[int, float] = field(default_factory=dict)
    ensembled: dict[int, TokenLogprob] = field(default_factory=dict)  # asked for: what was chosen where


@dataclass(frozen=True)
class Chunk:
    """A drafted chunk laid out on the continuation's bytes, for every model."""

    full: bytes  # the continuation with the chunk
    limit: int  # bytes of `full` that end on a whole UTF-8 character
    starts_d: np.ndarray  # byte offset where each drafted token starts
    v_ids: list[list[int]]  # each verifier's tokens of full[:limit]
    v_ends: list[np.ndarray]  # and where they end
    candidates: np.ndarray  # drafted positions on a boundary of every model
    eos: bool  # the chunk ends with the drafter's end of generation


class ChunkLength:
    """SAFE's draft length: fixed, or adapting to how much of each chunk survives.

    With "auto" it starts at the paper's 5, grows by 2 after a chunk kept whole (up to 16: easy
    text, so verifier batches get larger and rarer) and halves after a chunk cut by an
    ensemble (down to 2: fewer drafted tokens thrown away); an auto chunk also ends at a
    token the verifiers will likely overrule (SafeRun.unsure). The drafter's greedy tokens do not
    depend on it; what can change is where chunks end, and with that which positions every
    verifier's tokenization has a boundary at, and the batch shapes the verifiers score in.
    """

    def __init__(self, chunk: int | str):
        self.auto = chunk == AUTO
        self.n = CHUNK_START if self.auto else int(chunk)

    def update(self, kept: int, drafted: int) -> None:
        if not self.auto or drafted == 0:
            return
        if kept < drafted:
            self.n = max(CHUNK_MIN, self.n // 2)
        elif drafted == self.n:  # a chunk cut short by the token limit or the context says nothing
            self.n = min(CHUNK_MAX, self.n + 2)


class SafeRun(Run):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = self.config.gate()
        self.sampled = self.config.temperature > 0
        # Cheapest first, by file size: what a verifier costs per token and per logits row grows
        # with its weights and its output layer (Gemma 3 270M: 253 MB with a 262k vocabulary,
        # SmolLM2 135M as Q8_0: 145 MB). The order changes only which rows are computed, never a decision.
        self.verifier_order = sorted(range(1, len(self.models)), key=lambda v: (self.models[v].path.stat().st_size, v))

    def loop(self) -> Iterator[None]:
        c = self.config
        dv = self.models[0].vocab
        prompt = self.prompts[0]
        gen: list[int] = []
        length = ChunkLength(c.chunk)
        ends_chunk = self.unsure if length.auto else None
        while len(gen) < c.max_tokens:
            self.check_cancel()
            draft = self.draft(prompt, gen, min(length.n, c.max_tokens - len(gen)), ends_chunk)
            self.stats.cycles += 1
            self.stats.drafted += len(draft.ids)
            kept, replacement, eos = self.verify(draft)
            length.update(kept, len(draft.ids))
            self.stats.accepted += kept
            self.stats.rejected += len(draft.ids) - kept
            new = draft.ids[:kept]
            if eos:
                new = [t for t in new if not dv.eog_mask[t]]
            # A replacement string may be several drafter tokens: never pass max_tokens.
            new = (new + replacement)[: c.max_tokens - len(gen)]
            if self.top_logprobs is not None:
                self.note(self.kept_logprobs(draft, kept, eos, bool(replacement)))
            gen.extend(new)
            self.stats.tokens = len(gen)
            self.accept(self.data + b"".join(dv.pieces[t] for t in new))
            if eos:
                raise Stop("eos")
            yield

    def draft(self, prompt: list[int], gen: list[int], n: int,
              ends_chunk: Callable[[float, float], bool] | None = None) -> Drafted:
        out = Drafted()
        vocab = self.models[0].vocab
        for _ in range(n):
            target = prompt + gen + out.ids
            if len(target) >= self.models[0].n_ctx:
                if not out.ids:
                    self.room(0, len(target))
                break
            logits = self.evaluate(0, target, [len(target) - 1])[0]
            if self.sampled:
                c = self.config
                out.proposals.append(sampler_distribution(logits, c.temperature, c.top_p, c.min_p))
                tok = draw(out.proposals[-1], self.rng)
            else:
                tok = self.sample(logits)
            out.ids.append(tok)
            out.logits.append(logits)
            out.probs.append(aligned_view(self.models[0], logits, tok)[0])
            out.gates.append(max_prob(logits) if self.sampled else out.probs[-1])
            if vocab.eog_mask[tok] or self.cancel.is_set():
                break
            if ends_chunk is not None and ends_chunk(out.probs[-1], out.gates[-1]):
                break
        return out

    def verify(self, draft: Drafted) -> tuple[int, list[int], bool]:
        """Check the drafted chunk; return (drafted tokens kept, drafter ids to append, reply ended)."""
        chunk = self.layout(draft)
        self.verifiers_room(chunk)
        cands = self.undecided(draft, chunk.candidates)
        if len(cands):
            cands, rows, aligned = self.ask_verifiers(draft, chunk, cands)
        if len(cands) == 0:
            return len(draft.ids), [], chunk.eos
        if self.sampled:
            return self.speculate(draft, chunk, cands, rows, aligned)
        return self.decide(draft, chunk, cands, rows, aligned)

    def layout(self, draft: Drafted) -> Chunk:
        """Where the drafted tokens start, each verifier's tokenization, and the candidate positions."""
        dv = self.models[0].vocab
        base = len(self.data)
        full = self.data + b"".join(dv.pieces[t] for t in draft.ids)
        limit = complete_utf8_len(full)
        ends_d = base + token_ends(dv.piece_len, draft.ids)
        starts_d = np.concatenate(([base], ends_d[:-1])) if len(draft.ids) else ends_d
        zero_len = dv.piece_len[draft.ids] == 0 if draft.ids else np.zeros(0, bool)
        v_ids = [self.models[v].vocab.tokenize(full[:limit]) for v in range(1, len(self.models))]
        v_ends = [token_ends(self.models[v].vocab.piece_len, ids) for v, ids in enumerate(v_ids, start=1)]
        return Chunk(full, limit, starts_d, v_ids, v_ends,
                     candidate_positions(starts_d, v_ends, limit, zero_len=zero_len),
                     eos=bool(draft.ids and dv.eog_mask[draft.ids[-1]]))

    def verifiers_room(self, chunk: Chunk) -> None:
        """Stop with `context` where some verifier's context could not hold what scoring every
        candidate of the chunk takes, whether or not it will be asked.

        Which verifiers are asked where depends on the drafter alone (drafter_alone), on early
        acceptance (ask_verifiers) and on the cost order; checked only when asked, a reply ran on
        past a verifier's context wherever it happened not to be asked, and stopped later, or
        never, than one asking every verifier would. Checked here, before any decision, the stop
        depends on the text alone: the chunk's candidate positions and each verifier's tokens.
        """
        if len(chunk.candidates) == 0:
            return
        for v in range(1, len(self.models)):
            self.room(v, len(self.prompts[v]) + int(self.aligned(v, chunk, chunk.candidates).max()))

    def unsure(self, p: float, gate_p: float) -> bool:
        """Whether an auto chunk ends at a drafted token of probability p (gate_p: what the gate reads).

        Drafting on past a token the verifiers will likely overrule is thrown away when they do,
        so the chunk ends there and they are asked at once. Where the drafter can settle tokens
        alone (its weight passes C2 by itself, or a gate), that is any token it does not settle;
        otherwise a token it gives less than the C2 threshold. Either way only where chunks end
        changes, never a drafted token. Measured in load-independent counts on 4 GSM8K replies
        (Qwen + SmolLM2, equal weights): the same replies with 8 % fewer drafter decodes (860 ->
        790) for 9 % more verifier calls (154 -> 168); docs/benchmarks.md has the timings.
        Sampled, only the gate settles a position ahead of the test, so a chunk ends where it is
        open (or, without a gate, at a token the drafter gives less than the C2 threshold).
        """
        if self.gate < 1 or (self.weights[0] > self.config.consensus_threshold and not self.sampled):
            return not self.drafter_alone(p, gate_p)
        return p < self.config.consensus_threshold

    def drafter_alone(self, p: float, gate_p: float) -> bool:
        """The drafter settles the position alone: the gate keeps it (gate_p at least the gate), or,
        greedy, C2 passes on its weighted share of its token's probability p. No verifier can
        change either; sampled, C2 decides nothing (safe_local.core.speculative)."""
        return drafter_keeps(gate_p, self.gate) or (
            not self.sampled and drafter_decides(p, self.weights, self.config.consensus_threshold))

    def undecided(self, draft: Drafted, cands: np.ndarray) -> np.ndarray:
        """The candidates the verifiers must see: exact early acceptance drops the rest.

        Where the drafter alone settles a position (drafter_alone), those positions need no
        verifier row. Sampled, each other candidate draws its uniform now, and one whose drafted
        token a proven lower bound of P* already keeps (proven) is settled too. A verifier asked
        for no row decodes nothing now; its cache catches up in one batch when a row is next needed.
        """
        left = []
        for j in cands.tolist():
            if self.drafter_alone(draft.probs[j], draft.gates[j]):
                continue
            if self.sampled:
                draft.draws[j] = self.rng.random()
                if self.proven(draft, j):
                    continue
            left.append(j)
        self.stats.checked += len(cands)
        self.stats.drafter_decided += len(cands) - len(left)
        return np.array(left, dtype=np.int64)

    def proven(self, draft: Drafted, j: int) -> bool:
        """Sampled: whether u * q(t) <= L, with L a lower bound of P*(t) from the drafter alone
        (core.speculative.proven_share: GaC's union, no sharpening possible, temperature <= 1)."""
        c = self.config
        top = draft.gates[j]
        if self.base != "gac" or (c.sharpening != "none" and self.weights[0] * top < SHARPENING_THRESHOLD):
            return False
        index = self.gac_union().index[0]
        same = index == index[draft.ids[j]]  # every id whose string is the drafted token's
        share = self.weights[0] * float(softmax(draft.logits[j])[same].sum())
        bound = proven_share(share, c.temperature, c.top_p, c.min_p)
        if bound <= 0:
            return False
        return draft.draws[j] * float(self.proposal_of(draft, j)[same].sum()) <= bound

    def verifiers_unsure(self, draft: Drafted, j: int, verifier_rows: list[np.ndarray]) -> bool:
        """CoSD's condition fails at drafted position j (consensus.verifiers_sure): no verifier is sure
        enough of its own token to overrule the drafter, so the drafted token stands unensembled."""
        c = self.config
        if c.verifier_confidence <= 0 and not c.verifier_beats_drafter:
            return False
        drafter_top = draft.gates[j] if c.verifier_beats_drafter else None
        if verifiers_sure([max_prob(row) for row in verifier_rows], c.verifier_confidence, drafter_top):
            return False
        self.stats.verifiers_unsure += 1
        return True

    def ensembled_at(self, draft: Drafted, j: int, probs: np.ndarray, index: int, dist: UnionDistribution) -> None:
        """Asked for: the log-probability of what the ensemble put at drafted position j."""
        if self.top_logprobs is not None:
            draft.ensembled[j] = self.logprob(probs, index, dist.strings.__getitem__, "ensemble")

    def kept_logprobs(self, draft: Drafted, kept: int, eos: bool, replaced: bool) -> list[TokenLogprob]:
        """The entries of a cycle's new pieces: each kept drafted token (the ensemble's where it was
        ensembled, else the drafter's), then the string that replaced the next one."""
        vocab = self.models[0].vocab
        out = []
        for j in range(kept):
            if eos and vocab.eog_mask[draft.ids[j]]:
                continue
            probs = draft.proposals[j] if self.sampled else self.chosen_from(draft.logits[j])
            out.append(draft.ensembled.get(j) or self.logprob(probs, draft.ids[j], vocab.key, "drafter"))
        if replaced:
            out.append(draft.ensembled[kept])
        return out

    def proposal_of(self, draft: Drafted, j: int) -> np.ndarray:
        """q: the drafter's sampler distribution that drafted token j was drawn from. The test is
        exact only with this one (its raw softmax instead is the bug the exactness tests plant)."""
        return draft.proposals[j]

    def ask_verifiers(self, draft: Drafted, chunk: Chunk, cands: np.ndarray
                      ) -> tuple[np.ndarray, list[list[np.ndarray]], list[list[int]]]:
        """The verifiers' rows at the candidates; a dearer verifier only where the cheaper ones leave C2 open.

        Verifiers are asked cheapest first (verifier_order). After each, a candidate whose known
        weighted shares already pass C2 (c2_settled: exact, the rest can only add) is accepted,
        and the verifiers after it compute no logits row there: for Gemma's 262k-entry output
        layer a row costs more than its whole body does for a token. Returns the candidates left
        open and, per verifier in model order, their rows and aligned tokens (decide's input).
        """
        known = [[draft.probs[int(j)]] for j in cands]  # each candidate's probabilities so far, drafter first
        asked = [0]
        rows: dict[int, dict[int, np.ndarray]] = {}
        aligned: dict[int, dict[int, int]] = {}
        open_ = list(range(len(cands)))
        for n, v in enumerate(self.verifier_order):
            v_rows, v_aligned = self.verifier_rows(v, chunk, cands[open_])
            rows[v], aligned[v] = dict(zip(open_, v_rows)), dict(zip(open_, v_aligned))
            asked.append(v)
            if n == len(self.verifier_order) - 1 or self.sampled:
                continue  # the last verifier, or sampled (the test needs every row): nothing settles early
            for ci in open_:
                known[ci].append(aligned_view(self.models[v], rows[v][ci], aligned[v][ci])[0])
            still = [ci for ci in open_ if not c2_settled(known[ci], self.weights[asked], self.config.consensus_threshold)]
            self.stats.verifier_rows_saved += (len(open_) - len(still)) * (len(self.verifier_order) - n - 1)
            open_ = still
            if not open_:
                break
        verifiers = range(1, len(self.models))
        return (cands[open_], [[rows[v][ci] for ci in open_] for v in verifiers],
                [[aligned[v][ci] for ci in open_] for v in verifiers])

    def verifier_rows(self, v: int, chunk: Chunk, cands: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
        """One batched pass of verifier v, with logits only where a candidate's aligned token is predicted.

        Returns the logits row and the aligned token id (-1: past its text) per candidate. Its
        context has room for them: verifiers_room checked every candidate of the chunk.
        """
        ids = chunk.v_ids[v - 1]
        idx = self.aligned(v, chunk, cands)
        prompt_v = self.prompts[v]
        positions = sorted(set(int(len(prompt_v) + i - 1) for i in idx))
        logits = self.evaluate(v, prompt_v + ids, positions)
        row_of = {p: r for r, p in enumerate(positions)}
        return ([logits[row_of[int(len(prompt_v) + i - 1)]] for i in idx],
                [int(ids[i]) if i < len(ids) else -1 for i in idx])

    def aligned(self, v: int, chunk: Chunk, cands: np.ndarray) -> np.ndarray:
        """Index in verifier v's tokens of the chunk of the token starting at each candidate
        (len(tokens): the position after its last one); its row predicts that token."""
        ids, ends = chunk.v_ids[v - 1], chunk.v_ends[v - 1]
        starts_v = ends - self.models[v].vocab.piece_len[ids] if len(ids) else ends
        idx = aligned_indices(starts_v, chunk.starts_d[cands], chunk.limit)
        assert (idx >= 0).all(), "a candidate offset is a boundary of every verifier"
        return idx

    def speculate(self, draft: Drafted, chunk: Chunk, cands: np.ndarray, v_rows: list[list[np.ndarray]],
                  v_aligned: list[list[int]]) -> tuple[int, list[int], bool]:
        """Sampled: App. H's acceptance test at each open candidate in order; the first replaced
        string cuts the chunk. Each tested position is an ensembled one (its event shows u, P*, q)."""
        dv = self.models[0].vocab
        for ci, j in enumerate(cands.tolist()):
            logits = [draft.logits[j]] + [rows[ci] for rows in v_rows]
            if self.verifiers_unsure(draft, j, logits[1:]):
                continue  # the target here is the drafter's own distribution: the token drawn from it stands
            aligned = [draft.ids[j]] + [a[ci] for a in v_aligned]
            dist = self.union(logits)
            p, sharpened = self.sharpened(dist)
            star = self.target(p, self.continuable(dist))
            q = self.proposal(dist, self.proposal_of(draft, j))
            at = self.union_index(dist, draft.ids[j])
            u = draft.draws[j]
            idx, kept = accept_or_resample(star, q, at, self.rng, u=u)
            chosen, drafted = dist.strings[idx], dv.key(draft.ids[j])
            self.ensembled_at(draft, j, star, idx, dist)
            views = [aligned_view(self.models[m], logits[m], aligned[m]) for m in range(len(self.models))]
            tokens = [drafted] + [EOG_KEY if a < 0 else self.models[m].vocab.key(a) for m, a in enumerate(aligned) if m > 0]
            test = SpeculativeTest(u, 0.0 if at is None else float(star[at]), 0.0 if at is None else float(q[at]), kept)
            self.report(int(chunk.starts_d[j]), chunk.full, drafted, dist, chosen, sharpened, star, None, tokens, views,
                        test)
            if chosen == drafted:
                continue  # kept, or drawn again: the tokens drafted after it were drawn given this same text
            if chosen == EOG_KEY:
                return j, [], True
            own = dv.id_of(chosen)
            return j, [own] if own is not None else dv.tokenize(chosen), False
        return len(draft.ids), [], chunk.eos

    def decide(self, draft: Drafted, chunk: Chunk, cands: np.ndarray, v_rows: list[list[np.ndarray]],
               v_aligned: list[list[int]]) -> tuple[int, list[int], bool]:
        """Greedy: C1/C2 at each candidate in order; the first without consensus is ensembled and may cut the chunk."""
        c = self.config
        dv = self.models[0].vocab
        for ci, j in enumerate(cands):
            j = int(j)
            logits = [draft.logits[j]] + [rows[ci] for rows in v_rows]
            aligned = [draft.ids[j]] + [a[ci] for a in v_aligned]
            views = [aligned_view(self.models[m], logits[m], aligned[m]) for m in range(len(self.models))]
            probs = np.array([p for p, _ in views])
            agrees = np.array([a for _, a in views[1:]])
            cons = check(probs, agrees, self.weights)
            if cons.c1 or cons.c2 > c.consensus_threshold or self.verifiers_unsure(draft, j, logits[1:]):
                continue
            dist = self.union(logits)
            at, sharpened, scores = self.choose(dist, drafted_key=dv.key(draft.ids[j]))
            chosen = dist.strings[at]
            self.ensembled_at(draft, j, scores, at, dist)
            tokens = [dv.key(draft.ids[j])] + [
                EOG_KEY if a < 0 else self.models[m].vocab.key(a) for m, a in enumerate(aligned) if m > 0
            ]
            self.report(int(chunk.starts_d[j]), chunk.full, tokens[0], dist, chosen, sharpened, scores, cons,
                        tokens, views)
            if chosen == dv.key(draft.ids[j]):
                continue  # the ensemble confirmed the drafted token: the tokens after it stay valid
            if chosen == EOG_KEY:
                return j, [], True
            own = dv.id_of(chosen)
            return j, [own] if own is not None else dv.tokenize(chosen), False
        return len(draft.ids), [], chunk.eos
