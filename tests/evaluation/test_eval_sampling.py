"""`safe-local eval` under a sampler: its flags, their errors, the settings hash and the report.

Most tests here read the flags and build the methods' settings without loading a model; the
last one runs SmolLM2 alone on 2 GSM8K items under the chat's sampler, then runs again with the
same seed (reused) and into another directory (the same answers).
"""

from __future__ import annotations

import pytest

from safe_local.api import Ensemble
from safe_local.chat_defaults import CHAT_SAMPLING
from safe_local.cli import build_parser, main
from safe_local.commands.eval import SEED_NEEDED, generation_base
from safe_local.evaluation.methods import parse_methods
from safe_local.evaluation.report import sampler_text, write_report
from safe_local.evaluation.results import read_records
from tests.evaluation.settings_hashes import without_code

TRIO = ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]
# Every method's settings hash of a greedy run as `safe-local eval` built it before it could
# sample (computed with that code), without and with --stop-loops. The two single models'
# stop-loops hashes are also those stored in docs/eval/results.jsonl. Since the code that answers
# is in the settings, these are the hashes of the settings without it.
GREEDY_HASHES = {
    (): {"qwen2.5-coder-0.5b": "16ea9c6b0313", "gemma3-270m": "a4fb94f62047", "smollm2-135m": "c7c72485f936",
         "unite": "ce3c6eee2f2d", "gac": "a9b6e6af78b4", "safe-unite": "3ecbb53b5662", "safe-gac": "7614aaec6aae"},
    ("--stop-loops",): {"qwen2.5-coder-0.5b": "2db3e9ef9bb7", "gemma3-270m": "201f4f289802",
                        "smollm2-135m": "e8cedc4cdcbe", "unite": "68a41fe5ab32", "gac": "d98c8f768b44",
                        "safe-unite": "6424c67929e1", "safe-gac": "a94e35aeb628"},
}


def methods(*flags: str, preset: dict | None = None) -> dict:
    """The run's methods by label, as `safe-local eval --task gsm8k FLAGS` builds them for TRIO."""
    args = build_parser().parse_args(["eval", "--task", "gsm8k", *flags])
    return {m.label: m for m in parse_methods(None, TRIO, generation_base(args, preset or {}))}


def hashes(*flags: str) -> dict[str, str]:
    return {label: m.settings_hash for label, m in methods(*flags).items()}


def hashes_without_code(*flags: str) -> dict[str, str]:
    return {label: without_code(m.settings) for label, m in methods(*flags).items()}


@pytest.mark.parametrize("flags", list(GREEDY_HASHES))
def test_a_greedy_run_keeps_the_settings_it_had_before_sampling(flags):
    assert hashes_without_code(*flags) == GREEDY_HASHES[flags]
    # Spelling greedy out, or a penalty at its off value, changes nothing either.
    assert hashes(*flags, "--temperature", "0") == hashes(*flags, "--repeat-penalty", "1") == hashes(*flags)
    # The code that answers is in the hash: the stored answers of older code are not this code's.
    assert all(hashes(*flags)[label] != GREEDY_HASHES[flags][label] for label in GREEDY_HASHES[flags])
    for method in methods(*flags).values():
        config = method.settings["config"]
        assert (config["temperature"], config["top_p"], config["seed"]) == (0.0, 1.0, None)
        assert "min_p" not in config and "repeat_penalty" not in config


def test_the_chat_sampler_and_its_seed_apply_to_every_method_and_are_stored():
    sampled = methods("--chat-sampling", "--seed", "1")
    assert len(sampled) == 7  # the three models alone and the four ensembles
    for method in sampled.values():
        assert method.config.seed == 1
        assert method.settings["config"] | CHAT_SAMPLING | {"seed": 1} == method.settings["config"]


def test_explicit_options_go_over_the_chat_sampler():
    config = methods("--chat-sampling", "--temperature", "0.5", "--min-p", "0.1", "--seed", "7")["unite"].config
    assert (config.temperature, config.top_p, config.min_p, config.repeat_penalty, config.seed) == (
        0.5, 0.95, 0.1, 1.1, 7)
    # A preset's penalties apply unless a flag is given; its temperature never does (eval's own).
    preset = {"temperature": 1.5, "repeat_penalty": 1.3, "presence_penalty": 0.5}
    config = methods("--temperature", "0.7", "--seed", "1", preset=preset)["safe-gac"].config
    assert (config.temperature, config.repeat_penalty, config.presence_penalty) == (0.7, 1.3, 0.5)
    assert methods("--chat-sampling", "--seed", "1", preset=preset)["gac"].config.repeat_penalty == 1.1


