"""resolve_model: short names, Hub specs (offline), .gguf paths, one-line errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from safe_local.errors import SafeLocalError
from safe_local.offline_models import offline_model_names
from safe_local.store import load_catalog
from safe_local.store.model_paths import resolve_model

UNKNOWN = "unknown model '{}': use one of {}, owner/repo[:QUANT] from the Hub or a path to a .gguf file"


def error(spec: str) -> str:
    with pytest.raises(SafeLocalError) as exc:
        resolve_model(spec)
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


def test_short_names_resolve_to_the_offline_models(offline_model_paths, pulled_model_paths):
    paths = {**offline_model_paths, **pulled_model_paths}
    assert list(paths) == offline_model_names()
    for name, path in paths.items():
        assert resolve_model(name) == path


def test_real_gguf_path(offline_model_paths):
    real = offline_model_paths["smollm2-135m"]
    assert resolve_model(str(real)) == real.resolve()


def test_relative_and_home_paths(tmp_path, monkeypatch):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("tiny.gguf") == model.resolve()
    assert resolve_model("./tiny.gguf") == model.resolve()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_model("~/tiny.gguf") == model.resolve()


@pytest.mark.parametrize("spec", ["nope", "qwen", "Gemma3-270M", ""])
def test_unknown_names(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert error(spec) == UNKNOWN.format(spec, ", ".join(load_catalog().models))


@pytest.mark.parametrize("spec", ["llama3.2-1b", "llama3.2-1b:Q8_0", "org/repo", "org/repo:Q5_K_M", "org/repo/m.gguf"])
def test_hub_models_not_downloaded_name_the_pull_command(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty cache; no network is used
    monkeypatch.chdir(tmp_path)
    assert error(spec) == f"{spec} is not downloaded yet: run: safe-local pull {spec}"


def test_an_existing_relative_path_wins_over_a_hub_spec(tmp_path, monkeypatch):
    model = tmp_path / "org" / "repo" / "m.gguf"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("org/repo/m.gguf") == model.resolve()


def test_missing_file(tmp_path):
    missing = tmp_path / "missing.gguf"
    assert error(str(missing)) == f"model file not found: {missing}"
    assert error(str(tmp_path / "sub" / "model")) == f"model file not found: {tmp_path / 'sub' / 'model'}"


def test_not_a_gguf_file(tmp_path):
    other = tmp_path / "model.bin"
    other.write_bytes(b"GGUF")
    assert error(str(other)).startswith(f"{other} is not a .gguf file")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"<html>")
    assert error(str(fake)) == f"{fake} is not a GGUF file (its header is not 'GGUF')"
    assert "is a directory" in error(str(tmp_path))


def test_home_expansion_in_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert error("~/absent.gguf") == f"model file not found: {Path(tmp_path) / 'absent.gguf'}"
