"""The final answer of a reply, normalized, and whether it matches the gold answer.

Math replies: the last non-empty `\\boxed{...}` (nested braces allowed; an empty one is the
prompt echoed back), else "the answer is ..." (to the end of its sentence, or the last side of
the display-math block that follows), else the last number. Answers are compared after
LaTeX normalization (\\dfrac, \\left/\\right, \\text{}, units, degrees, $, %, thousands
separators, spaces, trailing .0) and, when both sides are numbers or plain fractions, numerically.
Multiple-choice replies: the letter of the last "The answer is (X)" (an option or not: "(E)" of
four is a wrong answer), else a boxed letter, else the last "(X)" naming an option. The
last-number and last-"(X)" fallbacks apply only to replies that finished: one cut off at the
token limit or stopped in a loop is credited only for an answer it states, since whichever
number a loop happens to end on is no answer (a reply that echoes the question would otherwise
score whenever the question's last number is the answer). Left out: symbolic equivalence
(sympy-style: `2x+2` vs `2(x+1)` count as different) and matching a choice's text instead of
its letter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# The answer is a display-math block ("is:\n\\[ 5 \\]", groups 1-2) or runs to the end of its line (group 3).
_ANSWER_IS = re.compile(r"(?:final answer|answer) is\s*:?\s*(?:\\\[([\s\S]*?)\\\]|\$\$([\s\S]*?)\$\$|(.+))",
                        re.IGNORECASE)
# Commas only as thousands separators; a trailing π stays on ("5π" is no 5).
_NUMBER = re.compile(r"(?:-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+)(?:\s*(?:π|\\pi\b))?")
_PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_FRAC = re.compile(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}")
_CHOICE_IS = re.compile(r"answer is\s*:?\s*\**\s*(\()?([A-Z])\)?(?![A-Za-z])", re.IGNORECASE)
_PAREN_LETTER = re.compile(r"\(([A-Z])\)")


@dataclass(frozen=True)
class Graded:
    prediction: str | None  # the extracted answer (None: nothing found)
    correct: bool


def last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty \\boxed{...} (or \\fbox{...}); None if there is none."""
    for match in reversed(list(_BOXED.finditer(text))):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                content = text[start:i].strip()
                if content:  # an empty box is the prompt's instruction echoed back, not an answer
                    return content
                break
        # An unclosed box (a reply cut off at max tokens) falls back to an earlier one.
    return None


def extract_math_answer(text: str, finished: bool = True) -> str | None:
    """The final answer of a math reply: boxed, else "the answer is X", else (finished) the last number."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    stated = _ANSWER_IS.findall(text)
    if stated:
        bracketed, dollars, line = stated[-1]
        if line:  # the answer ends with its sentence: "is $1430. Let's check" -> "$1430"
            answer = re.split(r"\.\s", line)[0].strip().rstrip(".").strip()
        else:  # "\\[ x = 2.8 \\text{ liters} \\]": the last side of the equation
            answer = (bracketed or dollars).split("=")[-1].strip()
        numbers = _NUMBER.findall(answer)
        # "The answer is 18 dollars." -> 18; a formula such as "$\frac{1}{2}$" is kept whole.
        if answer and not ("\\" in answer or "$" in answer) and numbers:
            return numbers[0]
        if answer:
            return answer
    if not finished:
        return None
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def extract_choice(text: str, n_choices: int, finished: bool = True) -> str | None:
    """The chosen letter (A, B, ...) of a multiple-choice reply, or None."""
    valid = {chr(ord("A") + i) for i in range(n_choices)}
    # A stated letter that is no option still ends the reply's answer when it is in parentheses
    # ("(E)" of 4 choices is a wrong answer, not a reason to credit an earlier "(D)"); "(X)" is
    # the prompt's placeholder echoed back, and a bare word ("the answer is I think") no letter.
    stated = [letter for paren, letter in _CHOICE_IS.findall(text)
              if letter in valid or (paren and letter.isupper() and letter != "X")]
    if stated:
        return stated[-1]
    boxed = last_boxed(text)
    if boxed is not None:
        letter = _strip_text_macros(boxed).strip("()$ .")
        if letter in valid:
            return letter
    if not finished:
        return None
    letters = [m for m in _PAREN_LETTER.findall(text) if m in valid]
    return letters[-1] if letters else None


def _strip_text_macros(s: str) -> str:
    """\\text{abc} -> abc (also \\textbf, \\mbox, \\mathrm), innermost first."""
    previous = None
    while previous != s:
        previous = s
        s = re.sub(r"\\(?:text|textbf|textit|mbox|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", s)
    return s


def normalize_math(answer: str) -> str:
    """A canonical string for a math answer, so equal answers written differently compare equal."""
    s = answer.strip()
    s = s.replace("\n", "").replace("\\!", "").replace("\\displaystyle", "")
    s = re.sub(r"\\[,;: ]", "", s)  # LaTeX spacing commands
    s = s.replace("{,}", "")  # 1{,}000
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s).replace("°", "")
    s = s.replace("π", "\\pi").replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    # A trailing unit in \text{} after a number: "10\text{ inches}" -> "10".
    s = re.sub(r"(?<=[\d}])\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z ]+\}$", "", s)
    s = _strip_text_macros(s)
    s = re.sub(r"\s*(?:degrees?|units?|dollars?|cents?|inches|feet|cm|meters|miles|hours|minutes)\.?$", "", s)
    s = s.replace(" ", "").rstrip(".")
    # "x=5" -> "5" (a short left side naming the variable); "x^2+y=5" stays.
    s = re.sub(r"^[A-Za-z](?:_\w|\w?)?=(?=[^=])", "", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)  # \frac12
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)  # \frac{1}2
    s = re.sub(r"\\sqrt(\d+)", r"\\sqrt{\1}", s)  # \sqrt2
    if re.fullmatch(r"-?\d+/\d+", s):  # 3/4 -> \frac{3}{4}
        num, den = s.split("/")
        s = f"\\frac{{{num}}}{{{den}}}"
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 2,125 -> 2125 (a lone number, not a tuple)
        s = s.replace(",", "")
    if _PLAIN_NUMBER.fullmatch(s):
        s = _canonical_number(float(s)) if "." in s else str(int(s))
    return s


def _canonical_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def number_value(normalized: str) -> float | None:
    """The value of a normalized answer that is a plain number or a fraction of integers."""
    if _PLAIN_NUMBER.fullmatch(normalized):
        return float(normalized)
    frac = _FRAC.fullmatch(normalized)
    if frac and int(frac.group(3)) != 0:
        value = int(frac.group(2)) / int(frac.group(3))
        return -value if frac.group(1) else value
    return None


def math_equal(prediction: str, gold: str) -> bool:
    """Whether two math answers are the same after normalization (numerically, for numbers)."""
    a, b = normalize_math(prediction), normalize_math(gold)
    if a == b:
        return True
    x, y = number_value(a), number_value(b)
    return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)


def grade(text: str, gold: str, n_choices: int = 0, finished: bool = True) -> Graded:
    """Extract the answer of a reply and compare it with the gold answer (a letter for choices).

    `finished`: the reply ended by itself (end of generation or a stop string), rather than at
    the token limit, in a loop or at a full context.
    """
    if n_choices:
        letter = extract_choice(text, n_choices, finished)
        return Graded(letter, letter == gold)
    prediction = extract_math_answer(text, finished)
    return Graded(prediction, prediction is not None and math_equal(prediction, gold))
