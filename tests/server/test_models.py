"""The `model` field picks what answers: another model or list is loaded on request (with the
memory check), and an ensemble that does not fit is refused while the loaded one keeps serving."""

from __future__ import annotations

from safe_local.api import config_for
from safe_local.engine import Engine
from safe_local.store import resolve_model
from safe_local.store.gguf_info import read_gguf_info
from safe_local.store.memory import available_memory, estimate_memory
from tests.real_models import NAMES
from tests.server.conftest import request

HI = [{"role": "user", "content": "Say hi."}]


def test_another_model_or_list_is_loaded_on_request_and_the_preset_comes_back(client, tiny_server, smol):
    alone = client.chat.completions.create(model="smollm2-135m", messages=HI, max_tokens=6)
    safe = alone.model_extra["safe"]
    assert alone.model == "smollm2-135m" and safe["models"] == ["smollm2-135m"] and safe["method"] == "single"
    assert tiny_server.health()["loaded"] == "smollm2-135m"
    assert alone.choices[0].message.content == Engine([smol]).generate(HI, config_for(1, {}, {"max_tokens": 6})).text

    pair = client.chat.completions.create(model="qwen2.5-coder-0.5b,smollm2-135m", messages=HI, max_tokens=4)
    assert pair.model_extra["safe"]["models"] == ["qwen2.5-coder-0.5b", "smollm2-135m"]
    assert pair.model_extra["safe"]["method"] == "safe"  # a model list brings no preset options

    back = client.chat.completions.create(model="tiny", messages=HI, max_tokens=4)
    assert back.model_extra["safe"]["models"] == list(NAMES) and tiny_server.health()["loaded"] == ",".join(NAMES)


def test_an_ensemble_too_big_for_memory_is_refused_and_the_loaded_one_stays(client, tiny_server):
    loaded = tiny_server.health()["loaded"]
    name = "qwen2.5-coder-0.5b"
    each = estimate_memory(name, read_gguf_info(resolve_model(name)), 2048).total
    copies = int((available_memory() + 4e9) // each) + 1  # more than fit even with the loaded trio freed
    status, _, reply = request(tiny_server, "POST", "/v1/chat/completions",
                               {"model": ",".join([name] * copies), "messages": HI, "max_tokens": 2})
    assert status == 400 and reply["error"]["code"] == "model_not_loadable", reply
    assert "of RAM" in reply["error"]["message"] and reply["error"]["param"] == "model"
    assert tiny_server.health()["loaded"] == loaded
    assert client.chat.completions.create(model="tiny", messages=HI, max_tokens=2).usage.completion_tokens == 2
