"""Canvas QTI 1.2: a zip Canvas imports as quizzes (Settings → Import course content → QTI
.zip file), laid out as Canvas's own exports and text2qti's are: ``imsmanifest.xml`` at the
root, and per quiz ``<id>/<id>.xml`` (the ``questestinterop``) with ``<id>/assessment_meta.xml``.

Every part is a ``numerical_question``: the correct number, exactly or within half a unit of
the last decimal asked (``varequal``, or ``vargte``/``varlte``). A class's variants are one
quiz each (assign a quiz to a student, or a section, with Canvas's "Assign to"), so a student
works one network throughout.

What Canvas cannot say, and what is done instead:

* Canvas replaces a number below 1e-4 in magnitude typed into a numerical answer by zero, and
  rounds what is typed to 4 decimals. A set asking for more than 4 decimals asks for the
  answer scaled: "give 10² × ∂E/∂w¹₁₁", to 4 decimals, so every accepted number is at least
  1e-4 or exactly 0. The prompt says so.
* A numerical answer in Canvas is right or wrong: no partial credit for "close", no feedback
  for one wrong number. Each part's feedback for a wrong answer names the mistakes that are
  known to give a wrong number there, and the general feedback holds the correct working.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from html import escape
from xml.sax.saxutils import escape as xml_escape, quoteattr

from chainrule.exercises.model import ProblemSet
from chainrule.exercises.platforms.answers import Item, fixed, items
from chainrule.exercises.platforms.text import prompt_html, statement

CANVAS_DECIMALS = 4  # what Canvas keeps of a typed number
QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the same set gives the same bytes


def _ident(*parts: object) -> str:
    return "g" + hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def scale_of(precision: int) -> int:
    """The power of ten an answer is multiplied by so that Canvas keeps every digit asked."""
    return max(0, precision - CANVAS_DECIMALS)


def _field(label: str, entry: object) -> str:
    return (f"<qtimetadatafield><fieldlabel>{label}</fieldlabel>"
            f"<fieldentry>{xml_escape(str(entry))}</fieldentry></qtimetadatafield>")


def _item(item: Item, precision: int, ident: str, text: str) -> str:
    k = scale_of(precision)
    digits = precision - k
    value = item.question.answer * 10 ** k
    correct = f"{value:.{digits}f}"
    half = 0.5 * 10.0 ** -digits
    low, high = float(correct) - half, float(correct) + half
    scaled = (f" Give 10<sup>{k}</sup> × the answer (in units of 10<sup>−{k}</sup>), rounded "
              f"to {digits} decimals: Canvas keeps 4 decimals of a typed number."
              if k else "")
    body = (f"{text}\n<p><b>{escape(item.question.label)}</b> {prompt_html(item.question)}."
            f"{scaled}</p>")
    mistakes = [a for a in item.answers if a.mistake]
    wrong = ("<p>Not right. Mistakes that give a wrong number here:</p><ul>"
             + "".join(f"<li>{escape(a.feedback)}</li>" for a in mistakes) + "</ul>"
             if mistakes else "<p>Not right: check each step.</p>")
    working = ("<p>The correct working:</p><ul>" + "".join(
        rf"<li>\({escape(line)}\)</li>" for line in item.working_latex) + "</ul>"
               if item.working_latex else f"<p>The answer is {escape(correct)}.</p>")
    meta = "".join([_field("question_type", "numerical_question"),
                    _field("points_possible", "1"),
                    _field("original_answer_ids", f"{ident}_answer"),
                    _field("assessment_question_identifierref", f"{ident}_ref")])
    return f"""      <item ident="{ident}" title={quoteattr(item.question.label)}>
        <itemmetadata><qtimetadata>{meta}</qtimetadata></itemmetadata>
        <presentation>
          <material><mattext texttype="text/html">{xml_escape(body)}</mattext></material>
          <response_str ident="response1" rcardinality="Single">
            <render_fib fibtype="Decimal"><response_label ident="{ident}_answer"/></render_fib>
          </response_str>
        </presentation>
        <resprocessing>
          <outcomes><decvar maxvalue="100" minvalue="0" varname="SCORE" vartype="Decimal"/></outcomes>
          <respcondition continue="Yes">
            <conditionvar><other/></conditionvar>
            <displayfeedback feedbacktype="Response" linkrefid="general_fb"/>
          </respcondition>
          <respcondition continue="No">
            <conditionvar>
              <or>
                <varequal respident="response1">{correct}</varequal>
                <and>
                  <vargte respident="response1">{fixed(round(low, digits + 2))}</vargte>
                  <varlte respident="response1">{fixed(round(high, digits + 2))}</varlte>
                </and>
              </or>
            </conditionvar>
            <setvar action="Set" varname="SCORE">100</setvar>
          </respcondition>
          <respcondition continue="Yes">
            <conditionvar><other/></conditionvar>
            <displayfeedback feedbacktype="Response" linkrefid="general_incorrect_fb"/>
          </respcondition>
        </resprocessing>
        <itemfeedback ident="general_fb"><flow_mat><material><mattext texttype="text/html">{xml_escape(working)}</mattext></material></flow_mat></itemfeedback>
        <itemfeedback ident="general_incorrect_fb"><flow_mat><material><mattext texttype="text/html">{xml_escape(wrong)}</mattext></material></flow_mat></itemfeedback>
      </item>"""


def _assessment(one: ProblemSet, title: str, ident: str) -> str:
    parts = []
    for item_ in items(one, close_credit=0.0):
        text = statement(one, item_.exercise)
        parts.append(_item(item_, one.precision, _ident(ident, item_.question.id), text))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<questestinterop xmlns="{QTI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{QTI_NS} http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd">
  <assessment ident="{ident}" title={quoteattr(title)}>
    <qtimetadata>{_field("cc_maxattempts", "1")}</qtimetadata>
    <section ident="root_section">
{chr(10).join(parts)}
    </section>
  </assessment>
</questestinterop>
"""


