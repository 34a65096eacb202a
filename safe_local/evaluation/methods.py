"""The compared methods, as generation options, and the settings hash that keys each result.

Methods (`--methods`, comma-separated; default all): `single:<i>` or a model's name for that
model alone, `unite` (every-token UniTE), `gac` (GaC with its threshold), `safe-unite` and
`safe-gac` (SAFE with either base). A single model is labelled by its name in results and
tables. The settings hash covers what changes an answer: the prompt version, the models used and
the generation options that method reads; a single model's hash leaves out the ensemble-only
options and the other models, so its results are reused across ensemble variants (weights,
sharpening, chunk). A context other than the default 4096 tokens is in the hash too, since an
answer can stop at a full context (the default holds every built-in prompt plus 2048 answer
tokens, and is left out, as are options at their defaults, so the stored settings read as they
did before those options existed). The sampler is in
it as temperature, top_p and seed (`safe-local eval --temperature`/`--chat-sampling`): a sampled
run's answers depend on its seed, so another seed's are other results; a greedy run has
temperature 0, top_p 1 and no seed. So is the code that answered (`code_version`: the engine's
fingerprint and llama-cpp-python's release): results of other code, stored before 2026-12-07
included, stay in the file and in its report, labelled with their code, and are never counted
as this code's. Left out: which machine ran it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

from safe_local.errors import SafeLocalError
from safe_local.evaluation.code_version import code_version
from safe_local.evaluation.prompts import PROMPT_VERSION
from safe_local.generation_config import LATER_OPTIONS, SAMPLER_OPTIONS, GenerationConfig
from safe_local.offline_models import loaded_quant

ENSEMBLES = {
    "unite": {"method": "unite"},
    "gac": {"method": "gac"},
    "safe-unite": {"method": "safe", "base": "unite"},
    "safe-gac": {"method": "safe", "base": "gac"},
}
# What a lone model's reply depends on; everything else in GenerationConfig is for ensembles.
_SINGLE_FIELDS = ("method", "max_tokens", "temperature", "top_p", "seed", "stop", "stop_loops", *SAMPLER_OPTIONS)
# Options added after the first results are stored only when set: at their defaults they change no
# answer, and a result's settings then list only what it was run with.
_UNSET = {name: getattr(GenerationConfig, name) for name in (*SAMPLER_OPTIONS, *LATER_OPTIONS)}
DEFAULT_CTX = 4096


@dataclass(frozen=True)
class Method:
    label: str  # the row name in results and tables
    config: GenerationConfig
    models: tuple[str, ...]  # the models whose outputs it uses
    n_ctx: int = DEFAULT_CTX  # context length per model

    @property
    def settings(self) -> dict[str, Any]:
        """What the result depends on (stored with each result)."""
        fields = {k: v for k, v in asdict(self.config).items() if k not in _UNSET or v != _UNSET[k]}
        if self.config.method == "single":
            fields = {k: fields[k] for k in _SINGLE_FIELDS if k in fields}
        settings = {"prompt_version": PROMPT_VERSION, "models": list(self.models), "config": fields,
                    "code": code_version()}
        # A model loaded in another quantization than its package's gives other answers: results
        # from before the conversion (SmolLM2 as Q4_1, until 2026-12-03) are not reused for it.
        loaded_as = {m: quant for m in self.models if (quant := loaded_quant(m))}
        return settings | ({"n_ctx": self.n_ctx} if self.n_ctx != DEFAULT_CTX else {}) | (
            {"loaded_as": loaded_as} if loaded_as else {})

    @property
    def settings_hash(self) -> str:
        text = json.dumps(self.settings, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def method_names(models: Sequence[str]) -> list[str]:
    """Every method for these models, in table order: each model alone, then the ensembles."""
    return [f"single:{i}" for i in range(len(models))] + (list(ENSEMBLES) if len(models) > 1 else [])


def parse_methods(text: str | None, models: Sequence[str], base: GenerationConfig,
                  n_ctx: int = DEFAULT_CTX) -> list[Method]:
    """The methods named in `text` (None: all), each with its GenerationConfig built on `base`."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else method_names(models)
    methods: dict[str, Method] = {}
    for name in names:
        method = replace(_method(name, models, base), n_ctx=n_ctx)
        methods.setdefault(method.label, method)
    if not methods:
        raise SafeLocalError("--methods is empty: use single:<i>, a model name, unite, gac, safe-unite or safe-gac")
    return list(methods.values())


def _method(name: str, models: Sequence[str], base: GenerationConfig) -> Method:
    if name in ENSEMBLES:
        if len(models) < 2:
            raise SafeLocalError(f"method {name!r} needs at least 2 models; give more --models or use single:0")
        return Method(name, replace(base, **ENSEMBLES[name]), tuple(models))
    index = _single_index(name, models)
    if index is None:
        valid = ", ".join([f"single:0..{len(models) - 1}", *models, *ENSEMBLES])
        raise SafeLocalError(f"unknown method {name!r}: use any of {valid}")
    return Method(models[index], replace(base, method="single", single_model=index), (models[index],))


def _single_index(name: str, models: Sequence[str]) -> int | None:
    if name in models:
        return list(models).index(name)
    prefix, _, number = name.partition(":")
    if prefix == "single" and number.isdecimal() and int(number) < len(models):  # int() rejects "²"
        return int(number)
    return None
