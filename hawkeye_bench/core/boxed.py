"""The content of a text's last ``\\boxed{...}``: how a dataset's worked solution and a model's
answer mark their final answer (read by the dataset loaders and the grader alike)."""

from __future__ import annotations


def last_boxed_content(text: str) -> str | None:
    r"""Return the content of the last ``\boxed{...}`` / ``\fbox{...}`` in ``text``, or None.

    Braces are matched by counting (answers nest braces: ``\boxed{\frac{1}{2}}``), so a regex
    cannot do this. ``\boxed 5`` (no braces) yields the token after the space.
    """
    starts = [(text.rfind(marker), marker) for marker in ("\\boxed", "\\fbox", "\\framebox")]
    start, marker = max(starts)
    if start < 0:
        return None
    rest = text[start + len(marker) :]
    if rest.startswith(" "):  # \boxed 5
        token = rest[1:].split("$", 1)[0].split()
        return token[0] if token else None
    brace = rest.find("{")
    if brace < 0 or rest[:brace].strip():
        return None
    depth = 0
    for offset, char in enumerate(rest[brace:]):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return rest[brace + 1 : brace + offset].strip()
    return None  # unbalanced
