"""The packaged catalog and presets are complete and consistent; user config merges over them."""

from __future__ import annotations

import re

import pytest

from safe_local import paths
from safe_local.engine import GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.offline_models import offline_model_names
from safe_local.store import HubRef, list_presets, load_catalog, parse_hub_spec, resolve_model, select_ensemble
from safe_local.store.catalog import _package_data

DESCRIPTIVE = ("display_name", "family", "params", "license", "chat_template")


def write_config(text: str) -> None:
    paths.config_dir().mkdir(parents=True, exist_ok=True)
    (paths.config_dir() / "config.toml").write_text(text, encoding="utf-8")


def test_every_model_has_the_fields_it_needs():
    catalog = load_catalog()
    assert list(catalog.models)[:4] == offline_model_names()
    for model in catalog.models.values():
        for field in DESCRIPTIVE:
            assert getattr(model, field), (model.name, field)
        if model.source == "hub":
            assert re.fullmatch(r"[\w.-]+/[\w.-]+", model.repo or "")
            assert model.default_quant == "Q4_K_M" and model.default_quant in model.files
            assert all(f.endswith(".gguf") for f in model.files.values())
            assert model.size_gb and model.size_gb > 0


def test_names_are_unique_across_the_package_tables():
    data = _package_data()
    offline, hub, presets = set(data["offline"]), set(data["models"]), set(data["presets"])
    assert offline == set(offline_model_names())
    assert not offline & hub and not (offline | hub) & presets


def test_presets_reference_known_models_and_valid_options():
    catalog = load_catalog()
    presets = {p.name: p for p in list_presets()}
    assert {"tiny", "laptop", "paper"} <= set(presets) and catalog.default_preset == "tiny"
    assert list(presets["tiny"].models) == ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]  # Qwen drafts
    assert presets["paper"].models == ("qwen2.5-7b", "internlm3-8b", "exaone3.5-7.8b")
    for preset in presets.values():
        assert all(m in catalog.models for m in preset.models)
        assert len(preset.models) >= 2
        GenerationConfig(**preset.generation_options()).validate(len(preset.models))
    families = [catalog.models[m].family for m in presets["laptop"].models]
    assert len(set(families)) == 3  # three different tokenizers


def test_spec_parsing():
    catalog = load_catalog()
    assert parse_hub_spec("llama3.2-1b", catalog) == HubRef(
        "llama3.2-1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M", "llama3.2-1b")
    assert parse_hub_spec("llama3.2-1b:q8_0", catalog).file == "Llama-3.2-1B-Instruct-Q8_0.gguf"
    assert parse_hub_spec("org/repo", catalog) == HubRef("org/repo", "org/repo", None, "Q4_K_M")
    assert parse_hub_spec("org/repo:Q5_K_M", catalog).quant == "Q5_K_M"
    assert parse_hub_spec("org/repo/sub/m.gguf", catalog) == HubRef("org/repo/sub/m.gguf", "org/repo", "sub/m.gguf")
    assert parse_hub_spec("smollm2-135m", catalog) is None and parse_hub_spec("nope", catalog) is None
    with pytest.raises(SafeLocalError, match="has no quantization Q2_K: use one of Q4_K_M, Q6_K, Q8_0"):
        parse_hub_spec("llama3.2-1b:Q2_K", catalog)
    with pytest.raises(SafeLocalError, match="comes in one quantization only"):
        parse_hub_spec("smollm2-135m:Q8_0", catalog)


def test_user_models_and_presets_merge_over_the_package():
    write_config('''
default_preset = "mine"
[models.my-model]
repo = "me/My-GGUF"
files = { Q4_K_M = "my-q4_k_m.gguf", Q8_0 = "my-q8_0.gguf" }
[presets.mine]
models = ["my-model", "smollm2-135m"]
weights = [2, 1]
[presets.mine.defaults]
chunk = 3
[presets.tiny]
models = ["smollm2-135m", "gemma3-270m"]
method = "unite"
''')
    catalog = load_catalog()
    assert catalog.models["my-model"].repo == "me/My-GGUF" and catalog.models["my-model"].default_quant == "Q4_K_M"
    assert catalog.default_preset == "mine"
    assert catalog.presets["mine"].generation_options() == {"method": "safe", "base": "unite", "chunk": 3, "weights": [2.0, 1.0]}
    assert catalog.presets["tiny"].models == ("smollm2-135m", "gemma3-270m")  # the user's wins
    assert "laptop" in catalog.presets