def _meta(title: str, ident: str, points: int) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<quiz identifier="{ident}" xmlns="http://canvas.instructure.com/xsd/cccv1p0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://canvas.instructure.com/xsd/cccv1p0 https://canvas.instructure.com/xsd/cccv1p0.xsd">
  <title>{xml_escape(title)}</title>
  <description></description>
  <shuffle_answers>false</shuffle_answers>
  <scoring_policy>keep_highest</scoring_policy>
  <quiz_type>assignment</quiz_type>
  <points_possible>{points}</points_possible>
  <show_correct_answers>false</show_correct_answers>
  <allowed_attempts>1</allowed_attempts>
  <available>false</available>
</quiz>
"""


def _manifest(quizzes: list[tuple[str, str]], title: str) -> str:
    resources = "".join(
        f"""    <resource identifier="{ident}" type="imsqti_xmlv1p2">
      <file href="{ident}/{ident}.xml"/>
      <dependency identifierref="{ident}_dependency"/>
    </resource>
    <resource identifier="{ident}_dependency" type="associatedcontent/imscc_xmlv1p1/learning-application-resource" href="{ident}/assessment_meta.xml">
      <file href="{ident}/assessment_meta.xml"/>
    </resource>
""" for ident, _ in quizzes)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="{_ident('manifest', title)}" xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1" xmlns:lom="http://ltsc.ieee.org/xsd/imsccv1p1/LOM/resource" xmlns:imsmd="http://www.imsglobal.org/xsd/imsmd_v1p2">
  <metadata>
    <schema>IMS Content</schema>
    <schemaversion>1.1.3</schemaversion>
    <imsmd:lom><imsmd:general><imsmd:title><imsmd:string>{xml_escape(title)}</imsmd:string></imsmd:title></imsmd:general></imsmd:lom>
  </metadata>
  <organizations/>
  <resources>
{resources}  </resources>
</manifest>
"""


def package(problem_set: ProblemSet) -> bytes:
    """The zip: one quiz for the set, or one per variant of a class."""
    sets = problem_set.student_sets()
    files: dict[str, str] = {}
    quizzes = []
    for variant, one in enumerate(sets, 1):
        title = problem_set.title + (f" (variant {variant})" if len(sets) > 1 else "")
        ident = _ident(problem_set.title, problem_set.seed, variant)
        files[f"{ident}/{ident}.xml"] = _assessment(one, title, ident)
        files[f"{ident}/assessment_meta.xml"] = _meta(title, ident, len(one.questions))
        quizzes.append((ident, title))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in [("imsmanifest.xml", _manifest(quizzes, problem_set.title)),
                           *sorted(files.items())]:
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
