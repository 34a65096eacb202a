"""Property-based fuzzing of the whole API with schemathesis, against a real server and model.

schemathesis reads the OpenAPI schema the server itself serves (/openapi.json) and generates
requests for every operation in it, valid and invalid by the schema (hypothesis underneath).
Each reply must be no 5xx, and every error must be in OpenAI's shape with a one-line message.
Bodies are cut to a few tokens (max_tokens <= 8) so the run stays short; the server runs
SmolLM2 alone at a 512-token context with an API key, and still answers /health at the end.
Measured on a 2-core AMD EPYC: EXAMPLES per operation, 4 operations, about 40 s.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.server.conftest import request, start_server

KEY = "fuzz-key"
EXAMPLES = int(os.environ.get("SAFE_LOCAL_FUZZ_EXAMPLES", 60))  # per operation; more for a longer hunt
COUNT: dict[str, int] = {}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, offline_model_paths):
    server = start_server(tmp_path_factory.mktemp("fuzzed"), "--models", "smollm2-135m", "--ctx", "512",
                          "--api-key", KEY)
    started = time.monotonic()
    yield server
    assert request(server, "GET", "/health")[2] == {"status": "ok"}  # still serving after everything
    print(f"\nschemathesis: {sum(COUNT.values())} requests {COUNT} in {time.monotonic() - started:.0f} s")
    assert server.stop() == 0, server.log.read_text()
    assert "Traceback" not in server.log.read_text()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json", headers={"Authorization": f"Bearer {KEY}"})


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx_and_every_error_is_openai_shaped(case, fuzzed):
    for limit in ("max_tokens", "max_completion_tokens"):
        if isinstance(case.body, dict) and isinstance(case.body.get(limit), int):
            case.body[limit] = max(-2, min(case.body[limit], 8))
    if isinstance(case.body, dict) and "max_tokens" not in case.body and "max_completion_tokens" not in case.body:
        case.body["max_tokens"] = 8
    response = case.call(headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    seen = f"{case.operation.label} {response.status_code}"
    COUNT[seen] = COUNT.get(seen, 0) + 1
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["message"] and "\n" not in error["message"], error
    elif "text/event-stream" in response.headers.get("content-type", ""):
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and all("error" not in json.loads(e) for e in events[:-1]), events
