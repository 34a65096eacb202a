"""Fixed data for the tests that must not depend on model output: an ensembled position
(as the engine reports it) and model picker rows."""

from __future__ import annotations

from safe_local import EnsembleEvent, ModelView, SpeculativeTest
from tui.picker import Choice

EVENT = EnsembleEvent(
    index=1, offset=17, char_offset=17, drafted=" Lyon", chosen=" Paris", replaced=True, base="unite",
    c1=False, c2=0.412, weights=[1 / 3, 1 / 3, 1 / 3], sharpening="heuristic",
    models=[
        ModelView("qwen2.5-coder-0.5b", " Lyon", 0.46, True, [(" Lyon", 0.46), (" Paris", 0.41), (" Marseille", 0.05)]),
        ModelView("gemma3-270m", " Paris", 0.58, True, [(" Paris", 0.58), (" Lyon", 0.2), ("\n", 0.04)]),
        ModelView("smollm2-135m", " Paris", 0.31, False, [(" the", 0.35), (" Paris", 0.31), (" Lyon", 0.12)]),
    ],
    top=[(" Paris", 0.57), (" Lyon", 0.36), (" the", 0.07)],
)
FIRST = EnsembleEvent(**{**EVENT.__dict__, "index": 0, "char_offset": 4, "replaced": False})
# The same position sampled: no C1/C2, the acceptance test instead (u * q > P*: redrawn).
SAMPLED = EnsembleEvent(**{**EVENT.__dict__, "c1": None, "c2": None, "test": SpeculativeTest(0.91, 0.36, 0.46, False)})

CHOICES = [
    Choice("preset", "tiny", ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"],
           "qwen2.5-coder-0.5b + gemma3-270m + smollm2-135m"),
    Choice("preset", "laptop", ["qwen2.5-1.5b", "llama3.2-1b", "gemma3-1b"], "qwen2.5-1.5b + llama3.2-1b + gemma3-1b",
           local=False),
    Choice("model", "qwen2.5-coder-0.5b", ["qwen2.5-coder-0.5b"], "491 MB"),
    Choice("model", "smollm2-135m", ["smollm2-135m"], "98 MB"),
]

# A reply with a code block, a list and a table, and ensembled positions in each of them (the
# table's "2" is in its body, after a header that has a "2" too) and at its end.
MARKDOWN_REPLY = """Here is a function:

```python
def add(a, b):
    return a + b
```

Uses:

- **Sums** of prices
- Counting items

| Name 2 | Value |
|--------|-------|
| one    | 2     |
"""
MARKDOWN_EVENTS = [
    EnsembleEvent(**{**EVENT.__dict__, "index": i, "char_offset": offset, "chosen": chosen, "replaced": i % 2 == 0})
    for i, (offset, chosen) in enumerate([
        (MARKDOWN_REPLY.index("add"), "add"),
        (MARKDOWN_REPLY.index("Sums"), "Sums"),
        (MARKDOWN_REPLY.rindex("2"), "2"),
        (len(MARKDOWN_REPLY), "<eog>"),
    ])
]
