"""The hand-written readings of the notebooks agree with their generated verdicts.

A notebook's prose ("What it means", an exercise's solution) may state a direction ("makes
fewer test errors", "better", "worse", "no detectable difference") only where a verdict of the
committed records says so. Each place it does is a row of `AGREEMENTS`: the phrase, as the
Markdown has it, and where the verdict for the same comparison is printed in the committed
executed notebook (a `readings.show` cell, a printed table, or a cell of a T x alpha grid).
Nothing is executed: the committed .ipynb JSON is read. When a phrase is rewritten, or a verdict
changes with the records, its row fails and the prose must be read again against the verdict.
"""

import json
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
VERDICT = r"(better|worse|no detectable difference)"


class Printed(NamedTuple):
    """The first verdict printed after `comparison` (a regex, multiline), in the same line,
    table cell and clause, in the outputs of the code cell `cell` of notebook `notebook` (the
    cell whose source is `cell`, or else the one cell whose source contains it)."""

    notebook: str
    cell: str
    comparison: str


class GridCell(NamedTuple):
    """The verdict column of the table row whose line matches `row` (a regex), in a pandas
    table printed by the code cell `cell` of notebook `notebook`."""

    notebook: str
    cell: str
    row: str


class Agreement(NamedTuple):
    notebook: str  # where the phrase is
    phrase: str  # as the Markdown has it (whitespace normalised)
    source: Printed | GridCell
    verdict: str  # "better", "worse" or "no detectable difference"


def show(notebook: str, name: str, comparison: str) -> Printed:
    return Printed(notebook, f'readings.show("{name}"', comparison)  # shown_above=... or not


def grid04(student: str, temperature: float, alpha: float) -> GridCell:
    """A cell of notebook 04's T x alpha grid, tested against labels alone (alpha = 1)."""
    return GridCell("04", 'table[["architecture"', rf"^\d+ +mlp:{student} +{temperature:.1f} "
                    rf"+{alpha:.1f} ")


def grid07(width: int, temperature: float) -> GridCell:
    """A temperature of notebook 07's table (alpha = 0.1), tested against the width from scratch."""
    return GridCell("07", "hinton2015.width_table(",
                    rf"^\d+ +{width} +distilled +{temperature:.1f} +0\.1 ")


def method_row(arm: str, baseline: str, student: str = "64,64") -> str:
    """A row of a notebook 18 methods table: `arm` (student `mlp:<student>`) against
    `baseline`, up to its verdict."""
    return rf"\| {arm} \(`mlp:{student}`\) \|[^|\n]*\| {baseline} \|(?:[^|\n]*\|){{3}}"


T1_30 = ("30-30 student distilled at T = 1 makes fewer test errors than the one on labels alone "
         "at alpha = 0, 0.1 and 0.5")
T1_30_CELLS = [grid04("30,30", 1, alpha) for alpha in (0.0, 0.1, 0.5)]
T1_30_LAST = Agreement("", "at alpha = 0.9 no detectable difference", grid04("30,30", 1, 0.9),
                       "no detectable difference")
SCRATCH_LINE = r"^distilled student +"  # the comparison table's row: distilled against scratch
ENSEMBLE_ROW = r"\| distilled from the teachers' ensemble \(averaged logits\) \|(?:[^|\n]*\|){4}"
TINY_CLAIM = r"\| distillation halves the test errors[^|]*\|[^|]*\|"  # then: the recipe here
CONTINUE_CLAIM = r"\| distillation improves the student \|[^|]*\|"  # then: the recipe here
ALPHA_CLAIM = r"\| soft targets help: alpha = 0\.5 against alpha = 1 \|[^|]*\|"  # the recipe here
THEN_CORRECTED = r"[^|]*\|"  # one more column: the corrected protocol


def control19(student: str, arm: str, baseline: str) -> GridCell:
    """A line of notebook 19's controls table: `arm` of student `mlp:<student>` against
    `baseline` ("hinton" or "scratch")."""
    return GridCell("19", "dark_knowledge.write_controls_outputs(RESULTS)",
                    rf"^\d+ +mlp:{student} +{arm} +{baseline} ")


WIDE, SMALL = "800,800", "30,30"

