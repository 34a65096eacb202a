"""The every-token baselines: `unite` (ensemble every step) and `gac` (when the drafter is unsure).

Each step all models' distributions are combined (UniTE's top-k union, or GaC's full union
vocabulary once the drafter's max probability is below `gac_threshold`), and the chosen string
is appended to the drafter's ids; every other model re-tokenizes the whole reply (as UniTE's
released code does), so its KV cache keeps the common prefix and decodes the changed tail.
Left out: SAFE's drafting and verification (safe_local.runs.safe).
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
        self.unpushed = b""  # the drafter's part of a string that ends inside a UTF-8 character
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
                    if self.top_logprobs is not None:
                        self.note([self.logprob(self.chosen_from(d_logits), tok, d.key, "drafter")])
                    self.push(seqs, d.key(tok), drafter_ids=[tok])
                    yield
                    continue
            logits = [d_logits] + [self.evaluate(m, seqs[m], [len(seqs[m]) - 1])[0] for m in range(1, k)]
            dist = self.union(logits)
            at, _, scores = self.choose(dist, drafted_key=None)
            chosen = dist.strings[at]
            tops = [dist.strings[int(np.argmax(row))] for row in dist.per_model]
            views = [string_view(dist, m, chosen) for m in range(k)]
            self.report(len(self.data), self.data, tops[0], dist, chosen, None, scores, None, tops, views)
            if chosen == EOG_KEY:
                raise Stop("eos")
            if self.top_logprobs is not None:
                self.note([self.logprob(scores, at, dist.strings.__getitem__, "ensemble")])
            self.push(seqs, chosen)
            yield

    def push(self, seqs: list[list[int]], piece: bytes, drafter_ids: list[int] | None = None) -> None:
        """Append a chosen string: the drafter gets ids for it, every other model re-tokenizes the text.

        As in UniTE's released code, the drafter keeps its own ids (the ones it chose, or the
        string's tokenization) while each other model sees its canonical tokenization of the
        whole reply: a string tokenized alone and appended (" \n\n" after "." as one token, say)
        is a sequence that model would never have produced, and it predicts poorly after it.
        Only whole UTF-8 characters are tokenized, so the drafter's share of a string that ends
        inside one waits in `self.unpushed`. A string that would take the drafter past
        max_tokens ends the reply instead.
        """
        if drafter_ids is not None and not self.unpushed:
            ids, rest = drafter_ids, b""
        else:
            buf = self.unpushed + piece
            n = complete_utf8_len(buf)
            ids, rest = self.models[0].vocab.tokenize(buf[:n]), buf[n:]
        if len(seqs[0]) - len(self.prompts[0]) + len(ids) > self.config.max_tokens:
            raise Stop("length")
        seqs[0].extend(ids)
        self.unpushed = rest
        text = self.data + piece
        text = text[: complete_utf8_len(text)]
        for m in range(1, len(self.models)):
            seqs[m][len(self.prompts[m]):] = self.models[m].vocab.tokenize(text) if text else []
        self.stats.tokens = len(seqs[0]) - len(self.prompts[0])
        self.accept(self.data + piece)