def test_greedy_with_the_chat_samplers_penalty_drops_what_greedy_ignores():
    # --chat-sampling --temperature 0: greedy with the chat's repeat penalty; its top-p and
    # min-p would change no answer, only the hash.
    assert hashes("--chat-sampling", "--temperature", "0") == hashes("--repeat-penalty", "1.1")
    assert hashes_without_code("--repeat-penalty", "1.1") != GREEDY_HASHES[()]
    config = methods("--chat-sampling", "--temperature", "0")["smollm2-135m"].settings["config"]
    assert (config["temperature"], config["top_p"], config["seed"], config["repeat_penalty"]) == (0.0, 1.0, None, 1.1)
    assert "min_p" not in config


def test_verifier_confidence_comes_from_its_flags_over_the_preset_and_is_hashed_only_when_on():
    preset = {"method": "safe", "base": "gac", "verifier_confidence": 0.5}
    assert methods("--verifier-confidence", "0.7", preset=preset)["safe-gac"].config.verifier_confidence == 0.7
    assert methods(preset=preset)["safe-gac"].config.verifier_confidence == 0.5
    on = methods("--verifier-confidence", "0.7", "--verifier-beats-drafter")
    assert on["safe-gac"].settings["config"]["verifier_confidence"] == 0.7
    assert on["safe-gac"].settings["config"]["verifier_beats_drafter"] is True
    assert on["safe-gac"].settings_hash != hashes()["safe-gac"]
    assert on["smollm2-135m"].settings_hash == hashes()["smollm2-135m"]  # a model alone has no verifiers
    assert hashes("--verifier-confidence", "0") == hashes()  # off: the run it always was


def test_another_seed_or_sampler_is_another_settings_hash():
    one = hashes("--chat-sampling", "--seed", "1")
    assert one == hashes("--seed", "1", "--chat-sampling")  # reproducible: the same run, the same keys
    others = [hashes(), hashes("--chat-sampling", "--seed", "2"),
              hashes("--chat-sampling", "--temperature", "0.7", "--seed", "1"),
              hashes("--temperature", "0.8", "--seed", "1"),  # no cut or penalty: not the chat's sampler
              hashes("--chat-sampling", "--top-p", "0.9", "--seed", "1")]
    for other in others:
        assert all(one[label] != other[label] for label in one)


