"""The worksheet and the answer key as LaTeX documents, and as PDF when pdflatex is there.

The documents use only packages of texlive-latex-base (amsmath, geometry, color, array, longtable); the
diagrams are ``picture`` environments, so a minimal TeX installation compiles them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from chainrule.errors import MissingDependency
from chainrule.exercises import sheet
from chainrule.exercises.kinds import special_sheet
from chainrule.exercises.diagram import latex_picture
from chainrule.exercises.markdown import WORKING_EXTRA_DIGITS
from chainrule.exercises.model import Exercise, ExerciseError, ProblemSet
from chainrule.explain.render.latex import latex_escape
from chainrule.explain.render import render
from chainrule.explain.trace import explain

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage{amsmath,amssymb}
\usepackage[margin=2cm]{geometry}
\usepackage{color}
\usepackage{array,longtable}
\allowdisplaybreaks
\setcounter{MaxMatrixCols}{20}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6ex}
\newcommand{\workbox}[1]{\noindent\fbox{\parbox[t][#1][t]{\dimexpr\linewidth-2\fboxsep
-2\fboxrule\relax}{\small Working}}}
"""
LONG_KEY = 16  # questions beyond which an exercise's key table may break across pages
PDFLATEX_TIMEOUT = 300  # seconds for one document: a key of many exercises is long


def worksheet(problem_set: ProblemSet) -> str:
    return _document(worksheet_body(problem_set))


def worksheets(sheets: list[ProblemSet]) -> str:
    """Every student's worksheet in one document, for printing: each starts on an odd page
    (a duplex printer keeps students apart), its pages numbered from 1."""
    body: list[str] = []
    for i, one in enumerate(sheets):
        if i:
            body += [r"\clearpage\ifodd\value{page}\else\hbox{}\clearpage\fi"]
        body += [r"\setcounter{page}{1}", *worksheet_body(one)]
    return _document(body)


def worksheet_body(problem_set: ProblemSet) -> list[str]:
    body = [rf"\section*{{{_escape(problem_set.title)}}}", *name_boxes(problem_set),
            rf"\emph{{{_escape(sheet.set_summary(problem_set))}}}", "",
            _escape(sheet.instructions(problem_set)), ""]
    for exercise in problem_set.exercises:
        body += [r"\clearpage" if exercise.number > 1 else "", *_exercise(exercise,
                                                                          problem_set.precision)]
        body += WORKING_SPACE
    return body


# What is left of the page after the questions, a ruled box to work in; under 8 cm left, a
# page of its own.
WORKING_SPACE = [r"\par\vspace{1ex}\ifdim\dimexpr\pagegoal-\pagetotal\relax<8cm\clearpage"
                 r"\workbox{\dimexpr\textheight-3\baselineskip\relax}\else"
                 r"\workbox{\dimexpr\pagegoal-\pagetotal-3\baselineskip\relax}\fi", ""]


def name_boxes(problem_set: ProblemSet) -> list[str]:
    """Name and student-id boxes, filled in for a student's own variant."""
    name = _escape(problem_set.name) if problem_set.name else ""
    sid = _escape(problem_set.student) if problem_set.student else ""
    return [r"\noindent\begin{tabular}{@{}l@{\ }p{7.5cm}@{\qquad}l@{\ }p{4cm}@{}}",
            rf"Name: & \framebox[7.5cm][l]{{\strut {name}}} & Student id: & "
            rf"\framebox[4cm][l]{{\strut \texttt{{{sid}}}}} \\",
            r"\end{tabular}", r"\par\medskip"]


def _exercise(exercise: Exercise, precision: int) -> list[str]:
    spec = exercise.spec
    special = special_sheet(spec)
    if special:
        return special.latex_lines(exercise, precision)
    lines = [rf"\section*{{Exercise {exercise.number}}}", r"\begin{center}",
             latex_picture(spec), r"\end{center}", "", sheet.network_text(spec, latex=True), "",
             sheet.convention(), r"\begin{gather*}"]
    lines.append(r" \\ ".join(sheet.given_lines(spec)))
    return lines + [r"\end{gather*}"] + sheet.latex_questions(exercise, precision)


