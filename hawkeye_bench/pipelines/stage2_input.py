"""What the responder (stage 2) receives of the reasoner's (stage 1) output.

- ``full``: the whole stage-1 output, thinking and its final answer, as upstream Hawkeye does
  (it leaks the reasoner's answer to the small model, which then often just copies it);
- ``think-only``: the thinking part only (all of the text when the model used no think block);
- ``answer-masked``: the whole output with every ``\\boxed{...}`` answer replaced by a mask.
"""

from __future__ import annotations

from hawkeye_bench.core.trace import StageResult

MASK = "[masked]"


def _replace_boxed(text: str, mask: str = MASK) -> str:
    """Replace the content of every \\boxed{...} / \\fbox{...}, matching nested braces."""
    out: list[str] = []
    i = 0
    while True:
        starts = [j for j in (text.find("\\boxed{", i), text.find("\\fbox{", i)) if j >= 0]
        if not starts:
            out.append(text[i:])
            return "".join(out)
        start = min(starts)
        open_brace = text.index("{", start)
        depth, j = 0, open_brace
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        out.append(text[i : open_brace + 1] + mask + "}")
        i = j + 1


def full_output(stage1: StageResult) -> str:
    """The stage-1 output as one raw text, with a separated reasoning field put back in front."""
    if stage1.reasoning:
        return f"{stage1.reasoning.strip()}\n</think>\n\n{stage1.content.strip()}"
    return stage1.content


def cot_for_stage2(stage1: StageResult, mode: str) -> str:
    if mode == "full":
        return full_output(stage1)
    if mode == "think-only":
        thinking = stage1.thinking
        return thinking if thinking else stage1.answer
    if mode == "answer-masked":
        return _replace_boxed(full_output(stage1))
    raise ValueError(f"unknown stage-2 input mode {mode!r}; valid: full, think-only, answer-masked")
