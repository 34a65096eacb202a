"""Placement specs (`name@host:port`, presets' rpc tables, placement=): pure parsing and merging."""

from __future__ import annotations

import pytest

from safe_local.errors import SafeLocalError
from safe_local.placement import parse_endpoint, place, split_spec


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:50052", ("127.0.0.1", 50052)),
    (" gpu-box.lan:1 ", ("gpu-box.lan", 1)),
    ("h:65535", ("h", 65535)),
])
def test_an_endpoint_is_host_and_port(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":50052", "host:0", "host:65536", "host:port", "-h:1",
                                  "http://h:1", "h:1:2", "", 50052])
def test_a_bad_endpoint_is_one_line_naming_it(text):
    with pytest.raises(SafeLocalError, match=r"is not host:port \(e\.g\. 127\.0\.0\.1:50052\)") as e:
        parse_endpoint(text)
    assert repr(text) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("spec, expected", [
    ("gemma3-270m", ("gemma3-270m", None)),
    ("gemma3-270m@10.0.0.2:50052", ("gemma3-270m", "10.0.0.2:50052")),
    ("Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M@h:1", ("Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "h:1")),
    ("/home/me@work/m.gguf", ("/home/me@work/m.gguf", None)),  # an @ inside a path is the path's
    ("/srv/m.gguf@h:2", ("/srv/m.gguf", "h:2")),
    ("@h:1", ("@h:1", None)),
    ("~/models/llama@v2.gguf", ("~/models/llama@v2.gguf", None)),  # an @ in a file name, no port
])
def test_a_spec_splits_into_model_and_placement(spec, expected):
    assert split_spec(spec) == expected


def test_a_placement_that_is_not_host_port_is_refused_not_taken_for_a_name():
    with pytest.raises(SafeLocalError, match="'here:x' is not host:port"):
        split_spec("gemma3-270m@here:x")


def test_two_models_on_one_server_are_refused_it_serves_one_client_at_a_time():
    with pytest.raises(SafeLocalError, match="a and b are both placed on RPC server h:1, which serves one client"):
        place(["a@h:1", "b", "c"], {"b": "h:1"})


def test_tables_place_by_name_and_the_last_one_wins():
    specs = ["qwen2.5-coder-0.5b", "gemma3-270m@a:1", "smollm2-135m"]
    assert place(specs) == (["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"], [None, "a:1", None])
    assert place(specs, {"smollm2-135m": "b:2"}, {"gemma3-270m": "c:3"}, None) == (
        ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"], [None, "c:3", "b:2"])


def test_a_table_naming_a_model_the_ensemble_lacks_is_refused():
    with pytest.raises(SafeLocalError, match="placement names 'llama3.2-1b', which is not one of the models"):
        place(["qwen2.5-coder-0.5b"], {"llama3.2-1b": "a:1"})