def key(problem_set: ProblemSet, kind: str = "compact") -> str:
    """The answer key: ``compact`` (a page per exercise, :mod:`.keys`), ``worked`` (every
    equation of the step) or ``answers`` (the numbers alone)."""
    from chainrule.exercises import keys

    if kind == "compact":
        return _document(keys.compact_latex(problem_set, _escape))
    if kind == "answers":
        return _document(keys.answers_latex(problem_set, _escape))
    return _worked_key(problem_set)


def _worked_key(problem_set: ProblemSet) -> str:
    digits = min(problem_set.precision + WORKING_EXTRA_DIGITS, 10)
    body = [rf"\section*{{Answer key: {_escape(problem_set.title)}}}",
            rf"\emph{{{_escape(sheet.set_summary(problem_set))}}}", "",
            f"Answers are rounded to {problem_set.precision} decimals; the worked solutions "
            f"show {digits}.", ""]
    for exercise in problem_set.exercises:
        table = "longtable" if len(exercise.questions) > LONG_KEY else "tabular"
        body += [r"\clearpage" if exercise.number > 1 else "",
                 rf"\section*{{Exercise {exercise.number}}}",
                 r"\renewcommand{\arraystretch}{1.7}",
                 # a long exercise's table breaks across pages, its header repeated
                 rf"\begin{{{table}}}{{@{{}}>{{\bfseries}}l l l r@{{}}}}",
                 r"\textnormal{question} & quantity & id & answer \\ \hline"
                 + (r" \endhead" if table == "longtable" else "")]
        body += [rf"{q.label} & $\displaystyle {q.latex}$ & \texttt{{{latex_escape(q.id)}}} & "
                 rf"${q.rounded(problem_set.precision)}$ \\" for q in exercise.questions]
        body += [rf"\end{{{table}}}", r"\renewcommand{\arraystretch}{1}", "",
                 worked(exercise, digits)]
    return _document(body)


def worked(exercise: Exercise, digits: int) -> str:
    """The explain trace as a LaTeX fragment, its title dropped and headings one level down."""
    special = special_sheet(exercise.spec)
    if special:
        return special.worked_latex(exercise, digits)
    text = render(explain(exercise.spec), "latex", precision=digits, fragment=True)
    rest = text.split("\n", 1)[1]  # the first line is the trace's \section* title
    rest = re.sub(r"^\\subsection\*", r"\\subsubsection*", rest, flags=re.M)
    return "\\subsection*{Worked solution}\n" + rest


def _escape(text: str) -> str:
    """Prose for LaTeX: dashes as TeX writes them, then the renderer's escapes."""
    return latex_escape(text.replace("—", "---").replace("–", "--"))


def _document(body: list[str]) -> str:
    return PREAMBLE + "\\begin{document}\n" + "\n".join(body).rstrip() + "\n\\end{document}\n"


def pdfs(sources: dict[str, str]) -> dict[str, bytes]:
    """Every ``name.tex`` compiled to ``name.pdf``, two at a time (a class's worksheets are
    many small documents)."""
    from concurrent.futures import ThreadPoolExecutor

    names = sorted(sources)
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        made = list(pool.map(lambda n: pdf(sources[n], Path(n).stem), names))
    return {name[:-len(".tex")] + ".pdf": data for name, data in zip(names, made)}


def pdf(tex: str, name: str) -> bytes:
    """Compile a document with pdflatex; the same text gives the same bytes
    (SOURCE_DATE_EPOCH fixes the dates pdfTeX would write)."""
    program = shutil.which("pdflatex")
    if program is None:
        raise MissingDependency("--format pdf needs pdflatex: apt-get install "
                                "texlive-latex-base (or write --format latex and compile it)")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory(prefix="chainrule-tex-") as folder:
        source = Path(folder) / f"{name}.tex"
        source.write_text(tex, encoding="utf-8")
        try:
            result = subprocess.run(
                [program, "-interaction=nonstopmode", "-halt-on-error", source.name],
                cwd=folder, env=env, capture_output=True, text=True, errors="replace",
                timeout=PDFLATEX_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ExerciseError(f"{name}.tex: pdflatex took more than {PDFLATEX_TIMEOUT} s") \
                from None
        output = Path(folder) / f"{name}.pdf"
        if result.returncode != 0 or not output.is_file():
            problem = next((line for line in result.stdout.splitlines()
                            if line.startswith("!")), f"exit status {result.returncode}")
            raise ExerciseError(f"{name}.tex: pdflatex failed: {problem.lstrip('! ')}")
        return output.read_bytes()
