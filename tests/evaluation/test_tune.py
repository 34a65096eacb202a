"""tune's pure logic: the search space, the rungs, ranking, the front, standings; saving a preset."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safe_local.config import load_config, save_preset
from safe_local.errors import SafeLocalError
from safe_local.evaluation.methods import Method
from safe_local.evaluation.tune import (
    Space,
    Standing,
    configurations,
    does_not_pay,
    front,
    rank,
    rung_sizes,
    save_refusal,
    standings,
)
from safe_local.generation_config import GenerationConfig

TRIO = ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")
BASE = GenerationConfig(max_tokens=256, temperature=0.0, stop_loops=True)


def test_every_combination_is_one_configuration_with_its_drafter_first():
    space = Space(drafters=TRIO[:2], weights=(1.0, 4.0), bases=("unite", "gac"), sharpening=("geometric",),
                  gates=(1.0, 0.5), chunks=("auto", 5), betas=(0.0, 0.7))
    configs = configurations(TRIO, space, BASE)
    assert len(configs) == 2 * 2 * 2 * 1 * 2 * 2 * 2
    assert len({c.label for c in configs}) == len({c.settings_hash for c in configs}) == len(configs)
    for c in configs:
        drafter = c.label.split()[0]
        assert c.models[0] == drafter and sorted(c.models) == sorted(TRIO)
        assert c.models[1:] == tuple(m for m in TRIO if m != drafter)  # verifiers keep their order
        assert c.config.method == "safe" and c.config.weights[1:] == (1.0, 1.0)
        assert c.config.max_tokens == 256 and c.config.stop_loops
    heavy = next(c for c in configs if " w4 " in c.label and " gac " in c.label and " g0.5 " in c.label)
    assert heavy.config.weights == (4.0, 1.0, 1.0) and heavy.config.base == "gac" and heavy.config.gate() == 0.5
    sure = [c for c in configs if c.label.endswith(" v0.7")]
    assert len(sure) == len(configs) // 2 and all(c.config.verifier_confidence == 0.7 for c in sure)
    # Without a verifier confidence a configuration keeps the label and settings hash it had before the option.
    plain = next(c for c in configs if c.label == "qwen2.5-coder-0.5b w4 gac geometric g0.5 auto")
    assert plain.config.verifier_confidence == 0 and "verifier_confidence" not in plain.settings["config"]


@pytest.mark.parametrize("space, message", [
    (Space(drafters=("llama",)), "not one of the models"),
    (Space(drafters=TRIO[:1], bases=("mean",)), "--bases"),
    (Space(drafters=TRIO[:1], sharpening=()), "--sharpening"),
    (Space(drafters=TRIO[:1], weights=(0.0,)), "--weights"),
    (Space(drafters=TRIO[:1], gates=(1.5,)), "--gates"),
    (Space(drafters=TRIO[:1], betas=(-0.1,)), "--betas"),
    (Space(drafters=TRIO[:1], betas=()), "--betas"),
])
def test_a_bad_space_is_a_one_line_error(space, message):
    with pytest.raises(SafeLocalError, match=message):
        configurations(TRIO, space, BASE)


def test_rungs_halve_the_configurations_and_double_the_items():
    assert rung_sizes(24, 40, 4) == [(24, 4), (12, 8), (6, 16), (3, 32), (2, 40)]
    assert rung_sizes(24, 1000, 4) == [(24, 4), (12, 8), (6, 16), (3, 32), (2, 64), (1, 128)]
    assert rung_sizes(1, 10, 4) == [(1, 4)]
    assert rung_sizes(5, 3, 4) == [(5, 3)]  # fewer items than the first rung wants: one rung on all


def _standing(label: str, correct: int, speed: float | None, n: int = 10) -> Standing:
    return Standing(Method(label, BASE, TRIO), n, correct, speed)


def test_rank_puts_fast_enough_first_then_correct_then_speed():
    rows = [_standing("slow-best", 9, 0.4), _standing("ok", 6, 0.7), _standing("ok-faster", 6, 0.9),
            _standing("worse", 5, 1.0), _standing("unknown", 9, None)]
    assert [s.method.label for s in rank(rows, min_speed=0.6)] == ["ok-faster", "ok", "worse", "slow-best", "unknown"]
    assert [s.method.label for s in rank(rows)][:2] == ["slow-best", "unknown"]  # no speed floor


@given(st.lists(st.tuples(st.floats(0, 2), st.floats(0, 100)), max_size=30))
def test_front_is_exactly_the_points_no_other_point_beats(points):
    def beaten(i: int) -> bool:  # naive: some point is at least as good on both and better on one
        return any((q[0] >= points[i][0] and q[1] >= points[i][1]) and q != points[i] for q in points)

    chosen = front(points)
    assert all(not beaten(i) for i in chosen)
    # Every unbeaten point is on the front, up to duplicates of a chosen point.
    assert {points[i] for i in range(len(points)) if not beaten(i)} == {points[i] for i in chosen}
    assert [points[i][0] for i in chosen] == sorted((points[i][0] for i in chosen), reverse=True)


def _record(item: str, method: Method, correct: bool, tps: float, item_hash: str | None = None) -> dict:
    kind = method.config.method
    record = {"task": "t", "item_id": item, "method": method.label, "settings_hash": method.settings_hash,
              "kind": kind, "models": list(method.models), "correct": correct, "tokens_per_s": tps}
    if item_hash is not None:  # as eval writes it; records from before item hashes have none
        record["item_hash"] = item_hash
    return record


def test_standings_count_the_items_asked_for_and_pair_speed_with_the_drafter_alone():
    config = configurations(TRIO, Space(drafters=TRIO[:1], weights=(4.0,), bases=("unite",),
                                         sharpening=("geometric",), gates=(1.0,)), BASE)[0]
    alone = Method(TRIO[0], GenerationConfig(method="single"), TRIO[:1])
    records = [_record("1", config, True, 10.0), _record("2", config, False, 5.0), _record("3", config, True, 9.0),
               _record("1", alone, True, 20.0), _record("2", alone, True, 20.0), _record("3", alone, True, 10.0)]
    row, = standings([config], records, {("t", "1", ""), ("t", "2", "")})
    assert (row.n, row.correct) == (2, 1)
    assert row.speed == pytest.approx((0.5 + 0.25) / 2)  # the median of two ratios is their mean
    row, = standings([config], records, {("t", "1", ""), ("t", "2", ""), ("t", "3", "")})
    assert (row.n, row.correct, row.speed) == (3, 2, pytest.approx(0.5))
    assert (row.lost, row.gained, row.pays) == (1, 0, False)  # item 2: right alone, wrong ensembled


def test_standings_pair_an_answer_only_with_the_drafter_alone_of_the_same_code():
    config = configurations(TRIO, Space(drafters=TRIO[:1], weights=(4.0,), bases=("unite",),
                                         sharpening=("geometric",), gates=(1.0,)), BASE)[0]
    alone = Method(TRIO[0], GenerationConfig(method="single"), TRIO[:1])
    this, older = config.settings["code"], {"engine": "0123456789ab", "llama_cpp_python": "0.3.9"}

    def answered(record: dict, code: dict) -> dict:
        return record | {"settings": {"code": code}}

    records = [answered(_record("1", config, True, 10.0), this), answered(_record("2", config, True, 10.0), this),
               answered(_record("1", alone, False, 20.0), this),
               # Stored after this code's: an older engine's drafter, right and slow on item 1.
               answered(_record("1", alone, True, 5.0), older), answered(_record("2", alone, False, 1.0), older)]
    row, = standings([config], records, {("t", "1", ""), ("t", "2", "")})
    assert (row.gained, row.lost, row.speed) == (1, 0, pytest.approx(0.5))  # item 2 has no drafter of this code


def test_standings_count_an_items_answers_only_for_the_content_they_were_given():
    # A user's item answered as version "a", edited to "b" and answered again, then edited back to
    # "a": its "a" answers are current again (the runner finds their keys done) though the file's
    # last answers are b's. Keyed without the content hash, the stale b answers were scored.
    from safe_local.commands.tune import _paired

    config = configurations(TRIO, Space(drafters=TRIO[:1], weights=(4.0,), bases=("unite",),
                                         sharpening=("geometric",), gates=(1.0,)), BASE)[0]
    alone = Method(TRIO[0], GenerationConfig(method="single"), TRIO[:1])
    records = [_record("1", config, True, 10.0, "a"), _record("1", alone, False, 20.0, "a"),
               _record("1", config, False, 30.0, "b"), _record("1", alone, True, 10.0, "b")]
    row, = standings([config], records, {("t", "1", "a")})
    assert (row.n, row.correct, row.gained, row.lost, row.speed) == (1, 1, 1, 0, pytest.approx(0.5))
    row, = standings([config], records, {("t", "1", "b")})
    assert (row.n, row.correct, row.gained, row.lost, row.speed) == (1, 0, 0, 1, pytest.approx(3.0))
    row, = standings([config], records, {("t", "1", "c")})  # edited since: no stored answer is of it
    assert (row.n, row.correct, row.speed) == (0, 0, None)
    assert _paired(records, config, alone, {("t", "1", "a")}) == (1, 0)
    assert _paired(records, config, alone, {("t", "1", "b")}) == (0, 1)


def test_a_winner_that_loses_more_than_it_gains_is_not_saved_and_the_report_says_so():
    def standing(gained: int, lost: int) -> Standing:
        return Standing(Method("c", BASE, TRIO), 10, 5, 0.8, gained, lost)

    assert save_refusal(standing(gained=2, lost=3)) == ("not saved: the winner loses 3 items and gains 2 against "
                                                        "its drafter alone")
    assert save_refusal(standing(gained=2, lost=2)) is None and save_refusal(standing(gained=3, lost=0)) is None
    assert "does not pay" in does_not_pay([standing(2, 3), standing(1, 1)])
    assert does_not_pay([standing(2, 3), standing(2, 1)]) is None and does_not_pay([]) is None


def test_save_preset_keeps_the_users_file_and_the_preset_loads(tmp_path, monkeypatch):
    from safe_local.store.catalog import load_catalog

    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path))
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('# my settings\ndefault_preset = "tiny"\n\n[presets.old]  # keep me\n'
                    'models = ["smollm2-135m", "gemma3-270m"]\n', encoding="utf-8")
    entry = {"models": list(TRIO), "method": "safe", "base": "gac", "weights": [4.0, 1.0, 1.0],
             "defaults": {"sharpening": "geometric", "drafter_gate": 0.5, "chunk": "auto"}}
    save_preset("tuned", entry)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my settings\n") and "[presets.old]  # keep me" in text
    preset = load_catalog().presets["tuned"]
    assert preset.models == TRIO and preset.base == "gac" and preset.weights == (4.0, 1.0, 1.0)
    assert preset.defaults == {"sharpening": "geometric", "drafter_gate": 0.5, "chunk": "auto"}
    save_preset("tuned", entry | {"base": "unite"})  # the same name replaces it
    assert load_config()["presets"]["tuned"]["base"] == "unite" and "old" in load_config()["presets"]


def test_save_preset_refuses_to_overwrite_a_file_it_cannot_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path))
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[presets\n", encoding="utf-8")
    with pytest.raises(SafeLocalError, match="syntax error"):
        save_preset("tuned", {"models": list(TRIO)})
    assert path.read_text(encoding="utf-8") == "[presets\n"


def test_the_space_defaults_are_the_documented_ones():
    space = Space(drafters=TRIO[:1])
    grid = list(itertools.product(space.weights, space.bases, space.sharpening, space.gates, space.chunks, space.betas))
    assert space.betas == (0.0, 0.5, 0.7, 0.9)
    assert len(grid) == 3 * 2 * 2 * 2 * 1 * 4 == len(configurations(TRIO, space, BASE))
