"""The llama.cpp backend on the real offline models."""

from __future__ import annotations

import numpy as np
import pytest

from safe_local.backend import ContextFullError, LlamaModel, LoadOptions
from safe_local.errors import SafeLocalError

TEXTS = [
    "Hello, world! The capital of France is Paris.",
    "def f(x):\n\treturn x ** 2  # square\n\n\n    spaced   out",
    "Emoji 🎉🚀 and CJK 你好世界, mixed: 東京 is big.",
    "Incorrect answers: 17 × 23 = 391.",
]


def test_piece_tables_keep_long_pieces(qwen, smol, gemma):
    # The high-level token_to_piece would cut these at 32 bytes.
    assert int(smol.vocab.piece_len.max()) >= 81
    assert int(qwen.vocab.piece_len.max()) >= 128
    assert gemma.vocab.n_vocab == 262144 and qwen.vocab.n_vocab == 151936 and smol.vocab.n_vocab == 49152


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_round_trip_the_text(text, qwen, gemma, smol):
    data = text.encode()
    for model in (qwen, gemma, smol):
        ids = model.tokenize(data)
        assert ids[0] != model.bos_id  # continuation text never gets a BOS
        assert b"".join(model.vocab.pieces[i] for i in ids) == data, model.name


def test_tokenizers_really_differ(qwen, gemma, smol):
    word = b" Incorrect"
    assert len(smol.tokenize(word)) > len(qwen.tokenize(word))


def test_end_of_generation_tokens(qwen, gemma, smol):
    for model, marker in ((qwen, b"<|im_end|>"), (gemma, b"<end_of_turn>"), (smol, b"<|im_end|>")):
        (tid,) = model.tokenize(marker, special=True)
        assert model.vocab.eog_mask[tid], model.name
        assert model.vocab.pieces[tid] == b""  # control tokens carry no text
        assert not model.vocab.excluded_mask[tid]


def test_chat_templates(qwen, gemma):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    q = qwen.chat_template.render(messages)
    assert qwen.chat_template.source == "gguf"
    assert q.endswith("<|im_start|>assistant\n") and "Be brief." in q
    g = gemma.chat_template.render(messages)
    assert gemma.chat_template.source == "family:gemma3"
    assert g == "<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
    ids = gemma.prompt_tokens(messages)
    assert ids[0] == gemma.bos_id and ids.count(gemma.bos_id) == 1


def test_bad_message_is_a_clear_error(qwen):
    with pytest.raises(SafeLocalError, match="role"):
        qwen.prompt_tokens([{"role": "robot", "content": "x"}])


def _probs(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_evaluate_returns_requested_rows_and_caches_the_prefix(qwen):
    ids = qwen.tokenize(TEXTS[0].encode())
    rows = qwen.evaluate(ids, [3, len(ids) - 1])
    assert rows.shape == (2, qwen.n_vocab) and rows.dtype == np.float32
    assert qwen.cached_tokens == ids
    # Same positions again with the prefix cached: only the requested positions are re-decoded.
    before = qwen.n_decoded
    again = qwen.evaluate(ids, [len(ids) - 1])
    assert qwen.n_decoded - before == 1
    assert np.abs(_probs(again[0]) - _probs(rows[1])).sum() < 0.1


@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"])
def test_rollback_matches_a_fresh_model(name, loaded_models, offline_model_paths):
    model = loaded_models[name]
    a = model.tokenize(b"The quick brown fox jumps over")
    b = model.tokenize(b" the lazy dog and keeps running far away")
    c = model.tokenize(b" a sleeping cat")
    model.evaluate(a + b, [len(a + b) - 1])
    rolled = model.evaluate(a + c, [len(a + c) - 1])[0]  # drops b from the cache, decodes c
    assert model.cached_tokens == a + c
    with LlamaModel(offline_model_paths[name], options=LoadOptions(n_ctx=256)) as fresh:
        direct = fresh.evaluate(a + c, [len(a + c) - 1])[0]
    p, q = _probs(rolled), _probs(direct)
    # Batch shapes differ (a+b then c, against a+c at once), so only near-equality is expected;
    # a stale cache entry would change the distribution completely.
    assert np.abs(p - q).sum() < 0.35
    assert int(p.argmax()) == int(q.argmax())


def test_context_limits(offline_model_paths):
    with LlamaModel(offline_model_paths["smollm2-135m"], options=LoadOptions(n_ctx=32)) as small:
        ids = small.tokenize(("word " * 40).encode())
        with pytest.raises(ContextFullError, match="context of 32"):
            small.evaluate(ids, [len(ids) - 1])
        assert small.evaluate(ids[:10], [9]).shape == (1, small.n_vocab)  # still usable afterwards


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(SafeLocalError, match="not found"):
        LlamaModel(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(SafeLocalError, match="could not load"):
        LlamaModel(bad)


@pytest.mark.parametrize("piece", [b" ", b"1", b".", b"a"])
def test_a_piece_with_a_byte_fallback_twin_is_the_tokenizers_own_token(gemma, piece):
    # Gemma's vocabulary has <0x20>-style byte-fallback tokens with the same bytes as its real
    # " ", digits and letters. UniTE scores a string outside a model's top-k by that model's
    # token for it, which must be the one its tokenizer writes, not the twin the model never emits.
    vocab = gemma.vocab
    twins = [i for i, p in enumerate(vocab.pieces) if p == piece]
    assert len(twins) == 2
    own = vocab.tokenize(piece)
    assert len(own) == 1 and vocab.id_of(piece) == own[0] == vocab.first_token(piece)
    prompt = gemma.tokenize(b"The answer is")
    logits = gemma.evaluate(prompt, [len(prompt) - 1])[0]
    other = next(i for i in twins if i != own[0])
    assert logits[own[0]] > logits[other] + 10  # the twin sits near -17, the real token far above
