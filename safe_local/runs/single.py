"""`single`: one model alone, token by token (the drafter unless `single_model` picks another).

Left out: everything about ensembles; the model's weights do not apply.
"""

from __future__ import annotations

from typing import Iterator

from safe_local.runs.base import Run, Stop


class SingleRun(Run):
    def loop(self) -> Iterator[None]:
        model, prompt = self.models[0], self.prompts[0]
        gen: list[int] = []
        while len(gen) < self.config.max_tokens:
            self.check_cancel()
            self.room(0, len(prompt) + len(gen))
            target = prompt + gen
            logits = self.evaluate(0, target, [len(target) - 1])[0]
            tok = self.sample(logits)
            if model.vocab.eog_mask[tok]:
                raise Stop("eos")
            if self.top_logprobs is not None:
                self.note([self.logprob(self.chosen_from(logits), tok, model.vocab.key, "drafter")])
            gen.append(tok)
            self.stats.tokens = len(gen)
            self.stats.cycles += 1
            self.accept(self.data + model.vocab.pieces[tok])
            yield
