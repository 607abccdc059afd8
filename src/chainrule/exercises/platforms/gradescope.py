"""A Gradescope autograder: a zip with ``setup.sh`` and ``run_autograder`` at its root
(Gradescope's "zip the files, not the folder"), the class's ``key.json``, and chainrule's own
package (pure Python; ``setup.sh`` installs NumPy and PyYAML).

``run_autograder`` grades what the student uploaded (answers as CSV, JSON or YAML, or the
worksheet notebook filled in) exactly as ``chainrule exercise grade`` does, error carried
forward, and writes ``results/results.json``: one test per question (``1a ∂E/∂w¹₁₁``, 1 point,
the close credit for a close answer) whose ``output`` is the verdict, the mistake's title and
explanation, and the correct working where the answer is not credited. A class's key finds
the student's variant from Gradescope's ``submission_metadata.json`` (the student's id, then
email, then name, as the roster gave them).
"""

from __future__ import annotations

import io
import json
import zipfile
from importlib import resources
from pathlib import Path

from chainrule.exercises.model import ProblemSet

ZIP_DATE = (1980, 1, 1, 0, 0, 0)

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when the autograder image is built.
set -euo pipefail
apt-get install -y python3 python3-pip >/dev/null 2>&1 || true
python3 -m pip install --quiet "numpy>=1.26" "pyyaml>=6"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission; AUTOGRADER_ROOT lets it run anywhere else too.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
mkdir -p "$ROOT/results"
PYTHONPATH="$ROOT/source" "${PYTHON:-python3}" "$ROOT/source/grade_submission.py" "$ROOT"
"""

GRADER = '''"""Grade one Gradescope submission with chainrule; write results/results.json."""
import json
import sys
import time
from pathlib import Path

from chainrule.exercises.platforms.gradescope import results

root = Path(sys.argv[1])
started = time.monotonic()
data = results(root / "source" / "key.json", root / "submission",
               root / "submission_metadata.json", CLOSE_CREDIT)
data["execution_time"] = round(time.monotonic() - started, 3)
out = root / "results" / "results.json"
out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\\n", encoding="utf-8")
'''


def autograder(problem_set: ProblemSet, close_credit: float = 0.5) -> bytes:
    """The zip to upload as the assignment's autograder."""
    files: dict[str, tuple[bytes, int]] = {
        "setup.sh": (SETUP.encode(), 0o755), "run_autograder": (RUN.encode(), 0o755),
        "key.json": (problem_set.to_json().encode("utf-8"), 0o644),
        "grade_submission.py": (GRADER.replace("CLOSE_CREDIT", repr(float(close_credit)))
                                .encode(), 0o644)}
    package = resources.files("chainrule")
    for path in sorted(_sources(Path(str(package)))):
        relative = path.relative_to(Path(str(package)).parent).as_posix()
        files[relative] = (path.read_bytes(), 0o644)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _sources(folder: Path):
    """chainrule's Python files and the data grading reads (no datasets, no page assets)."""
    for path in folder.rglob("*"):
        if path.is_file() and (path.suffix == ".py" or path.parent.name == "schemas") \
                and "__pycache__" not in path.parts:
            yield path


def results(key_path: Path, submission: Path, metadata: Path,
            close_credit: float = 0.5) -> dict:
    """Gradescope's results.json for the answers in ``submission`` (a folder)."""
    from chainrule.errors import ChainruleError
    from chainrule.exercises.grade import Grader
    from chainrule.exercises.model import load_key
    from chainrule.exercises.submissions import SUFFIXES, load_submissions

    problem_set = load_key(key_path)
    try:
        own = _variant(problem_set, metadata)
        files = sorted(p for p in submission.rglob("*")
                       if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise ChainruleError("no answers file in the submission (upload answers.csv, "
                                 "answers.json or your worksheet .ipynb)")
        found = load_submissions([files[0]], own)
        where, answers = next(iter(found.values()))
        grade = Grader(own, close_credit, "the key").grade(answers, own.student or "you",
                                                           where)
    except ChainruleError as error:
        return {"score": 0, "output": f"Your submission could not be graded: {error}",
                "tests": []}
    return _results(own, grade)


def _variant(problem_set: ProblemSet, metadata: Path) -> ProblemSet:
    from chainrule.errors import ChainruleError

    if not problem_set.variants:
        return problem_set
    users = []
    if metadata.is_file():
        users = json.loads(metadata.read_text(encoding="utf-8")).get("users") or []
    for user in users:
        for field in ("sid", "email", "name"):
            if user.get(field):
                own = problem_set.for_student(str(user[field]))
                if own is not None:
                    return own
    raise ChainruleError("you are not on the class's roster (no variant for your student id, "
                         "email or name): ask your teacher")


def _results(own: ProblemSet, grade) -> dict:
    from chainrule.exercises.report import diagnosis_text, result_text, uncredited
    from chainrule.exercises.working import Workings, equation_text

    workings = Workings.of(own)
    tests = []
    for exercise in grade.exercises:
        notes = {j.question.id: (why, steps) for j, why, steps in uncredited(exercise, workings)}
        said = diagnosis_text(exercise)
        for j in exercise.judgements:
            lines = [result_text(j)]
            if j.question.id in notes:
                why, steps = notes[j.question.id]
                lines += [why, *(equation_text(e) for e in steps)]
            if said and j is exercise.judgements[0]:
                lines.insert(0, f"Exercise {exercise.exercise.number}: {said}")
            tests.append({"name": f"{j.question.label} {j.question.symbol}",
                          "number": j.question.label, "score": j.points, "max_score": 1,
                          "status": "passed" if j.points == 1 else "failed",
                          "output": "\n".join(lines), "output_format": "text"})
    return {"score": grade.points, "output": f"{grade.points:g} of {grade.max_points} points.",
            "tests": tests}