AGREEMENTS = [
    # 19: the controls, both students
    Agreement("19", "Distilled from the strong teacher, it makes fewer test errors than the "
              "800-800 student from scratch", control19(WIDE, "hinton", "scratch"), "better"),
    Agreement("19", "class-mean soft targets make more test errors than Hinton KD",
              control19(WIDE, "class_mean", "hinton"), "worse"),
    *[Agreement("19", "and the weak teacher (per-example outputs of a teacher that knows less) "
                "make more test errors than Hinton KD too", control19(WIDE, arm, "hinton"),
                "worse") for arm in ("label_smoothing", "weak_teacher")],
    *[Agreement("19", "Each of these three shows no detectable difference from the student from "
                "scratch", control19(WIDE, arm, "scratch"), "no detectable difference")
      for arm in ("class_mean", "label_smoothing", "weak_teacher")],
    Agreement("19", "which never sees the teacher, also makes fewer test errors than scratch",
              control19(WIDE, "teacher_regularisers", "scratch"), "better"),
    Agreement("19", "and shows no detectable difference from Hinton KD",
              control19(WIDE, "teacher_regularisers", "hinton"), "no detectable difference"),
    *[Agreement("19", "Hinton KD makes fewer test errors than the 30-30 student from scratch, and "
                "so do class-mean soft targets and the weak teacher",
                control19(SMALL, arm, "scratch"), "better")
      for arm in ("hinton", "class_mean", "weak_teacher")],
    *[Agreement("19", "each showing no detectable difference from Hinton KD",
                control19(SMALL, arm, "hinton"), "no detectable difference")
      for arm in ("class_mean", "weak_teacher")],
    Agreement("19", "make more test errors than the 30-30 student from scratch",
              control19(SMALL, "teacher_regularisers", "scratch"), "worse"),
    *[Agreement("19", "Shuffled soft targets make more test errors than both Hinton KD and "
                "scratch", control19(student, "shuffled", baseline), "worse")
      for student in (WIDE, SMALL) for baseline in ("hinton", "scratch")],
    *[Agreement("19", "Label smoothing shows no detectable difference from scratch for either "
                "student", control19(student, "label_smoothing", "scratch"),
                "no detectable difference") for student in (WIDE, SMALL)],
    # 18: the methods on Fashion-MNIST, each against scratch and against Hinton KD
    *[Agreement("18", "Hinton KD and decoupled KD make more test errors than the student from "
                "scratch", show("18", "18_methods", method_row(arm, "the student from scratch")),
                "worse") for arm in ("hinton", "decoupled")],
    *[Agreement("18", "the hint and label smoothing show no detectable difference from it",
                show("18", "18_methods", method_row(arm, "the student from scratch")),
                "no detectable difference") for arm in ("hint", "label_smoothing")],
    *[Agreement("18", "Against Hinton KD, the hint and label smoothing are \"better\"",
                show("18", "18_methods", method_row(arm, "Hinton KD")), "better")
      for arm in ("hint", "label_smoothing")],
    Agreement("18", "and decoupled KD is \"worse\"",
              show("18", "18_methods", method_row("decoupled", "Hinton KD")), "worse"),
    Agreement("18", "label smoothing, which needs no teacher, makes fewer test errors than "
              "Hinton KD",
              show("18", "18_methods", method_row("label_smoothing", "Hinton KD")), "better"),
    # 18: the methods on MNIST, both students, each against scratch and against Hinton KD
    Agreement("18", "decoupled KD is \"worse\" than Hinton KD for the 30-30 student",
              show("18", "18_methods_mnist", method_row("decoupled", "Hinton KD", "30,30")),
              "worse"),
    Agreement("18", "and makes fewer test errors than the 800-800 student from scratch",
              show("18", "18_methods_mnist",
                   method_row("decoupled", "the student from scratch", "800,800")), "better"),
    *[Agreement("18", "Every other comparison shows no detectable difference",
                show("18", "18_methods_mnist", method_row(arm, b, student)),
                "no detectable difference")
      for arm, b, student in [("hint", b, s) for b in ("Hinton KD", "the student from scratch")
                              for s in ("30,30", "800,800")]
      + [("decoupled", "Hinton KD", "800,800"), ("decoupled", "the student from scratch",
                                                  "30,30")]],
    # 03: T = 1 (notebook 04's grids), and the main comparison
    *[Agreement("03", T1_30, cell, "better") for cell in T1_30_CELLS],
    T1_30_LAST._replace(notebook="03"),
    *[Agreement("03", "for the 800-800 student, with five seeds, every T = 1 cell shows no "
                "detectable difference", grid04("800,800", 1, alpha), "no detectable difference")
      for alpha in (0.0, 0.1, 0.5, 0.9)],
    Agreement("03", 'Here it is "better"', show("03", "03_compare", SCRATCH_LINE), "better"),
    Agreement("03", 'with the default\'s (T = 20: "better")', show("03", "03_compare", SCRATCH_LINE),
              "better"),
    Agreement("03", "the 800-800 student's T = 1 cell shows no detectable difference from labels "
              "alone", grid04("800,800", 1, 0.1), "no detectable difference"),
    # 04: the two grids, one Holm family
    Agreement("04", "of the cells tested here only one (T = 4, alpha = 0.9) makes detectably "
              "fewer test errors", grid04("800,800", 4, 0.9), "better"),
    *[Agreement("04", "and every other cell tested here shows no detectable difference",
                grid04("800,800", t, a), "no detectable difference")
      for t in (1, 2, 4, 8, 20) for a in (0.0, 0.1, 0.5, 0.9)
      if (t, a) not in ((4, 0.9), (20, 0.1), (8, 0.1))],
    # the two cells whose runs notebooks 03 and 19 compare on ten seeds: cited, tested there
    *[Agreement("04", "whose runs notebooks 03 (T = 20) and 19 (T = 8) compare on ten seeds, make "
                "fewer test errors than from scratch there", source, "better")
      for source in (show("03", "03_compare", SCRATCH_LINE),
                     control19("800,800", "hinton", "scratch"))],
    Agreement("04", "Its cell chosen on validation shows no detectable difference from labels "
              "alone", show("04", "04_sweep_800", r"against labels alone: "),
              "no detectable difference"),
    Agreement("04", "against the teachers its seeds distil, too, it shows no detectable difference",
              show("04", "04_sweep_800", r"minus their own teachers"), "no detectable difference"),
    *[Agreement("04", "at T = 2 it makes fewer test errors than labels alone at every alpha",
                grid04("30,30", 2, a), "better") for a in (0.0, 0.5, 0.9)],
    # its T = 2, alpha = 0.1 cell is notebook 19's Hinton KD against scratch (the same runs)
    Agreement("04", "at T = 2 it makes fewer test errors than labels alone at every alpha",
              control19("30,30", "hinton", "scratch"), "better"),
    *[Agreement("04", "it makes fewer test errors than labels alone at every alpha, and at T = 1 "
                "at every alpha but the largest", grid04("30,30", 1, a), "better")
      for a in (0.0, 0.1, 0.5)],
    Agreement("04", "(there, no detectable difference)", grid04("30,30", 1, 0.9),
              "no detectable difference"),
    Agreement("04", 'It loses at the highest temperature with soft targets alone (alpha = 0, '
              '"worse")', grid04("30,30", 20, 0.0), "worse"),
    Agreement("04", "at alpha = 0.1 the highest temperature shows no detectable difference",
              grid04("30,30", 20, 0.1), "no detectable difference"),
    Agreement("04", "Its students make more test errors than the teachers they distil",
              show("04", "04_sweep_30", r"minus their own teachers"), "worse"),
    # 06: the paper's table and its two variants
    Agreement("06", "the distilled student makes fewer test errors than the student from scratch "
              "(the verdict above)",
              Printed("06", "comparison.write_comparison", SCRATCH_LINE), "better"),
    Agreement("06", "the students distilled from it show no detectable difference from the "
              "single-teacher students", show("06", "06_main", ENSEMBLE_ROW),
              "no detectable difference"),
    # 07: each width's temperatures against the width from scratch; the 30-30 and 800-800
    # students' temperatures that another notebook tests are cited, with no direction stated
    *[Agreement("07", "The 100-100 and 300-300 students make fewer test errors than from scratch "
                "at every temperature", grid07(width, t), "better")
      for width in (100, 300) for t in (1, 2, 2.5, 4, 8, 20)],
    *[Agreement("07", "the 30-30 student makes fewer test errors than from scratch, and so does "
                "the 800-800 student", grid07(width, 2.5), "better") for width in (30, 800)],
    # 08: the bias shift chosen on validation against none, both transfer sets
    *[Agreement("08", "make fewer test errors for both transfer sets than without it",
                show("08", "08_omitted", rf"{name}: "), "better") for name in ("omit_3", "only_7_8")],
    # 09: soft targets against hard labels, on 3% and on all the data
    Agreement("09", "the same images with the teacher's soft targets give fewer test errors",
              show("09", "09_regulariser", r"1,650 images: "), "better"),
    Agreement("09", "On all the data the soft targets give fewer test errors too",
              show("03", "03_compare", SCRATCH_LINE), "better"),  # tested there, the same runs
    # 11: "half the errors", as published and corrected
    Agreement("11", "it is not a detectable difference here",
              show("11", "11_tiny_student", TINY_CLAIM), "no detectable difference"),
    Agreement("11", "makes more test errors than the one on hard labels",
              show("11", "11_tiny_student", TINY_CLAIM + THEN_CORRECTED), "worse"),
    # 12: the three gains over the student
    *[Agreement("12", 'the verdicts above: "no detectable difference"',
                show("12", "12_continue", comparison), "no detectable difference")
      for comparison in (CONTINUE_CLAIM, CONTINUE_CLAIM + THEN_CORRECTED,
                         r"continuing on hard labels alone: ")],
    # 15: alpha = 0.5 against alpha = 1, as published and corrected
    # (Holm over the comparisons of the table of claims: neither is detectable)
    Agreement("15", 'the recipe\'s verdict for half soft targets against hard labels alone is '
              '"no detectable difference"', show("15", "15_alexnet", ALPHA_CLAIM),
              "no detectable difference"),
    Agreement("15", 'with the corrected loss the verdict is "no detectable difference" too',
              show("15", "15_alexnet", ALPHA_CLAIM + THEN_CORRECTED), "no detectable difference"),
    # 16: the workshop's committed seeds, and T = 1 (notebook 04's grid)
    Agreement("16", "the same student trained on the teacher's soft targets makes fewer test "
              "errors", show("16", "16_workshop", r"Distilled minus scratch: "), "better"),
    *[Agreement("16", T1_30, cell, "better") for cell in T1_30_CELLS],
    T1_30_LAST._replace(notebook="16"),
    # 17: your own pair, and notebook 04's grids
    Agreement("17", "the distilled student shows no detectable difference from the student from "
              "scratch", show("17", "17_byo", SCRATCH_LINE), "no detectable difference"),
    *[Agreement("17", T1_30, cell, "better") for cell in T1_30_CELLS],
    T1_30_LAST._replace(notebook="17"),
    *[Agreement("17", "made fewer test errors than labels alone at T = 1, 2 and 4",
                grid04("30,30", t, 0.1), "better") for t in (1, 4)],
    Agreement("17", "made fewer test errors than labels alone at T = 1, 2 and 4",
              control19("30,30", "hinton", "scratch"), "better"),  # T = 2: the same runs
    Agreement("17", "and showed no detectable difference at the highest temperature",
              grid04("30,30", 20, 0.1), "no detectable difference"),
]


