"""Grading: at the precision asked, close for a rounding slip, the mistake named, a class."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.exercises import (
    ExerciseError, Grader, generate, grade_answers, grade_class, load_key, write_worksheets,
)
from chainrule.exercises.levels import split_key
from chainrule.verify.mistakes import applicable_mistakes, mistaken_step


@pytest.fixture(scope="module")
def full():
    return generate("full", seed=7, count=2)


def rounded(problem_set, values=None, exercise=None) -> dict[str, str]:
    """Answers as a student who rounds correctly writes them (optionally from other values)."""
    out = {}
    for e in problem_set.exercises:
        if exercise is not None and e.number != exercise:
            continue
        for q in e.questions:
            v = q.answer if values is None else values(e, q)
            out[q.id] = f"{v:.{problem_set.precision}f}"
    return out


def mistaken(mistake_id):
    def values(exercise, question):
        name, index = split_key(question.quantity)
        return float(np.asarray(mistaken_step(exercise.spec, mistake_id)[name])[index])
    return values


@pytest.mark.parametrize("level", ["forward", "output", "full", "batch", "softmax", "deep"])
def test_the_key_graded_against_itself_scores_100_percent(level):
    problem_set = generate(level, seed=1, count=2)
    grader = Grader(problem_set)
    for answers in (rounded(problem_set), {q.label: q.answer for q in problem_set.questions}):
        grade = grader.grade(answers)
        assert grade.score == 1.0 and grade.count("correct") == len(problem_set.questions)
        assert all(e.diagnosis is None for e in grade.exercises)


@pytest.mark.parametrize("level", ["output", "full", "batch", "softmax", "deep"])
def test_answers_of_each_mistake_are_diagnosed_as_that_mistake(level):
    problem_set = generate(level, seed=2, count=1, activation="sigmoid")
    exercise = problem_set.exercises[0]
    strict, carried = Grader(problem_set, marking="strict"), Grader(problem_set)
    for mistake in applicable_mistakes(exercise.spec):
        answers = rounded(problem_set, mistaken(mistake.id))
        judged = strict.grade(answers).exercises[0]
        wrong = [j for j in judged.judgements if j.status != "correct"]
        if not wrong:  # the mistake changes nothing asked at this level (an update, say)
            continue
        # never "close": a mistaken number is a mistake, not a rounding slip
        assert all(j.status == "incorrect" for j in wrong), mistake.id
        assert all(mistake.id in j.mistakes for j in wrong), mistake.id
        # the diagnosis is the mistake, or one that gives exactly the same numbers here
        same = strict.grade(rounded(problem_set, mistaken(judged.diagnosis)))
        assert judged.diagnosis == mistake.id or \
            [j.given for j in same.judgements] == [j.given for j in judged.judgements]
        assert all(j.mistakes[0] == judged.diagnosis for j in wrong)
        # carried forward: the same diagnosis; what follows rightly from a wrong answer is
        # credited, and the rest are the mistake's
        forward = carried.grade(answers).exercises[0]
        assert forward.diagnoses == judged.diagnoses, mistake.id
        for before, after in zip(judged.judgements, forward.judgements):
            assert after.status == before.status or (
                before.status == "incorrect" and after.status == "carried"), mistake.id
            assert after.status != "incorrect" or after.mistakes[0] == forward.diagnosis
        assert forward.first_wrong is not None
        first = next(j for j in forward.judgements if j.status == "incorrect")
        assert forward.first_wrong["label"] == first.question.label


def test_a_wrong_method_never_lands_on_the_right_answer(full):
    for exercise in full.exercises:
        for mistake in applicable_mistakes(exercise.spec):
            answers = rounded(full, mistaken(mistake.id), exercise.number)
            grade = Grader(full).grade(answers)
            for j in grade.judgements:
                if j.status == "correct":  # untouched by the mistake: the same number exactly
                    name, index = split_key(j.question.quantity)
                    other = float(np.asarray(mistaken_step(exercise.spec, mistake.id)[name])[
                        index])
                    assert other == pytest.approx(j.question.answer, rel=1e-9, abs=1e-12)


# --- rounding rules -----------------------------------------------------------------------------


def one(full, answer, question=0, close_credit=0.5):
    q = full.exercises[0].questions[question]
    grade = grade_answers(full, {q.label: answer}, close_credit=close_credit)
    return grade.exercises[0].judgements[question], q


def test_correct_at_the_precision_asked(full):
    q = full.exercises[0].questions[0]
    for answer in (q.rounded(4), f"{q.answer:.6f}", q.answer, np.float64(q.answer),
                   f"{q.answer:.4e}",
                   q.rounded(4).replace("-", "−"), q.rounded(4).replace(".", ",")):
        judgement, _ = one(full, answer)
        assert judgement.status == "correct", answer
        assert judgement.points == 1.0


def test_off_by_one_in_the_last_digit_is_close(full):
    q = full.exercises[0].questions[0]
    for answer in (q.answer + 1e-4, q.answer - 1e-4):
        judgement, _ = one(full, f"{answer:.4f}")
        assert judgement.status == "close" and judgement.points == 0.5
    truncated = f"{np.trunc(q.answer * 1e4) / 1e4:.4f}"
    if truncated != q.rounded(4):  # truncating instead of rounding is a slip too
        assert one(full, truncated)[0].status == "close"
    assert one(full, f"{q.answer + 1e-4:.4f}", close_credit=0)[0].points == 0.0


def test_two_off_or_too_few_digits_is_incorrect(full):
    q = full.exercises[0].questions[0]
    assert one(full, f"{q.answer + 2.5e-4:.4f}")[0].status == "incorrect"
    assert one(full, f"{q.answer:.1f}")[0].status in ("incorrect", "correct")  # 0.0 vs 0.0042
    judgement, _ = one(full, "0,4a")
    assert judgement.status == "incorrect" and judgement.note == "not a number"
    for blank in ("", "  ", None, ..., "..."):
        assert one(full, blank)[0].status == "unanswered"


def a_mistake_one_unit_away():
    """A drawn exercise where some mistake moves an answer by just over one unit of the last
    digit (more elsewhere): its rounded number alone would be judged close."""
    for seed in range(50):
        problem_set = generate("full", seed=seed, count=1)
        exercise = problem_set.exercises[0]
        for mistake in applicable_mistakes(exercise.spec):
            answers = rounded(problem_set, mistaken(mistake.id))
            for position, q in enumerate(exercise.questions):
                if 0.5e-4 < abs(float(answers[q.id]) - q.answer) <= 1.5e-4:
                    return problem_set, mistake.id, answers, position
    raise AssertionError("no such exercise in 50 seeds")


def test_a_close_answer_that_is_the_diagnosed_mistake_is_incorrect():
    problem_set, mistake_id, answers, position = a_mistake_one_unit_away()
    q = problem_set.exercises[0].questions[position]
    # alone, the number is the mistake's exactly (within half a unit), which says more than
    # being within two units of the right one
    alone = grade_answers(problem_set, {q.id: answers[q.id]}).exercises[0]
    assert alone.judgements[position].status == "incorrect"
    assert mistake_id in alone.judgements[position].mistakes
    strict = Grader(problem_set, marking="strict")
    grade = strict.grade(answers)
    judged = grade.exercises[0]
    same = strict.grade(rounded(problem_set, mistaken(judged.diagnosis)))
    assert judged.diagnosis == mistake_id or [j.given for j in same.judgements] == [
        j.given for j in grade.judgements]
    judgement = judged.judgements[position]
    assert judgement.status == "incorrect" and judgement.mistakes[0] == judged.diagnosis
    assert grade.count("close") == 0
    # carried forward, it is wrong or follows from the wrong answers before it: never close
    forward = grade_answers(problem_set, answers)
    assert forward.exercises[0].judgements[position].status in ("incorrect", "carried")
    assert forward.count("close") == 0 and forward.exercises[0].diagnoses == judged.diagnoses


def test_unknown_or_repeated_questions_are_errors(full):
    with pytest.raises(ExerciseError, match=r"answers: '9z': no such question in the key "
                                            r"\(questions are labelled 1a to 2r"):
        grade_answers(full, {"9z": "1"})
    with pytest.raises(ExerciseError, match=r"question 1a \(1.gradients.W1\[0,0\]\) is "
                                            r"answered twice"):
        grade_answers(full, {"1a": "1", "1.gradients.W1[0,0]": "1"})


def test_an_edited_key_is_refused(full, tmp_path):
    data = full.to_dict()
    data["exercises"][0]["questions"][0]["answer"] += 0.01
    from chainrule.exercises import key_from_dict

    with pytest.raises(ExerciseError, match=r"question 1a .*: the key's answer .* was the key "
                                            r"edited\?"):
        grade_answers(key_from_dict(data), {"1a": "1"})


# --- a class ------------------------------------------------------------------------------------


def test_class_summary_counts(full):
    right = rounded(full)
    ascent = rounded(full, mistaken("gradient_ascent"))
    slips = {k: f"{float(v) + 1e-4:.4f}" for k, v in right.items()}
    partial = {k: v for i, (k, v) in enumerate(right.items()) if i % 2 == 0}
    graded = grade_class(full, {"ann": ("a", right), "bob": ("b", ascent), "cy": ("c", slips),
                                "dee": ("d", partial)})
    ann, bob, cy, dee = graded.students
    total = len(full.questions)
    assert ann.score == 1.0 and cy.score == 0.5 and cy.count("close") == total
    assert bob.count("incorrect") == 18 and bob.diagnoses == ["gradient_ascent"]
    assert dee.count("unanswered") == total // 2
    assert graded.mean_score == pytest.approx((1 + bob.score + 0.5 + dee.score) / 4)
    questions = graded.questions()
    first = questions[0]  # an update: wrong for bob, close for cy, maybe unanswered for dee
    assert first.question.quantity.startswith("updated")
    assert first.counts["incorrect"] == 1 and first.counts["close"] == 1
    assert first.mistakes == (("gradient_ascent", 1),)
    assert sum(q.counts["correct"] for q in questions) == ann.count("correct") + \
        bob.count("correct") + dee.count("correct")
    mistakes = graded.mistakes()
    assert [(m.id, m.students, m.answers) for m in mistakes] == [("gradient_ascent", 1, 18)]


def test_a_class_from_files(full, tmp_path):
    write_worksheets(full, tmp_path / "set", "json")
    key = load_key(tmp_path / "set")
    labels = [q.label for q in key.questions]
    answers = rounded(key)
    values = [answers[q.id] for q in key.questions]
    (tmp_path / "class.csv").write_text(
        "student," + ",".join(labels) + "\n" + "ann," + ",".join(values) + "\n"
        + "bob," + ",".join([""] * len(values)) + "\n", encoding="utf-8")
    from chainrule.exercises import load_submissions

    submissions = load_submissions([tmp_path / "class.csv"], key)
    graded = grade_class(key, submissions)
    assert [s.student for s in graded.students] == ["ann", "bob"]
    assert graded.students[0].score == 1.0 and graded.students[1].count("unanswered") == 36


def test_the_documented_example_of_the_rules():
    """docs/exercises.md, "The rules": with 4 decimals and the answer −0.004164."""
    from chainrule.exercises.grade import Grader as G
    from chainrule.verify.judging import Truth

    class OneNumber(G):  # the rules on one number, whatever network would give it
        def truth(self, number):
            return Truth("expression", "f", {"forward.f": np.asarray(-0.004164)}, {})

    from chainrule.exercises.model import Exercise, ProblemSet, Question

    q = Question("1.forward.f", "1a", "forward.f", "f", "f", "f", "f", -0.004164)
    ps = ProblemSet("t", "circuit", 4, 0, {}, (Exercise(1, {}, (q,)),))
    grader = OneNumber(ps)
    expected = {"-0.0042": "correct", "-0.00416": "correct", "-0.0041": "close",
                "-0.0043": "close", "-0.004": "close", "-0.0045": "incorrect",
                "-0.0039": "incorrect"}
    got = {given: grader.grade({"1a": given}).judgements[0].status for given in expected}
    assert got == expected


def test_one_slip_costs_one_answer_and_the_report_says_where_it_began(full):
    from chainrule.exercises import report
    from chainrule.exercises.summary import grade_class

    exercise = full.exercises[0]
    answers = rounded(full, exercise=1)
    slipped = next(q for q in exercise.questions if q.quantity == "gradients.b2[0]")
    update = next(q for q in exercise.questions if q.quantity == "updated.b2[0]")
    lr = exercise.spec["learning_rate"]
    answers[slipped.id] = f"{slipped.answer + 0.01:.4f}"
    answers[update.id] = f"{update.answer - lr * 0.01:.4f}"  # worked from the slip
    graded = grade_class(full, {"ann": ("a", answers)})
    ann = graded.students[0]
    judged = {j.question.id: j for j in ann.exercises[0].judgements}
    assert judged[slipped.id].status == "incorrect"
    assert judged[update.id].status == "carried" and judged[update.id].points == 1.0
    assert ann.exercises[0].first_wrong["label"] == slipped.label
    text = report.table(graded, "key.json")
    assert (f"The first wrong answer is {slipped.label} {slipped.symbol}: "
            f"{answers[slipped.id]} given, {slipped.rounded(4)} expected; 1 later answer "
            f"follows correctly") in text
    strict = grade_class(full, {"ann": ("a", answers)}, marking="strict").students[0]
    assert {j.question.id: j.status for j in strict.judgements}[update.id] == "incorrect"


def test_a_mistake_made_in_one_layer_is_graded_with_its_layer(full):
    from chainrule.exercises import export, report
    from chainrule.verify.mistakes import MISTAKES
    from chainrule.verify.reference import as_spec, reference_step

    confined = MISTAKES["gradient_ascent"].confined(1)

    def values(exercise, question):
        name, index = split_key(question.quantity)
        step = reference_step(as_spec(exercise.spec), confined.alterations)
        return float(np.asarray(step[name])[index])

    graded = grade_class(full, {"ann": ("a", rounded(full, values))})
    exercise = graded.students[0].exercises[0]
    assert exercise.diagnoses == ("gradient_ascent",) and exercise.layer == 1
    wrong = [j.question.quantity for j in exercise.judgements if j.status == "incorrect"]
    assert wrong and all(q.startswith(("updated.W1", "updated.b1")) for q in wrong)
    assert "(Update along the gradient, in layer 1 only)" in report.diagnosis_text(exercise)
    layers = export.to_dict(graded)["students"][0]["diagnosis_layers"]
    assert layers == {str(e.exercise.number): 1 for e in graded.students[0].exercises}