@pytest.mark.parametrize("text, message", [
    ('[presets.x]\nmodels = ["nope", "smollm2-135m"]', "preset 'x' in config file .* names unknown model 'nope'"),
    ('[presets.x]\nmodels = ["smollm2-135m"]\nweights = [1, 2]', "'weights' must hold one number per model"),
    ('[presets.x]\nmodels = ["smollm2-135m"]\n[presets.x.defaults]\nchunks = 3', "unknown default.s. chunks"),
    ('[models.y]\nfiles = { Q4_K_M = "y.gguf" }', "model 'y' in config file .* has no 'repo'"),
    ('[models.y]\nrepo = "a/b"\nfiles = { Q4_K_M = "y.bin" }', "'files' must map quantizations to .gguf"),
    ('default_preset = "zzz"', "default_preset 'zzz' .* is not a preset"),
    ('[presets.x]\nmodels = ["smollm2-135m"]\nrpc = { gemma3-270m = "h:1" }',
     "preset 'x' .*: rpc: placement names 'gemma3-270m', which is not one of the models"),
    ('[presets.x]\nmodels = ["smollm2-135m"]\nrpc = { smollm2-135m = "h" }',
     "preset 'x' .*: rpc: RPC server 'h' is not host:port"),
    ('[presets.x]\nmodels = ["smollm2-135m"]\nrpc = "h:1"', "preset 'x' .*: 'rpc' has the wrong type \\(str\\)"),
])
def test_bad_user_entries_are_one_line_errors(text, message):
    write_config(text)
    with pytest.raises(SafeLocalError, match=message) as exc:
        load_catalog()
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("option, message", [
    ('[presets.x.defaults]\nchunk = "six"', "chunk must be a whole number or \"auto\", got 'six'"),
    ('[presets.x.defaults]\ntemperature = "hot"', "temperature must be a number, got 'hot'"),
    ('[presets.x.defaults]\nseed = "abc"', "seed must be a whole number, got 'abc'"),
    ("[presets.x.defaults]\nchunk = 2.5", "chunk must be a whole number or \"auto\", got 2.5"),
    ('[presets.x.defaults]\nchunk = "sometimes"', "chunk must be a whole number or \"auto\", got 'sometimes'"),
    ("[presets.x.defaults]\nmax_tokens = 2.5", "max_tokens must be a whole number, got 2.5"),
    ("method = 3", "method must be a name, got 3"),
    ('base = ["unite"]', r"base must be a name, got \['unite'\]"),
    ("weights = [true, 1]", r"weights must be a list of numbers, one per model \(drafter first\), got \[True, 1\]"),
])
def test_wrongly_typed_preset_options_name_the_file_preset_and_key(option, message):
    write_config(f'[presets.x]\nmodels = ["smollm2-135m", "gemma3-270m"]\n{option}')
    config = re.escape(str(paths.config_dir() / "config.toml"))
    with pytest.raises(SafeLocalError, match=f"^preset 'x' in config file {config}: {message}$") as exc:
        load_catalog()
    assert "\n" not in str(exc.value)


def test_a_presets_rpc_table_places_its_models_and_travels_with_the_specs():
    write_config('[presets.x]\nmodels = ["qwen2.5-coder-0.5b", "smollm2-135m"]\n'
                 'rpc = { smollm2-135m = "127.0.0.1:50052" }')
    assert load_catalog().presets["x"].rpc == {"smollm2-135m": "127.0.0.1:50052"}
    assert select_ensemble(None, "x")[0] == ["qwen2.5-coder-0.5b", "smollm2-135m@127.0.0.1:50052"]
    # a placement typed by hand wins; models the preset does not name keep theirs
    assert select_ensemble(["qwen2.5-coder-0.5b@h:1", "smollm2-135m@h:2"], "x")[0] == [
        "qwen2.5-coder-0.5b@h:1", "smollm2-135m@h:2"]
    assert select_ensemble(["gemma3-270m", "smollm2-135m"], "x")[0] == ["gemma3-270m", "smollm2-135m@127.0.0.1:50052"]
    # the file is the same wherever the model runs
    assert resolve_model("smollm2-135m@127.0.0.1:50052") == resolve_model("smollm2-135m")


def test_preset_models_may_be_gguf_files_by_bare_name():
    write_config('[presets.x]\nmodels = ["mymodel.gguf", "smollm2-135m", "~/m.gguf", "./n.GGUF"]')
    assert load_catalog().presets["x"].models == ("mymodel.gguf", "smollm2-135m", "~/m.gguf", "./n.GGUF")


def test_a_user_model_named_like_an_offline_one_replaces_it():
    write_config('[models.smollm2-135m]\nrepo = "me/Smol-GGUF"\nfiles = { Q4_K_M = "smol.gguf" }')
    catalog = load_catalog()
    assert not catalog.is_offline("smollm2-135m") and catalog.is_offline("gemma3-270m")
    assert parse_hub_spec("smollm2-135m", catalog) == HubRef("smollm2-135m", "me/Smol-GGUF", "smol.gguf", "Q4_K_M", "smollm2-135m")
