"""The every-token baselines: `unite` (ensemble every step) and `gac` (when the drafter is unsure).

Each step all models' distributions are combined (UniTE's top-k union, or GaC's full union
vocabulary once the drafter's max probability is below `gac_threshold`), and the chosen string
is tokenized and pushed into every model, whose KV caches grow with it. Left out: SAFE's
drafting and verification (safe_local.runs.safe).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from safe_local.core import EOG_KEY, complete_utf8_len
from safe_local.runs.base import Run, Stop, max_prob, string_view


class PushedRun(Run):
    def loop(self) -> Iterator[None]:
        c = self.config
        always = c.method == "unite"
        k = len(self.models)
        seqs = [list(p) for p in self.prompts]
        self.unpushed = [b""] * k
        d = self.models[0].vocab
        start = [len(p) for p in self.prompts]
        while len(seqs[0]) - start[0] < c.max_tokens:
            self.check_cancel()
            for m in range(k):
                self.room(m, len(seqs[m]))
            d_logits = self.evaluate(0, seqs[0], [len(seqs[0]) - 1])[0]
            self.stats.cycles += 1
            if not always:
                if max_prob(d_logits) >= c.gac_threshold:
                    tok = self.sample(d_logits)
                    if d.eog_mask[tok]:
                        raise Stop("eos")
                    self.push(seqs, d.key(tok), drafter_ids=[tok])
                    yield
                    continue
            logits = [d_logits] + [self.evaluate(m, seqs[m], [len(seqs[m]) - 1])[0] for m in range(1, k)]
            dist = self.union(logits)
            chosen, _, scores = self.choose(dist, drafted_key=None)
            tops = [dist.strings[int(np.argmax(row))] for row in dist.per_model]
            views = [string_view(dist, m, chosen) for m in range(k)]
            self.report(len(self.data), self.data, tops[0], dist, chosen, None, scores, None, tops, views)
            if chosen == EOG_KEY:
                raise Stop("eos")
            self.push(seqs, chosen)
            yield

    def push(self, seqs: list[list[int]], piece: bytes, drafter_ids: list[int] | None = None) -> None:
        """Append a chosen string to every model's sequence.

        Models tokenize only whole UTF-8 characters, so a string ending inside one waits in
        `self.unpushed` until the rest arrives; the drafter takes its own ids when it chose.
        A string that would take the drafter past max_tokens ends the reply instead.
        """
        staged = []
        for m, model in enumerate(self.models):
            if m == 0 and drafter_ids is not None and not self.unpushed[0]:
                staged.append((drafter_ids, b""))
                continue
            buf = self.unpushed[m] + piece
            n = complete_utf8_len(buf)
            staged.append((model.vocab.tokenize(buf[:n]), buf[n:]))
        if len(seqs[0]) - len(self.prompts[0]) + len(staged[0][0]) > self.config.max_tokens:
            raise Stop("length")
        for m, (ids, rest) in enumerate(staged):
            seqs[m].extend(ids)
            self.unpushed[m] = rest
        self.stats.tokens = len(seqs[0]) - len(self.prompts[0])
        self.accept(self.data + piece)