def _normalised(text: str) -> str:
    return " ".join(text.split())


@cache
def notebook(prefix: str) -> dict:
    (path,) = (REPO / "notebooks").glob(f"{prefix}_*.ipynb")
    return json.loads(path.read_text(encoding="utf-8"))


def markdown(prefix: str) -> str:
    return _normalised(" ".join("".join(c["source"]) for c in notebook(prefix)["cells"]
                                if c["cell_type"] == "markdown"))


def output_text(prefix: str, cell: str) -> str:
    """The committed outputs of a code cell as a reader sees them: streams, and for displays
    their Markdown, else their plain text."""
    code = [c for c in notebook(prefix)["cells"] if c["cell_type"] == "code"]
    found = ([c for c in code if "".join(c["source"]).strip() == cell]
             or [c for c in code if cell in "".join(c["source"])])
    assert len(found) == 1, f"notebook {prefix}: {len(found)} code cells match {cell!r}"
    # A reading that points to the table a cell above showed (`readings.show(...,
    # shown_above=name)`) means that cell's table: read it first.
    above = re.search(r"shown_above=(.+)\)", "".join(found[0]["source"]))
    names = re.findall(r"\b[a-z_]+\b", above.group(1)) if above else []
    shown = [c for name in names for c in code
             if re.search(rf"^ *{name} = ", "".join(c["source"]), re.MULTILINE)]
    texts = []
    for output in [o for c in shown for o in c["outputs"]] + found[0]["outputs"]:
        data = output.get("data", {})
        text = output.get("text") or data.get("text/markdown") or data.get("text/plain") or ""
        texts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(texts)


