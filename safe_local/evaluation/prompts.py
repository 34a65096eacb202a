"""The paper's prompts (SAFE, App. A): one user message per item, no few-shot examples.

Math: the question followed by "Please reason step by step, and put your final answer within
\\boxed{}." Multiple choice: the question, the options as "(A) text" lines, then the instruction
to reason and print "The answer is (X)". PROMPT_VERSION is part of every result's settings hash,
so changing a template here makes earlier results count as a different setting instead of being
mixed in. Left out: system prompts and chat templates (each model's own template applies).
"""

from __future__ import annotations

from safe_local.evaluation.data import Item

PROMPT_VERSION = 1
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
CHOICE_INSTRUCTION = (
    'Provide your step-by-step reasoning first, and then print "The answer is (X)" '
    "where X is the answer choice (one capital letter)."
)


def build_prompt(item: Item) -> str:
    """The user message for an item."""
    if not item.choices:
        return f"{item.question} {MATH_INSTRUCTION}"
    options = "\n".join(f"({chr(ord('A') + i)}) {text}" for i, text in enumerate(item.choices))
    return f"{item.question}\n{options}\n{CHOICE_INSTRUCTION}"
