"""The pure-NumPy core of safe-local: SAFE (Stable And Fast LLM Ensembling) without a runtime.

Everything here works on token tables, byte offsets and logit arrays handed in by a backend:
- vocab: a model's token table (`Vocab`), union keys, first sub-token of a string;
- alignment: byte-offset boundaries, candidate positions (where no drafted token before is
  OOV-like, Eq. 1: candidate_positions is how OOV-like tokens are found) and aligned positions;
- consensus: the C1/C2 skip test (Theorem 1) and model weights;
- probs / sampling: the one softmax, greedy / temperature / top-p / min-p token choice;
- penalties: repeat, presence, frequency and DRY penalties on one model's logits;
- ensemble: UniTE top-k union and GaC full-vocabulary union distributions;
- sharpening: heuristic prefix consolidation and geometric mean for flat ensembles;
- speculative: the sampling variant (paper App. H): its target, the acceptance test, and what
  the drafter alone can prove.

Left out on purpose: loading or running models, KV caches, prompts and chat templates, and the
generate-verify-ensemble loop itself (the engine). Nothing here imports llama_cpp.
"""

from .alignment import (
    aligned_indices,
    candidate_positions,
    complete_utf8_len,
    token_ends,
)
from .consensus import Consensus, c2_settled, check, drafter_decides, drafter_keeps, normalize_weights, verifiers_sure
from .ensemble import GacUnion, UnionDistribution, unite_union
from .penalties import Penalizer
from .probs import softmax, top_indices
from .sampling import draw, min_p_filter, sample_token, sampler_distribution, top_p_filter
from .sharpening import THRESHOLD as SHARPENING_THRESHOLD
from .sharpening import geometric, heuristic, sharpen
from .speculative import accept_or_resample, acceptance, proven_share, residual
from .vocab import EOG_KEY, Vocab

__all__ = [
    "EOG_KEY",
    "Vocab",
    "token_ends",
    "complete_utf8_len",
    "candidate_positions",
    "aligned_indices",
    "Consensus",
    "normalize_weights",
    "check",
    "c2_settled",
    "drafter_decides",
    "drafter_keeps",
    "verifiers_sure",
    "softmax",
    "top_indices",
    "UnionDistribution",
    "unite_union",
    "GacUnion",
    "heuristic",
    "geometric",
    "sharpen",
    "accept_or_resample",
    "proven_share",
    "acceptance",
    "residual",
    "SHARPENING_THRESHOLD",
    "sample_token",
    "sampler_distribution",
    "top_p_filter",
    "min_p_filter",
    "Penalizer",
    "draw",
]