def verdict_in(text: str, source: Printed | GridCell) -> tuple[str, int, int] | None:
    """The verdict `source` points at in `text`, with its span; None when there is none."""
    if isinstance(source, Printed):
        match = re.search(source.comparison + r"[^\n;|]*?" + VERDICT, text, flags=re.M)
        return (match.group(match.lastindex), *match.span(match.lastindex)) if match else None
    lines = text.splitlines(keepends=True)
    rows = [line.split()[0] for line in lines if re.match(source.row, line)]
    assert len(rows) == 1, f"{len(rows)} rows match {source.row!r}"
    offset, in_verdicts = 0, False
    for line in lines:
        if re.match(r"^\s+(\S.*)?\bverdict\b", line):  # the header of the block holding verdicts
            in_verdicts = True
        elif in_verdicts and not line.strip():
            in_verdicts = False
        elif in_verdicts and line.split()[0] == rows[0]:
            match = re.search(VERDICT, line)
            return (match.group(1), offset + match.start(1), offset + match.end(1)) if match else None
        offset += len(line)
    return None


def disagreement(agreement: Agreement, prose: str, printed: str) -> str | None:
    """What is wrong with one row, given the notebook's Markdown and the cell's output text."""
    if _normalised(agreement.phrase) not in prose:
        return f"notebook {agreement.notebook} no longer says {agreement.phrase!r}"
    found = verdict_in(printed, agreement.source)
    if found is None or found[0] != agreement.verdict:
        return (f"notebook {agreement.notebook} says {agreement.phrase!r}, but notebook "
                f"{agreement.source.notebook}'s verdict is {found and found[0]!r}, not "
                f"{agreement.verdict!r} ({agreement.source})")
    return None


