"""`safe-local pull / ls / rm / paths` as a user runs them: real subprocesses, stand-in Hub."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.store.conftest import write_gguf

REPO = "test-org/Tiny-GGUF"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "safe_local", *args], capture_output=True, text=True, timeout=120)


def test_pull_dry_run_pull_ls_rm(hub, small_gguf, tmp_path):
    hosted = hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hub.add(REPO, "twin-Q8_0.gguf", write_gguf(tmp_path / "twin.gguf", tensor_bytes=1024))  # same tokenizer

    dry = cli("pull", "--dry-run", f"{REPO}:Q4_K_M")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"{REPO}:Q4_K_M: would download {REPO}/tiny-Q4_K_M.gguf (262.") and hosted.sha256 in dry.stdout
    assert not [r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]

    pulled = cli("pull", REPO, f"{REPO}:Q8_0")
    assert pulled.returncode == 0, pulled.stderr
    assert f"{REPO}: " in pulled.stdout and pulled.stdout.count("\n") == 2
    assert "100%" in pulled.stderr and "B/s]" in pulled.stderr  # tqdm's bar (not a terminal: first and last state)

    listed = cli("ls")
    assert listed.returncode == 0 and f"{REPO}/tiny-Q4_K_M.gguf" in listed.stdout and "smollm2-135m" in listed.stdout
    rows = {r["name"]: r for r in json.loads(cli("ls", "--json").stdout)}
    assert rows[f"{REPO}/tiny-Q4_K_M.gguf"]["same_tokenizer_as"] == [f"{REPO}/twin-Q8_0.gguf"]
    assert rows["smollm2-135m"]["same_tokenizer_as"] == [] and rows["smollm2-135m"]["vocab_size"] == 49152

    removed = cli("rm", f"{REPO}/tiny-Q4_K_M.gguf")
    assert removed.returncode == 0 and removed.stdout.startswith(f"removed {REPO}/tiny-Q4_K_M.gguf (262.")
    assert f"{REPO}/tiny-Q4_K_M.gguf" not in cli("ls").stdout


def test_errors_are_one_line_with_status_2(hub, small_gguf):
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    for args, message in [
        (("pull", f"{REPO}/nope.gguf"), f"{REPO} has no file nope.gguf: check the file name on the Hub"),
        (("rm", "llama3.2-1b"), "llama3.2-1b is not downloaded"),
        (("run", "--preset", "laptop", "hi"), "qwen2.5-1.5b, llama3.2-1b, gemma3-1b are not downloaded yet: "
                                              "run: safe-local pull qwen2.5-1.5b llama3.2-1b gemma3-1b\n"),
        (("ls", "foo"), "unrecognized arguments: foo (see: safe-local ls --help)\n"),
        (("rm", "x", "--all"), "unrecognized arguments: --all (see: safe-local rm --help)\n"),
        (("--all", "ls"), "unrecognized arguments: --all (see: safe-local --help)\n"),
    ]:
        p = cli(*args)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
        assert p.stderr.startswith(f"safe-local: error: {message}")


def test_paths_and_presets(tmp_path, isolated):
    p = cli("paths")
    assert p.returncode == 0
    assert "config file:" in p.stdout and str(tmp_path / "home" / "config" / "config.toml") in p.stdout
    assert f"downloaded models (HF cache):  {isolated}" in p.stdout
    presets = cli("ls", "--presets").stdout.splitlines()
    assert [line.split()[0] for line in presets] == ["tiny", "laptop", "paper"]


def test_ls_presets_says_where_each_model_runs(tmp_path, isolated):
    config = tmp_path / "home" / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[presets.far]\nmodels = ["qwen2.5-coder-0.5b", "smollm2-135m"]\n'
                      'rpc = { smollm2-135m = "10.0.0.2:50052" }\n')
    far = next(p for p in json.loads(cli("ls", "--presets", "--json").stdout) if p["name"] == "far")
    assert far["runs_on"] == {"qwen2.5-coder-0.5b": "local", "smollm2-135m": "10.0.0.2:50052"}
    line = next(line for line in cli("ls", "--presets").stdout.splitlines() if line.startswith("far "))
    assert "qwen2.5-coder-0.5b,smollm2-135m@10.0.0.2:50052" in line
