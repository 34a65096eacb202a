"""A request's `model` names only what GET /v1/models lists: never a file, whatever its shape.

Each case runs from a working directory where every path-shaped id would find a real GGUF file
(a link to SmolLM2), so an id that any path resolution accepted would resolve here. The same
cases go through a real server in test_model_ids_server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safe_local.server.errors import ApiError
from safe_local.server.models import ModelIds, check_files, default_choice, public_name

# Relative to the working directory `planted` makes: each names the planted file one way or another.
TRAVERSALS = [
    "evil.gguf", "./evil.gguf", "sub/../evil.gguf", "sub/../../elsewhere/evil.gguf", "../elsewhere/evil.gguf",
    "%2e%2e/elsewhere/evil.gguf", "sub%2f..%2f..%2felsewhere%2fevil.gguf", "sub\\..\\..\\elsewhere\\evil.gguf",
    "..\\elsewhere\\evil.gguf", "evil.gguf\x00", "evil.gguf\x00.txt", "owner/repo/evil.gguf", "owner/repo/evil.gguf:Q4_0",
    "owner/repo", "~/evil.gguf", "file:evil.gguf", "evil", "sub", ".", "..", "/", "",
    "qwen2.5-coder-0.5b,evil.gguf", "qwen2.5-coder-0.5b,../elsewhere/evil.gguf", "evil.gguf,qwen2.5-coder-0.5b",
    "smollm2-135m@127.0.0.1:50052", "smollm2-135m\x00", "smollm2-135m/../evil.gguf",
    "tіny", "ｔｉｎｙ", "smollm2\u2010135m", "SMOLLM2-135M", "tiny,smollm2-135m", ",", "smollm2-135m,",
    "a" * 5000, "smollm2-135m," * 400,
]


@pytest.fixture
def planted(tmp_path, monkeypatch, offline_model_paths) -> Path:
    """A working directory under which every traversal above reaches a real GGUF file."""
    real = offline_model_paths["smollm2-135m"]
    cwd = tmp_path / "server"
    for link in (cwd / "evil.gguf", tmp_path / "elsewhere" / "evil.gguf", cwd / "owner" / "repo" / "evil.gguf",
                 cwd / "evil" / "evil.gguf"):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real)
    (cwd / "sub").mkdir()
    (cwd / "evil.gguf\\..").mkdir()  # a name with a backslash is one file name here, not a path
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))  # listed: the offline models only
    return cwd


@pytest.fixture
def ids(planted) -> ModelIds:
    return ModelIds(default_choice(None, "tiny"))


def _listed(ids: ModelIds) -> dict[str, list[str]]:
    return {entry["id"]: entry["models"] for entry in ids.listing()}


@pytest.mark.parametrize("model_id", [t for t in TRAVERSALS if t])
def test_an_id_that_is_not_listed_is_404_whatever_its_shape(ids, model_id):
    assert Path("evil.gguf").resolve().is_file() and Path("../elsewhere/evil.gguf").resolve().is_file()
    with pytest.raises(ApiError) as e:
        ids.resolve(model_id)
    assert (e.value.status, e.value.code, e.value.param) == (404, "model_not_found", "model")
    assert "\n" not in e.value.message and len(e.value.message) < 300 and "\x00" not in e.value.message


def test_listed_ids_and_lists_of_listed_models_resolve_to_the_listings_own_specs(ids):
    listed = _listed(ids)
    assert {"tiny", "qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"} <= set(listed)
    assert not any(".gguf" in m or "/" in m for models in listed.values() for m in models)
    assert ids.resolve(None) is ids.default and ids.resolve("") is ids.default and ids.resolve("tiny") is ids.default
    pair = ids.resolve("qwen2.5-coder-0.5b, smollm2-135m")
    assert pair.id == "qwen2.5-coder-0.5b,smollm2-135m" and pair.specs == ("qwen2.5-coder-0.5b", "smollm2-135m")
    check_files(pair)  # each model is the file the listing found
    assert ids.resolve("smollm2-135m").specs == ("smollm2-135m",)


# The fixture's directory and listing stay the same for every example.
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80) | st.lists(st.sampled_from(["smollm2-135m", "gemma3-270m", "tiny", "..", "evil.gguf", "x"]),
                                       min_size=1, max_size=4).map(",".join))
def test_whatever_the_id_the_choice_holds_only_listed_models(ids, model_id):
    listed = _listed(ids)
    singles = {name for name, models in listed.items() if len(models) == 1}
    try:
        choice = ids.resolve(model_id)
    except ApiError as e:
        assert e.status == 404
        return
    if choice.id in listed:
        assert choice.names == listed[choice.id]
    else:
        assert set(choice.specs) <= singles and choice.id == ",".join(choice.specs)


def test_a_listed_name_that_now_means_another_file_is_refused(ids, offline_model_paths):
    choice = ids.resolve("smollm2-135m")
    stale = type(choice)(choice.id, choice.specs, choice.options, (offline_model_paths["gemma3-270m"],))
    with pytest.raises(ApiError) as e:
        check_files(stale)
    assert e.value.status == 404 and "no longer available" in e.value.message


@pytest.mark.parametrize("spec, shown", [
    ("smollm2-135m@127.0.0.1:50052", "smollm2-135m"),
    ("/home/someone/models/Secret-Model.Q4_K_M.gguf", "Secret-Model.Q4_K_M"),
    ("./models/x.gguf@10.0.0.2:1", "x"), ("~/x.gguf", "x"),
    ("bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
     "bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf"),
])
def test_clients_see_a_models_name_never_its_host_or_directory(spec, shown):
    assert public_name(spec) == shown


def test_a_file_the_operator_served_is_listed_by_its_name_and_can_join_a_list(planted, offline_model_paths):
    path = str(offline_model_paths["smollm2-135m"])
    ids = ModelIds(default_choice([path], None))
    stem = Path(path).stem
    assert ids.default.id == stem and _listed(ids)[stem] == [stem]
    pair = ids.resolve(f"{stem},gemma3-270m")
    assert pair.specs == (path, "gemma3-270m") and pair.names == [stem, "gemma3-270m"]
    check_files(pair)
    assert not any(path in str(entry) for entry in ids.listing())


def test_a_load_error_names_the_model_not_its_file(offline_model_paths):
    from safe_local.server.loaded import _without_paths

    path = str(offline_model_paths["smollm2-135m"])
    told = _without_paths(f"{path} is not a GGUF file (its header is not 'GGUF')", ["smollm2-135m"])
    assert path not in told and told.startswith("smollm2-135m is not a GGUF file")
