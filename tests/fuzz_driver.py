"""The seeded fuzzer behind tests/test_fuzz.py, run as a script in its own capped process.

``python tests/fuzz_driver.py SEED CASES WORKDIR`` mutates the shipped examples (specs in
JSON, TOML and YAML), answers files, students' submissions and checkpoints, runs the CLI on
each mutant in this process (``chainrule.cli.main.main``), and prints one JSON line per case:
what ran, the exit code, stderr, whether stdout held a NaN or infinity, what warnings were
raised, and the seconds it took. The parent sets the memory cap (RLIMIT_AS) and judges.

Mutations are both structural (a field replaced by a hostile value: deep nesting, a
5,000-digit integer, 1e308, a huge list, NaN, an HTML string; a key given twice; a key
deleted) and byte-level (flips, truncation, invalid UTF-8, repeated chunks).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import shutil
import signal
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
CASE_SECONDS = 20
NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)

HOSTILE: list[Callable[[random.Random], Any]] = [
    lambda r: "__BIGINT__",  # written as a 5,000-digit integer
    lambda r: 1e308, lambda r: -1e308, lambda r: 1e200, lambda r: 5e-324,
    lambda r: "__NAN__", lambda r: "__INF__",
    lambda r: "__DEEP__",  # written as 3,000 nested lists
    lambda r: [0.5] * r.choice([0, 1, 3, 100_000]),
    lambda r: [[0.1, 0.2]] * r.choice([2, 30_000]),
    lambda r: r.choice([0, -1, 1, 2, 10**6, 2**40, 100_000]),
    lambda r: r.choice([True, False, None, "", "sigmoid", "<script>alert(1)</script>"]),
    lambda r: "x" * r.choice([10, 200_000]),
    lambda r: {"a": 1}, lambda r: r.uniform(-1e4, 1e4), lambda r: -r.random(),
]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


# --- structural mutation ---------------------------------------------------------------------

def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:6]):
            out += _paths(item, prefix + (index,))
    return out


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def mutate_data(data: Any, rng: random.Random) -> Any:
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(_paths(data))
        choice = rng.random()
        if choice < 0.15 and path and isinstance(data, dict):
            parent = data
            for part in path[:-1]:
                parent = parent[part]
            if isinstance(parent, dict) and len(path) == 1:
                data = {k: v for k, v in data.items() if k != path[0]}
                continue
        data = _replace(data, path, rng.choice(HOSTILE)(rng))
    return data


def dump(data: Any, suffix: str, rng: random.Random) -> str:
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace('"__BIGINT__"', "9" * 5000).replace('"__DEEP__"',
                                                           "[" * 3000 + "]" * 3000)
    text = text.replace('"__NAN__"', "NaN").replace('"__INF__"', "Infinity")
    if suffix in (".yaml", ".yml"):  # JSON is YAML, except NaN/Infinity spelled the YAML way
        text = text.replace("NaN", ".nan").replace("Infinity", ".inf")
        if rng.random() < 0.2:
            text = "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
                for p, c in zip("abcdefgh", "bcdefghi")) + "x: 1\n"
    if suffix == ".json" and rng.random() < 0.15 and text.startswith("{") and len(text) > 2:
        key = rng.choice(list(data)) if isinstance(data, dict) and data else "k"
        text = "{" + json.dumps(key) + ": 1, " + text[1:]  # the key given twice
    return text


def to_toml(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) or value is None:
            return None
        lines.append(f"{json.dumps(key)} = {json.dumps(value)}")
    return "\n".join(lines).replace('"__BIGINT__"', "9" * 5000).replace(
        '"__DEEP__"', "[" * 3000 + "]" * 3000).replace('"__NAN__"', "nan").replace(
        '"__INF__"', "inf") + "\n"


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.choice(["flip", "truncate", "utf8", "repeat", "insert"])
    if kind == "flip" and data:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "truncate" and data:
        del data[rng.randrange(len(data)):]
    elif kind == "utf8":
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])
    elif kind == "repeat" and data:
        start = rng.randrange(len(data))
        chunk = data[start:start + rng.randint(1, 40)]
        data[start:start] = chunk * rng.randint(2, 200)
    else:
        at = rng.randrange(len(data) + 1)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 30)))
    return bytes(data)


# --- the cases -------------------------------------------------------------------------------

def run_cli(argv: list[str]) -> dict[str, Any]:
    from chainrule.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    signal.alarm(CASE_SECONDS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(argv)
        except Hang:
            code = "hang"
        except SystemExit as exit_:  # argparse
            code = exit_.code
        except BaseException as error:  # noqa: BLE001 - anything escaping main is a finding
            code = f"escaped {type(error).__name__}: {error}"[:300]
        finally:
            signal.alarm(0)
    return {"argv": argv, "code": code, "stderr": err.getvalue()[-2000:],
            # explain computes every number it prints (grade and verify --answers also echo
            # what a student wrote, which may be "NaN")
            "non_finite_out": argv[0] == "explain" and code == 0 and "--format" not in argv
            and bool(NON_FINITE.search(out.getvalue())),
            "warnings": [f"{w.category.__name__}: {w.message}"[:200] for w in caught],
            "seconds": round(time.perf_counter() - started, 3)}


def spec_cases(rng: random.Random, work: Path, count: int):
    import tomllib

    import yaml

    sources = []
    for path in sorted((ROOT / "examples").iterdir()):
        text = path.read_text(encoding="utf-8")
        data = {".json": json.loads, ".toml": tomllib.loads,
                ".yaml": yaml.safe_load}[path.suffix](text)
        sources.append((path, text, data))
    for n in range(count):
        path, text, data = rng.choice(sources)
        suffix = rng.choice([path.suffix, ".json", ".yaml", ".toml"])
        if rng.random() < 0.25:
            body = mutate_bytes(text.encode(), rng)
            suffix = path.suffix
        else:
            mutant = mutate_data(data, rng)
            rendered = to_toml(mutant) if suffix == ".toml" else dump(mutant, suffix, rng)
            if rendered is None:
                suffix, rendered = ".json", dump(mutant, ".json", rng)
            body = rendered.encode()
        target = work / f"spec{n}{suffix}"
        target.write_bytes(body)
        command = rng.choice(["explain"] * 6 + ["explain-json", "verify"])
        if command == "explain-json":
            yield ["explain", str(target), "--format", "json"]
        else:
            yield [command, str(target)]


EXPRESSIONS = [
    ({"expression": "q = x + y; f = q * z", "at": {"x": -2, "y": 5, "z": -4}}),
    ({"expression": "a = x * y\nf = a * (a + z)", "at": {"x": 2, "y": 3, "z": -1},
      "name": "reused"}),
    ({"expression": "f = 2 * (x * y + max(z, w))", "at": {"x": 3, "y": -4, "z": 2, "w": -1}}),
    ({"expression": "n = x1*w1 + x2*w2 + b; o = tanh(n)",
      "at": {"x1": 2, "x2": 0, "w1": -3, "w2": 1, "b": 6.88}}),
]
EXPRESSION_TEXT = ["__import__('os')", "x.__class__", "(" * 500 + "x" + ")" * 500, "exp(x)" * 99,
                   "x ** 9 ** 9 ** 9", "log(-x)", "1 / (x - x)", "lambda: 1", "x if y else z",
                   "sqrt(-1)", "f = \x1b[2J", "leaky_relu(x, y)", "max(x)", "é = 1"]


def expression_cases(rng: random.Random, work: Path, count: int):
    """Expression specs (expression + at) and --expr/--at, mutated like the network specs."""
    for n in range(count):
        data = dict(rng.choice(EXPRESSIONS))
        if rng.random() < 0.3:
            data["expression"] = rng.choice(EXPRESSION_TEXT)
        mutant = mutate_data(data, rng) if rng.random() < 0.7 else data
        suffix = rng.choice([".json", ".yaml", ".toml"])
        rendered = to_toml(mutant) if suffix == ".toml" else dump(mutant, suffix, rng)
        if rendered is None:
            suffix, rendered = ".json", dump(mutant, ".json", rng)
        body = rendered.encode()
        if rng.random() < 0.15:
            body = mutate_bytes(body, rng)
        target = work / f"expr{n}{suffix}"
        target.write_bytes(body)
        command = rng.choice(["explain", "explain", "verify", "inline"])
        if command == "inline":
            text = mutant.get("expression") if isinstance(mutant, dict) else None
            at = ",".join(f"{k}={v}" for k, v in (data.get("at") or {}).items())
            yield ["explain", f"--expr={text if isinstance(text, str) else 'f = x'}",
                   f"--at={at}", "--format", rng.choice(["text", "json", "html"])]
        else:
            yield [command, str(target)]


def answers_cases(rng: random.Random, work: Path, count: int, truth: dict):
    for n in range(count):
        suffix = rng.choice([".json", ".yaml", ".csv"])
        if suffix == ".csv":
            rows = "".join(f"{k},{json.dumps(v) if isinstance(v, list) else v}\n"
                           for k, v in list(truth.items())[:12])
            body = mutate_bytes(("quantity,value\n" + rows).encode(), rng)
        else:
            body = dump(mutate_data(truth, rng), suffix, rng).encode()
            if rng.random() < 0.3:
                body = mutate_bytes(body, rng)
        target = work / f"answers{n}{suffix}"
        target.write_bytes(body)
        yield ["verify", "seed", "--answers", str(target)]


def submission_cases(rng: random.Random, work: Path, count: int, key: Path):
    template = (key.parent / "answers-template.csv").read_text(encoding="utf-8")
    header = template.splitlines()[0].split(",")
    questions = [q for q in header if q != "student"]
    for n in range(count):
        kind = rng.choice(["csv", "json", "ipynb", "folder"])
        if kind == "csv":
            row = ",".join(["ada"] + [str(rng.choice([0.1, -0.25, ""])) for _ in questions])
            body = mutate_bytes((",".join(header) + "\n" + row + "\n").encode(), rng)
            target = work / f"class{n}.csv"
            target.write_bytes(body)
        elif kind == "json":
            data = {q: str(rng.choice([0.1, -0.25])) for q in questions}
            target = work / f"student{n}.json"
            target.write_text(dump(mutate_data(data, rng), ".json", rng))
        elif kind == "ipynb":
            cells = [{"cell_type": "code", "source": [f'answers["{q}"] = 0.1\n']}
                     for q in questions[:4]]
            data = {"cells": cells, "nbformat": 4}
            target = work / f"student{n}.ipynb"
            target.write_text(dump(mutate_data(data, rng), ".json", rng))
        else:
            target = work / f"folder{n}"
            target.mkdir()
            for name in ("a", "b"):
                data = {q: str(rng.choice([0.1, -0.25])) for q in questions}
                (target / f"{name}.yaml").write_text(dump(mutate_data(data, rng), ".yaml", rng))
        yield ["exercise", "grade", str(key), str(target)]


def checkpoint_cases(rng: random.Random, work: Path, count: int, model: Path):
    import numpy as np

    original = model.read_bytes()
    with np.load(model, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"][()]))
    for n in range(count):
        target = work / f"model{n}.npz"
        kind = rng.choice(["bytes", "meta", "array", "member"])
        if kind == "bytes":
            target.write_bytes(mutate_bytes(original, rng))
        else:
            changed = dict(arrays)
            if kind == "meta":
                text = dump(mutate_data(meta, rng), ".json", rng)
                changed["meta"] = np.array(text)
            elif kind == "array":
                name = rng.choice([k for k in arrays if k != "meta"])
                value = arrays[name]
                changed[name] = rng.choice([
                    value.astype(np.complex128), value.astype(bool), value.astype(np.int64),
                    np.zeros(value.shape, dtype="datetime64[s]"), value.T, value[..., :0],
                    np.full(value.shape, np.nan), np.full(value.shape, 1e308),
                    np.zeros((3, 3, 3))])
            else:
                changed[f"junk{n}"] = np.zeros(rng.choice([10, 10**6]))
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **changed)
            target.write_bytes(buffer.getvalue())
        x = ",".join(rng.choice(["0.5", "1e308", "-3", "0"]) for _ in range(2))
        yield ["explain", "--model", str(target), f"--input={x}",
               f"--target={rng.choice(['0.5', '1', '0.2'])}"]


def main() -> None:
    seed, cases, work = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(seed)
    import numpy as np

    import chainrule as cr
    from chainrule.train.checkpoint import save_model

    key_dir = work / "sheet"
    assert run_cli(["exercise", "new", "--seed", "3", "--out", str(key_dir)])["code"] == 0
    model = work / "model.npz"
    net = cr.nn.MLP([2, 3, 1], "sigmoid", seed=0)
    save_model(model, net, extra={"loss": "mse", "standardizer": {"mean": [0.1, 0.2],
                                                                  "scale": [1.0, 2.0]}})
    trace = json.loads(cr.explain("seed").to_json())
    truth = {k: trace[k] for k in ("forward", "gradients", "updated", "loss_after")}
    share = {"spec": 0.4, "expressions": 0.1, "answers": 0.18, "submissions": 0.18,
             "checkpoints": 0.14}
    generators = [
        spec_cases(rng, work, int(cases * share["spec"])),
        expression_cases(rng, work, int(cases * share["expressions"])),
        answers_cases(rng, work, int(cases * share["answers"]), truth),
        submission_cases(rng, work, int(cases * share["submissions"]), key_dir / "key.json"),
        checkpoint_cases(rng, work, int(cases * share["checkpoints"]), model),
    ]
    del np
    for generator in generators:
        for argv in generator:
            print(json.dumps(run_cli(argv)), flush=True)
            for leftover in work.glob("feedback*"):
                shutil.rmtree(leftover, ignore_errors=True)


if __name__ == "__main__":
    main()
