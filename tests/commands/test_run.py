"""`safe-local run` end to end, as a user runs it (a real subprocess on the real models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from safe_local.backend.rpc import LoopbackServer
from safe_local.cli import main
from safe_local.store.catalog import load_catalog

TINY = load_catalog().presets["tiny"]  # the default ensemble


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "safe_local", *args], input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_run_json_reports_text_and_statistics():
    p = _cli("run", "What is the capital of France?", "--max-tokens", "16", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("text", "method", "models", "drafter", "tokens", "ensembled", "ensemble_rate", "cycles",
                "seconds", "tokens_per_s"):
        assert key in out
    assert out["models"] == ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]
    assert out["drafter"] == "qwen2.5-coder-0.5b" and out["method"] == "safe" and out["base"] == TINY.base
    assert out["text"].strip() and 0 < out["tokens"] <= 16
    assert p.stderr == ""  # llama.cpp's own logging stays out of the way


def test_run_streams_text_from_stdin_with_options():
    p = _cli("run", "-", "--models", "qwen2.5-coder-0.5b,smollm2-135m", "--method", "safe", "--base", "gac",
             "--chunk", "3", "--max-tokens", "12", "--weights", "2,1", "--system", "Answer in one word.",
             stdin="Name a primary color.")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip()
    assert "safe/gac" in p.stderr and "tokens" in p.stderr  # the one-line summary


def test_penalty_flags_reach_the_engine():
    args = ["run", "Write a story about a cat.", "--method", "single", "--max-tokens", "40", "--json"]
    plain = json.loads(_cli(*args).stdout)["text"]
    p = _cli(*args, "--repeat-penalty", "2", "--repeat-last-n", "-1", "--dry-multiplier", "0.8",
             "--dry-sequence-breaker", "\\n", "--dry-sequence-breaker", ".")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["text"] != plain


def test_verifier_confidence_flags_reach_the_engine():
    p = _cli("run", "What is 48 plus half of 48?", "--method", "safe", "--base", "unite", "--max-tokens", "40",
             "--json", "--verifier-confidence", "1", "--verifier-beats-drafter")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["ensembled"] == 0 and out["verifiers_unsure"] > 0  # no verifier is ever that sure


def test_a_json_schema_or_grammar_file_constrains_the_reply(tmp_path):
    schema = {"type": "object", "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 100}},
              "required": ["answer"], "additionalProperties": False}
    (tmp_path / "answer.json").write_text(json.dumps(schema))
    p = _cli("run", "What is 6 * 7?", "--json-schema", str(tmp_path / "answer.json"), "--max-tokens", "20")
    assert p.returncode == 0, p.stderr
    assert set(json.loads(p.stdout)) == {"answer"}
    (tmp_path / "yes.gbnf").write_text('root ::= "yes" | "no"\n')
    p = _cli("run", "Is Paris in France?", "--grammar", str(tmp_path / "yes.gbnf"), "--models", "smollm2-135m")
    assert p.returncode == 0 and p.stdout.strip() in ("yes", "no"), p.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "hi", "--json-schema", "/nonexistent.json"], "cannot read the JSON schema /nonexistent.json"),
        (["run", "hi", "--grammar", "/nonexistent.gbnf"], "cannot read the grammar /nonexistent.gbnf"),
        (["run", "hi", "--grammar", "a", "--json-schema", "b"], "not allowed with argument"),
        (["run", "hi", "--models", "no-such-model,smollm2-135m"], "unknown model 'no-such-model'"),
        (["run", "hi", "--method", "vote"], "invalid choice"),
        (["run", "hi", "--weights", "1,x"], "comma-separated"),
        (["run", "hi", "--weights", "1,2"], "bad weights"),
        (["run", "hi", "--models", "qwen2.5-coder-0.5b", "--method", "safe"], "at least 2 models"),
        (["run", "hi", "--models", " , "], "names no model"),
        (["run", "hi", "--ctx", "0"], "context length"),
        (["run", "hi", "--threads", "-3"], "number of threads"),
        (["run", "hi", "--preset", "tiny", "--stop-loops", "--chunk", "0"], "chunk length"),
        (["run", "   "], "prompt is empty"),
        (["run", "hi", "--repeat-penalty", "0"], "repeat_penalty must be > 0"),
        (["run", "hi", "--dry-base", "0.5"], "dry_base must be >= 1"),
        (["run", "hi", "--min-p", "2"], "min_p must be in [0, 1]"),
        (["run", "hi", "--verifier-confidence", "1.5"], "verifier confidence must be in [0, 1]"),
        (["run", "hi", "--models", "qwen2.5-coder-0.5b,smollm2-135m@somewhere:port"],
         "RPC server 'somewhere:port' is not host:port"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line_with_status_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("safe-local: error: ") and message in err
    assert "Traceback" not in err


def test_errors_from_a_subprocess_have_no_traceback():
    p = _cli("run", "hi", "--models", "/nonexistent/model.gguf")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_one_model_runs_alone_even_from_a_preset_with_weights():
    # tiny's three weights neither apply to one model nor stop it from running alone.
    p = _cli("run", "Say hi.", "--preset", "tiny", "--models", "smollm2-135m", "--max-tokens", "3", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["method"] == "single" and out["models"] == ["smollm2-135m"]


def test_a_model_placed_on_an_rpc_server_answers_as_it_does_here():
    models = "qwen2.5-coder-0.5b,smollm2-135m"
    here = _cli("run", "What is 6 * 7?", "--models", models, "--max-tokens", "12", "--json")
    with LoopbackServer() as server:
        placed_models = models.replace("smollm2-135m", f"smollm2-135m@{server.endpoint}")
        placed = _cli("run", "What is 6 * 7?", "--models", placed_models, "--max-tokens", "12", "--json")
    assert here.returncode == placed.returncode == 0, placed.stderr
    assert json.loads(placed.stdout)["text"] == json.loads(here.stdout)["text"]
    assert json.loads(placed.stdout)["models"] == ["qwen2.5-coder-0.5b", "smollm2-135m"]


def test_the_command_line_is_built_without_loading_llama_cpp():
    # --help, a bad flag and doctor's own crash-proof probing all rely on it (safe_local/__init__.py)
    code = "import sys; from safe_local.cli import build_parser; build_parser(); print('llama_cpp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