SAMPLED = ["--temperature", "0.7", "--seed", "1"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--temperature", "0.7"], SEED_NEEDED),
        (["--chat-sampling"], SEED_NEEDED),
        (["--chat-sampling", "--top-p", "0.9"], SEED_NEEDED),
        (["--seed", "1"], "--seed applies only when sampling: add --temperature T (T > 0) or --chat-sampling"),
        (["--top-p", "0.9", "--min-p", "0.1", "--temperature", "0"],
         "--top-p, --min-p apply only when sampling: add --temperature T (T > 0) or --chat-sampling"),
        (["--chat-sampling", "--temperature", "0", "--seed", "3"], "--seed applies only when sampling"),
        (["--temperature", "-0.5", "--seed", "1"], "--temperature must be 0 (greedy) or more, got -0.5"),
        (["--temperature", "nan", "--seed", "1"], "--temperature must be 0 (greedy) or more, got nan"),
        (["--temperature", "inf", "--seed", "1"], "--temperature must be 0 (greedy) or more, got inf"),
        (["--temperature", "warm"], "argument --temperature: invalid float value: 'warm'"),
        (["--chat-sampling", "--seed", "-1"], "--seed must be 0 or more, got -1"),
        (["--chat-sampling", "--seed", "1.5"], "argument --seed: invalid int value: '1.5'"),
        ([*SAMPLED, "--top-p", "0"], "top-p must be in (0, 1], got 0.0"),
        ([*SAMPLED, "--min-p", "1.5"], "min_p must be in [0, 1] (0: off), got 1.5"),
        (["--repeat-penalty", "0"], "repeat_penalty must be > 0 (1: off), got 0.0"),
        (["--repeat-penalty", "nan"], "repeat_penalty must be > 0 (1: off), got nan"),
    ],
)
def test_bad_sampler_flags_are_one_line_errors_before_any_model_loads(flags, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Ensemble, "load", lambda *_, **__: pytest.fail("the models were loaded"))
    out = tmp_path / "out"
    assert main(["eval", "--task", "gsm8k:1", "--models", "smollm2-135m", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("safe-local: error: ") and message in err
    assert not out.exists()


def test_the_seed_error_is_exactly_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Ensemble, "load", lambda *_, **__: pytest.fail("the models were loaded"))
    assert main(["eval", "--task", "gsm8k:1", "--chat-sampling", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"safe-local: error: {SEED_NEEDED}\n"
    assert SEED_NEEDED == "sampling needs --seed so answers can be reproduced and paired"


@pytest.mark.parametrize("flags", [["--seed", "1"], ["--chat-sampling"], ["--temperature", "0.7", "--min-p", "0.1"]])
def test_report_and_fetch_refuse_the_sampler_flags(flags, capsys):
    assert main(["eval", "report", *flags, "--out", "/nonexistent/eval"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("safe-local: error: eval report does not take --") and err.count("\n") == 1
    assert main(["eval", "fetch", *flags]) == 2
    assert "eval fetch does not take --" in capsys.readouterr().err


def test_sampler_text_names_the_sampler_or_greedy():
    greedy = {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": None}
    assert sampler_text(greedy) == "greedy"
    assert sampler_text({"max_tokens": 64}) == "greedy"  # a record from before temperature was stored
    assert sampler_text(greedy | {"repeat_penalty": 1.1, "min_p": 0.05}) == "greedy, repeat penalty 1.1"
    chat = greedy | CHAT_SAMPLING | {"seed": 1}
    assert sampler_text(chat) == "temperature 0.8, top-p 0.95, min-p 0.05, repeat penalty 1.1, seed 1"
    assert sampler_text(greedy | {"temperature": 0.7, "seed": 0}) == "temperature 0.7, seed 0"


def _record(item: str, config: dict, settings_hash: str) -> dict:
    return {"task": "gsm8k", "item_id": item, "method": "smol", "settings_hash": settings_hash, "kind": "single",
            "models": ["smol"], "drafter": "smol", "correct": item == "1", "tokens": 10, "ensembled": 0,
            "seconds": 1.0, "settings": {"config": {"max_tokens": 32, "top_p": 1.0} | config}}


def test_the_report_header_names_the_sampler_only_when_one_was_used(tmp_path):
    greedy = [_record(i, {"temperature": 0.0, "seed": None}, "aaaaaaaaaaaa") for i in ("1", "2")]
    report = write_report(greedy, tmp_path / "greedy").read_text(encoding="utf-8")
    assert "Sampled" not in report and "· max tokens 32 · greedy\n" in report
    chat = CHAT_SAMPLING | {"seed": 1}
    sampled = [_record(i, chat, "bbbbbbbbbbbb") for i in ("1", "2")]
    report = write_report(sampled, tmp_path / "sampled").read_text(encoding="utf-8")
    text = "temperature 0.8, top-p 0.95, min-p 0.05, repeat penalty 1.1, seed 1"
    assert f"\n\nSampled: {text} (every method starts each item from that seed).\n" in report
    assert f"· max tokens 32 · {text}\n" in report
    both = write_report(greedy + sampled, tmp_path / "both").read_text(encoding="utf-8")
    assert f"· max tokens 32 · greedy; {text}\n" in both and f"Sampled: {text} (" in both


def _run(out, capsys) -> tuple[list[dict], str]:
    """Sample SmolLM2's answers to the first 2 GSM8K items into `out`; the records and stderr."""
    assert main(["eval", "--task", "gsm8k:2", "--models", "smollm2-135m", "--methods", "single:0",
                 "--chat-sampling", "--seed", "1", "--max-tokens", "32", "--threads", "1", "--out", str(out)]) == 0
    return read_records(out / "results.jsonl"), capsys.readouterr().err


def test_a_sampled_run_records_its_sampler_and_reruns_reuse_or_reproduce_it(tmp_path, capsys):
    records, _ = _run(tmp_path / "a", capsys)
    assert [r["item_id"] for r in records] == ["0", "1"]
    for r in records:
        config = r["settings"]["config"]
        assert config | CHAT_SAMPLING | {"seed": 1} == config
        assert r["settings_hash"] == records[0]["settings_hash"] != GREEDY_HASHES[()]["smollm2-135m"]
        assert 0 < r["tokens"] <= 32
    report = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert "Sampled: temperature 0.8, top-p 0.95, min-p 0.05, repeat penalty 1.1, seed 1 (" in report

    before = (tmp_path / "a" / "results.jsonl").read_bytes()
    _, err = _run(tmp_path / "a", capsys)  # the same seed: nothing runs again
    assert "resuming: 2 of 2 results already in" in err
    assert (tmp_path / "a" / "results.jsonl").read_bytes() == before

    again, _ = _run(tmp_path / "b", capsys)  # from scratch: the seed reproduces the answers
    assert [(r["text"], r["settings_hash"]) for r in again] == [(r["text"], r["settings_hash"]) for r in records]
