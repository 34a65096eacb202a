"""SmolLM2 loaded as Q8_0 (converted from its packaged Q4_1): the same model, measured against the Q4_1 file."""

from __future__ import annotations

import numpy as np
import pytest

from safe_local import offline_models as om
from safe_local.backend import LlamaModel, LoadOptions
from safe_local.backend.requantize import requantize

TEXT = (b"Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        b"How many clips did Natalia sell altogether in April and May? Let's think step by step. "
        b"In April she sold 48 clips. In May she sold 48 / 2 = 24 clips. Altogether 48 + 24 = 72.")


def log_softmax(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float64)
    rows -= rows.max(axis=1, keepdims=True)
    return rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))


def test_the_converted_model_predicts_what_the_packaged_one_does(offline_model_paths):
    source = om.packaged_path("smollm2-135m")
    converted = offline_model_paths["smollm2-135m"]
    assert source != converted
    logp = []
    for path in (source, converted):
        with LlamaModel(path, options=LoadOptions(n_ctx=256)) as model:
            ids = model.tokenize(TEXT)
            logp.append(log_softmax(model.evaluate(ids, list(range(len(ids))))))
    q41, q80 = logp
    kl = (np.exp(q41) * (q41 - q80)).sum(axis=1)
    # Q8_0 keeps every Q4_1 weight to 1/254 of its block's range; what moves is rounding in the
    # activations. Measured: the same argmax at all positions, mean KL 0.011 nat, max 0.065.
    assert (q41.argmax(axis=1) == q80.argmax(axis=1)).mean() >= 0.95
    assert kl.mean() < 0.03 and kl.max() < 0.2


def test_an_unknown_quantization_is_refused_before_any_file_is_made(tmp_path):
    with pytest.raises(ValueError, match="Q4_1"):
        requantize(tmp_path / "in.gguf", tmp_path / "out.gguf", "Q4_1")
    assert not list(tmp_path.iterdir())
