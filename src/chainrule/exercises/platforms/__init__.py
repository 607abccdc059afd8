"""A problem set in the formats courses import: Moodle XML, GIFT, Canvas QTI 1.2, a
Gradescope autograder, an nbgrader source notebook (docs/exercises.md, "Course platforms").

Every format is written from one table of answers per question (:mod:`.answers`): the
correct number with the tolerance of the precision asked, each catalogue mistake that gives
another number (no credit, its explanation as feedback), and "close" (partial credit) for an
answer off in the last digit. A platform that cannot say something (Canvas gives no credit
to a wrong numerical answer and shows no per-answer feedback for it) says what it can, and
the docs say what is lost.
"""

from __future__ import annotations

from pathlib import Path

from chainrule.exercises.model import ExerciseError, ProblemSet

# platform → the file written beside the key unless told otherwise
PLATFORMS = {"moodle": "moodle.xml", "gift": "moodle.gift.txt", "qti": "canvas-qti.zip",
             "gradescope": "gradescope-autograder.zip", "nbgrader": "nbgrader-source.ipynb"}


def export(problem_set: ProblemSet, platform: str, close_credit: float = 0.5,
           category: str = "") -> str | bytes:
    """The file a platform imports, in the notation the key was written in."""
    from chainrule.explain.profiles import using

    with using(problem_set.options.get("notation")):
        return _export(problem_set, platform, close_credit, category)


def _export(problem_set: ProblemSet, platform: str, close_credit: float,
            category: str) -> str | bytes:
    if platform not in PLATFORMS:
        raise ExerciseError(f"to: expected one of {', '.join(PLATFORMS)}, got {platform!r}")
    if not 0.0 <= close_credit <= 1.0:
        raise ExerciseError(f"close_credit: expected a number from 0 to 1, got {close_credit!r}")
    if platform == "moodle":
        from chainrule.exercises.platforms.moodle import quiz

        return quiz(problem_set, close_credit, category)
    if platform == "gift":
        from chainrule.exercises.platforms.gift import questions

        return questions(problem_set, close_credit, category)
    if platform == "qti":
        from chainrule.exercises.platforms.qti import package

        return package(problem_set)
    if platform == "gradescope":
        from chainrule.exercises.platforms.gradescope import autograder

        return autograder(problem_set, close_credit)
    if problem_set.variants:
        raise ExerciseError("to nbgrader: nbgrader hands every student the same notebook; "
                            "export a key without a roster (or use gradescope, moodle or qti "
                            "for variants)")
    from chainrule.exercises.platforms.nbgrader import source_notebook

    return source_notebook(problem_set)


def default_path(key: Path, platform: str) -> Path:
    folder = key if key.is_dir() else key.parent
    return folder / PLATFORMS[platform]