def _id(agreement: Agreement) -> str:
    return f"{agreement.notebook}: {agreement.phrase[:40]} ({agreement.verdict})"


@pytest.mark.parametrize("agreement", AGREEMENTS, ids=_id)
def test_the_hand_written_reading_agrees_with_the_generated_verdict(agreement):
    printed = output_text(agreement.source.notebook, agreement.source.cell)
    assert disagreement(agreement, markdown(agreement.notebook), printed) is None


OPPOSITE = {"better": "worse", "worse": "better", "no detectable difference": "better"}
FLIPPED_WORDS = {"fewer": "more", "more": "fewer", "better": "worse", "worse": "better",
                 "gains": "loses", "loses": "gains", "not a detectable difference":
                 "a detectable difference", "no detectable difference": "a detectable difference"}


def flipped(phrase: str) -> str:
    """The phrase saying the opposite direction."""
    words = sorted(FLIPPED_WORDS, key=len, reverse=True)
    return re.sub(r"\b(" + "|".join(map(re.escape, words)) + r")\b",
                  lambda m: FLIPPED_WORDS[m.group(1)], phrase, flags=re.I)


@pytest.mark.parametrize("agreement", AGREEMENTS, ids=_id)
def test_the_check_fails_when_the_prose_or_the_verdict_says_the_opposite(agreement):
    prose = markdown(agreement.notebook)
    printed = output_text(agreement.source.notebook, agreement.source.cell)
    opposite = flipped(agreement.phrase)
    assert opposite != agreement.phrase, f"{agreement.phrase!r} states no direction"
    turned = prose.replace(_normalised(agreement.phrase), _normalised(opposite))
    assert disagreement(agreement, turned, printed)
    _, start, end = verdict_in(printed, agreement.source)
    reversed_output = printed[:start] + OPPOSITE[agreement.verdict] + printed[end:]
    assert disagreement(agreement, prose, reversed_output)


NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EQUIVALENCE = re.compile(r"\b(equivalen(?:t|ce)|no difference|the same as|does as well|"
                         r"reach(?:es|ed)? the same)\b", re.I)


def what_it_means(path: Path) -> list[str]:
    """The text of each "What it means" section: its cell and the Markdown cells after it, up to
    the next heading or code cell."""
    sections, current = [], None
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("### What it means"):
            current = [text]
            sections.append(current)
        elif cell["cell_type"] != "markdown" or text.startswith("#"):
            current = None
        elif current is not None:
            current.append(text)
    return [_normalised(" ".join(section)) for section in sections]


def claimed_equivalences(section: str) -> list[str]:
    """Sentences that claim two things alike ("equivalent", "no difference", "the same as", "does
    as well", "reach the same"), unless "no detectable" comes before it in the same sentence."""
    claims = []
    for match in EQUIVALENCE.finditer(section):
        sentence = section[section.rfind(". ", 0, match.start()) + 1:match.end()]
        if "no detectable" not in sentence.lower():
            claims.append(sentence.strip())
    return claims


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_reading_claims_equivalence_from_an_undecided_test(path):
    for section in what_it_means(path):
        assert claimed_equivalences(section) == [], path.name


def test_the_equivalence_check_can_fail():
    assert claimed_equivalences("The two students are equivalent. The rest is fine.")
    assert claimed_equivalences("Its gain is the same as the teacher's.")
    assert claimed_equivalences("They show no difference in test errors.")
    assert claimed_equivalences("The control does as well, and both reach the same accuracy.")
    assert not claimed_equivalences('At this n, "no detectable difference" is not "no difference".')
