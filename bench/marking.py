"""Marking: how long judging answer sheets takes, from a class's worksheet to a sheet of noise.

    .venv/bin/python bench/marking.py               # 5 repeats, medians
    .venv/bin/python bench/marking.py --repeats 9 --json

Each case is timed ``--repeats`` times in this process and the median kept (the machine is
shared, and a first run also builds the truth's memo). The cases:

* ``grade_right`` / ``grade_mistake``: one student's worksheet of 10 exercises (level full,
  180 questions), all right, or every exercise worked with derivative_of_z; the Grader
  computes each exercise's truth once, as for a class, so this is the cost per student;
* ``sheet_N_mistake``: a whole step's answers (every forward, backward, gradient and update
  element) of a larger network, worked with derivative_of_z;
* ``sheet_N_noise``: the same sheet, every number scaled at random by 0.5–1.5 (nothing to
  diagnose: the bound of docs/limits.md, "Marking", keeps it from searching for minutes).

Timings are seconds; what matters is their size (a class of 200 is graded in about a
minute), not the last digit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from chainrule.exercises import Grader, generate
from chainrule.exercises.levels import split_key
from chainrule.verify.answers import judge_answers
from chainrule.verify.mistakes import correct_step, mistaken_step


def _spec(layers: list[int], examples: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"name": f"bench-{'-'.join(map(str, layers))}", "layers": layers,
            "activations": "sigmoid", "loss": "mse",
            "weights": [rng.normal(0, 0.5, (a, b)).round(2).tolist()
                        for a, b in zip(layers, layers[1:])],
            "biases": [rng.normal(0, 0.5, b).round(2).tolist() for b in layers[1:]],
            "inputs": rng.normal(0, 1, (examples, layers[0])).round(2).tolist(),
            "targets": rng.uniform(0, 1, (examples, layers[-1])).round(2).tolist(),
            "learning_rate": 0.5}


def _sheet(values: dict, noise: np.random.Generator | None = None) -> dict:
    """Every worked element written to 4 decimals (scaled at random, with ``noise``)."""
    out = {}
    for key, value in values.items():
        if key.split(".")[0] not in ("forward", "backward", "gradients", "updated") or \
                key == "forward.a0" or ".dE_da" in key:
            continue
        array = np.asarray(value, dtype=float)
        if noise is not None:
            array = array * noise.uniform(0.5, 1.5, array.shape)
        out[key] = np.vectorize(lambda v: f"{v:.4f}")(array).tolist() if array.ndim else \
            f"{float(array):.4f}"
    return out


def _count(sheet: dict) -> int:
    return sum(int(np.size(value)) for value in sheet.values())


def cases() -> dict:
    problem_set = generate("full", seed=3, count=10)
    grader = Grader(problem_set)
    right = {q.id: f"{q.answer:.4f}" for q in problem_set.questions}
    wrong = {}
    for exercise in problem_set.exercises:
        step = mistaken_step(exercise.spec, "derivative_of_z")
        for q in exercise.questions:
            name, index = split_key(q.quantity)
            wrong[q.id] = f"{float(np.asarray(step[name])[index]):.4f}"
    grader.grade(right)  # the truths, once, as for a class
    out = {"grade_right": (lambda: grader.grade(right), len(right)),
           "grade_mistake": (lambda: grader.grade(wrong), len(wrong))}
    for layers, examples in (([8, 8, 8, 4], 8), ([2, 100, 100, 1], 1)):
        spec = _spec(layers, examples)
        name = "-".join(map(str, layers))
        mistake = _sheet(mistaken_step(spec, "derivative_of_z"))
        noise = _sheet(correct_step(spec), np.random.default_rng(1))
        out[f"sheet_{name}_mistake"] = (lambda s=spec, a=mistake: judge_answers(s, a),
                                        _count(mistake))
        out[f"sheet_{name}_noise"] = (lambda s=spec, a=noise: judge_answers(s, a),
                                      _count(noise))
    return out


def measure(repeats: int = 5) -> dict:
    results = {}
    for name, (run, answers) in cases().items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        results[name] = {"answers": answers, "seconds": statistics.median(times)}
    return {"schema": "chainrule.bench.marking/1", "repeats": repeats, "cases": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="machine output")
    args = parser.parse_args(argv)
    result = measure(max(1, args.repeats))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'case':<26} {'answers':>8} {'median s':>9}")
    for name, row in result["cases"].items():
        print(f"{name:<26} {row['answers']:>8} {row['seconds']:>9.3f}")
    print(f"(medians of {result['repeats']} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
