"""`safe-local doctor` as a user runs it: a real subprocess, real decodes of the offline models."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from safe_local import cpu_features
from safe_local.backend.rpc import LoopbackServer


def test_doctor_json_reports_build_models_and_decodes():
    done = subprocess.run([sys.executable, "-m", "safe_local", "doctor", "--json"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["build"]["ok"]
    assert report["llama"]["details"]["threads"] >= 1
    assert report["cpu"]["instruction_sets"] == cpu_features.offered()
    offline = {m["name"] for m in report["models"] if m["source"] == "pypi"}
    assert {"qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"} <= offline  # and qwen2.5-coder-1.5b once pulled
    assert all(m["size"] > 50_000_000 for m in report["models"] if m["source"] == "pypi")
    assert {d["name"] for d in report["decode"]} == offline
    assert all(d["ok"] for d in report["decode"])
    assert "cache" in report["paths"] and "config file" in report["paths"]


def test_doctor_text_names_each_check():
    done = subprocess.run([sys.executable, "-m", "safe_local", "doctor", "--no-decode"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for label in ("CPU ", "offers ", "llama.cpp ", "build        ok", "rpc          built in", "models ",
                  "all checks passed"):
        assert label in done.stdout, label


def test_doctor_says_where_each_model_runs_and_whether_its_server_answers():
    with LoopbackServer() as server, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refuses connections
        down = f"127.0.0.1:{closed.getsockname()[1]}"
        models = f"qwen2.5-coder-0.5b,gemma3-270m@{server.endpoint},smollm2-135m@{down}"
        done = subprocess.run([sys.executable, "-m", "safe_local", "doctor", "--json", "--no-decode", "--models", models],
                              capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    assert report["runs_on"] == {"qwen2.5-coder-0.5b": "local", "gemma3-270m": server.endpoint, "smollm2-135m": down}
    assert [(c["details"]["model"], c["ok"]) for c in report["rpc"]] == [("gemma3-270m", True), ("smollm2-135m", False)]
    assert report["rpc"][1]["message"].startswith(f"RPC server {down} is not reachable")
    assert done.returncode == 1 and not report["ok"]


def test_doctor_refuses_an_unknown_model_before_reporting():
    done = subprocess.run([sys.executable, "-m", "safe_local", "doctor", "--models", "no-such-model"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "unknown model 'no-such-model'" in done.stderr
