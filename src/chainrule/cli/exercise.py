"""``chainrule exercise``: ``new`` writes worksheets with answer keys, ``grade`` grades answers.

Thin: parse, call :mod:`chainrule.exercises`, print. Grading is not an error: ``grade``
exits 0 whatever the answers; a bad option or file is one line on stderr and exit code 2
(a :class:`~chainrule.errors.ChainruleError`, printed by ``chainrule.cli.main``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chainrule.errors import ChainruleError
from chainrule.tables.losses import LOSS_NAMES
from chainrule.words import plural

GRADE_FORMATS = ("table", "markdown", "csv", "json")


def add_exercise_parser(commands) -> None:
    from chainrule.exercises.levels import LEVELS
    from chainrule.exercises.writers import FORMATS

    exercise = commands.add_parser(
        "exercise", help="backprop worksheets with answer keys, and grading that names the "
                         "mistake",
        description="Generate exercises for any network with exact answer keys (new), and "
                    "grade students' answers, naming the known mistake behind wrong numbers "
                    "(grade).")
    exercise.set_defaults(exercise_parser=exercise)
    sub = exercise.add_subparsers(dest="exercise_command", metavar="SUBCOMMAND")
    levels = "; ".join(f"{name}: {level.summary}" for name, level in LEVELS.items())
    new = sub.add_parser(
        "new", help="write a worksheet, its answer key and an answers template",
        description="Draw networks with nice numbers, none degenerate, and write the worksheet "
                    "(markdown, latex, pdf, ipynb or json), the answer key with worked "
                    "solutions (key.md or key.tex), key.json for grading and "
                    f"answers-template.csv. Levels: {levels}.")
    new.add_argument("--level", choices=list(LEVELS), default="full",
                     help="what is asked (default full)")
    new.add_argument("--arch", metavar="2-2-1",
                     help="units per layer, input first (default: the level's, e.g. 2-2-1)")
    new.add_argument("--activation", default="sigmoid", metavar="NAME[,NAME...]",
                     help="one activation for every layer, or one per layer (default sigmoid; "
                          "level softmax puts softmax on the output)")
    new.add_argument("--loss", help=f"{', '.join(LOSS_NAMES[:-1])} or {LOSS_NAMES[-1]} "
                                    "(default half_sse; cross_entropy for level softmax)")
    new.add_argument("--seed", type=int, default=0, help="the same seed gives the same files")
    new.add_argument("--count", type=int, default=10, help="exercises (default 10)")
    new.add_argument("--precision", type=int, default=4, metavar="D",
                     help="decimals every answer is rounded to (default 4)")
    new.add_argument("--decimals", type=int, choices=(1, 2), default=1,
                     help="decimals of the given numbers (default 1)")
    new.add_argument("--lr", type=float, metavar="ETA",
                     help="the learning rate of every exercise (default 0.5)")
    new.add_argument("--batch-size", type=int, metavar="N",
                     help="level batch: examples per batch (default 2)")
    new.add_argument("--ask", metavar="WHAT[,WHAT...]",
                     help="the quantities asked, from forward, outputs, loss, deltas, "
                          "output-deltas, gradients, output-gradients, updates (default: the "
                          "level's)")
    who = new.add_mutually_exclusive_group()
    who.add_argument("--roster", metavar="CSV",
                     help="a class list (an id column, and a name): every student gets their "
                          "own variant, drawn from the seed and their id, and their own sheet")
    who.add_argument("--students", type=int, metavar="N",
                     help="variants for N students, ids student-001 … (instead of a roster)")
    new.add_argument("--notation", metavar="NAME",
                     help="write the symbols as the course's textbook does: chainrule "
                          "(default), nielsen, ng, cs231n, goodfellow, d2l; answers may use "
                          "them too")
    new.add_argument("--key", choices=("compact", "worked"), default="compact",
                     help="the answer key: compact (each answer beside its working, a page per "
                          "exercise; the default) or worked (every equation of the step)")
    new.add_argument("--title", help="the worksheet's title")
    new.add_argument("-f", "--format", choices=FORMATS, default="markdown",
                     help="the worksheet's format (default markdown)")
    new.add_argument("-o", "--out", metavar="DIR", default="exercises",
                     help="the folder to write into (default ./exercises)")
    new.add_argument("--force", action="store_true",
                     help="replace a key.json of other exercises in DIR")
    grade = sub.add_parser(
        "grade", help="grade answers against a key: per question, a score, the mistakes",
        description="Judge every answer at the precision asked, from the student's own "
                    "earlier answers (correct; carried: right from a wrong earlier answer; "
                    "close: off in the last digit or truncated; incorrect; unanswered), name "
                    "the catalogue mistake behind the wrong numbers and where they began, "
                    "show the correct working, and summarise a class. Exit status 0 whatever "
                    "the answers.")
    grade.add_argument("key", help="key.json (or the folder holding it)")
    grade.add_argument("answers", nargs="+",
                       help="answers files (JSON, YAML, CSV, a filled-in worksheet.ipynb) or "
                            "folders of them; a CSV with a student column holds a class")
    grade.add_argument("-f", "--format", choices=GRADE_FORMATS, default="table",
                       help="table (default), markdown, csv (a row per student) or json")
    grade.add_argument("-o", "--output", metavar="FILE",
                       help="write to FILE (atomically) instead of standard output")
    grade.add_argument("--details", action="store_true",
                       help="for a class, show every student in full too")
    grade.add_argument("--feedback", metavar="DIR",
                       help="also write one Markdown feedback file per student into DIR")
    grade.add_argument("--close-credit", type=float, default=0.5, metavar="C",
                       help="points for a close answer, 0 to 1 (default 0.5)")
    from chainrule.exercises.platforms import PLATFORMS

    export = sub.add_parser(
        "export", help="the key as a course platform imports it: Moodle XML, GIFT, Canvas "
                       "QTI, a Gradescope autograder, an nbgrader notebook",
        description="Write a key's exercises for a course platform: moodle (Moodle XML: a "
                    "category per exercise, Cloze questions, each mistake a 0%% answer with "
                    "its explanation), gift, qti (a Canvas QTI 1.2 zip), gradescope (an "
                    "autograder zip) or nbgrader (a source notebook). See docs/exercises.md.")
    export.add_argument("key", help="key.json (or the folder holding it)")
    export.add_argument("--to", required=True, choices=list(PLATFORMS), help="the platform")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="where to write (default: beside the key, "
                             + ", ".join(f"{p} → {n}" for p, n in PLATFORMS.items()) + ")")
    export.add_argument("--close-credit", type=float, default=0.5, metavar="C",
                        help="credit for a close answer, 0 to 1 (default 0.5; Canvas and "
                             "nbgrader give none)")
    export.add_argument("--category", metavar="PATH",
                        help="moodle, gift: the question bank category (default "
                             "$course$/top/chainrule/TITLE)")
    from chainrule.verify.judging import MARKINGS  # exercise's commands all need numpy

    grade.add_argument("--marking", choices=MARKINGS, default="carried-forward",
                       help="credit an answer right from the student's own wrong earlier "
                            "answers (carried-forward, the default: error carried forward, "
                            "as examiners mark), or only answers right on their own (strict)")


def run_exercise(args: argparse.Namespace) -> int:
    if args.exercise_command == "new":
        return _new(args)
    if args.exercise_command == "grade":
        return _grade(args)
    if args.exercise_command == "export":
        return _export(args)
    args.exercise_parser.print_help(sys.stderr)
    return 2


def _new(args: argparse.Namespace) -> int:
    from chainrule.exercises.generate import generate, generate_class
    from chainrule.exercises.roster import load_roster, numbered
    from chainrule.exercises.writers import write_worksheets

    options = dict(arch=args.arch, activation=args.activation, loss=args.loss,
                   seed=args.seed, count=args.count, precision=args.precision,
                   decimals=args.decimals, learning_rate=args.lr, batch_size=args.batch_size,
                   title=args.title, ask=args.ask, notation=args.notation)
    students = (load_roster(args.roster) if args.roster else
                numbered(args.students) if args.students is not None else None)
    problem_set = (generate_class(students, args.level, **options) if students is not None
                   else generate(args.level, **options))
    folder = Path(args.out)
    written = write_worksheets(problem_set, folder, args.format, force=args.force,
                               key=args.key)
    top = [p for p in written if p.parent == folder]
    questions = len(problem_set.questions)
    whom = f", a variant for each of {len(students)} students" if students else ""
    print(f"{plural(len(problem_set.exercises), 'exercise')}, {plural(questions, 'question')}, "
          f"answers to {problem_set.precision} decimals (level {problem_set.level}, "
          f"seed {args.seed}{whom}):")
    for path in top:
        print(f"  {path}")
    for sub in ("sheets", "diagrams", "sheets/diagrams"):
        inside = sum(1 for p in written if p.parent == folder / sub)
        if inside:
            what = "diagrams" if sub.endswith("diagrams") else "files"
            print(f"  {folder / sub}/ ({inside} {what})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from chainrule.exercises.model import load_key
    from chainrule.exercises.platforms import default_path, export
    from chainrule.files import write_atomically

    problem_set = load_key(args.key)
    data = export(problem_set, args.to, args.close_credit, args.category or "")
    path = Path(args.output) if args.output else default_path(Path(args.key), args.to)
    write_atomically(path, data)
    variants = len(problem_set.variants)
    print(f"{path}: {plural(len(problem_set.questions), 'question')} in "
          f"{plural(len(problem_set.exercises), 'exercise')}"
          + (f", {plural(variants, 'variant')}" if variants else "") + f" for {args.to}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from chainrule.exercises import export, report
    from chainrule.exercises.model import load_key
    from chainrule.exercises.submissions import load_submissions
    from chainrule.exercises.summary import grade_class

    if not 0.0 <= args.close_credit <= 1.0:
        raise ChainruleError(f"--close-credit: expected a number from 0 to 1, "
                             f"got {args.close_credit}")
    problem_set = load_key(args.key)
    submissions = load_submissions(args.answers, problem_set)
    graded = grade_class(problem_set, submissions, args.close_credit, source=args.key,
                         marking=args.marking)
    if args.format == "table":
        text = report.table(graded, args.key, args.details)
    elif args.format == "markdown":
        text = report.markdown(graded, args.key, args.details)
    elif args.format == "csv":
        text = export.to_csv(graded)
    else:
        text = export.to_json(graded)
    if args.output:  # the gradebook first: a feedback file that fails must not cost it
        from chainrule.files import write_atomically

        write_atomically(Path(args.output), text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if args.feedback:
        export.write_feedback(graded, args.feedback)
    return 0
