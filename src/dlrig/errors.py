"""Errors raised at the seams, each able to render itself as one line for the CLI.

`cli.py` catches `DlrigError`, prints `dlrig: error: <one_line()>` on stderr and exits 2.
"""

from __future__ import annotations

import difflib
import re


class DlrigError(Exception):
    """Bad input of any kind: the user can fix it, the program should not show a traceback."""

    def one_line(self) -> str:
        return str(self)


def close_matches(word: str, options: list[str], n: int = 3) -> list[str]:
    """Options the user probably meant: same letters, then containment, then difflib. The one
    "did you mean" ranking of every message (build files, flags, API names, catalog ids)."""
    norm = {o: re.sub(r"[^a-z0-9]", "", o.lower()) for o in options}
    target = re.sub(r"[^a-z0-9]", "", word.lower())
    same = [o for o in options if norm[o] == target]
    if same:
        return same[:n]
    if len(target) >= 3:
        inside = [o for o in options if target in norm[o] or (norm[o] and norm[o] in target)]
        if inside:
            return inside[:n]
    scores = {o: difflib.SequenceMatcher(None, word.lower(), o.lower()).ratio() for o in options}
    best = max(scores.values(), default=0.0)
    ranked = sorted((o for o in options if scores[o] >= 0.6), key=lambda o: -scores[o])
    return [o for o in ranked if scores[o] >= best - 0.1][:n]


def _did_you_mean(suggestions: list[str]) -> str:
    if not suggestions:
        return ""
    quoted = ", ".join(f"'{s}'" for s in suggestions)
    return f"; did you mean {quoted}?"


def did_you_mean(word: str, options: list[str]) -> str:
    """ "; did you mean 'a', 'b'?" for the options closest to `word`, or "" if none is close."""
    return _did_you_mean(close_matches(word, options))


class CatalogLookupError(DlrigError):
    """A part name that is not in the catalog, or (`choices`) one that fits several rows."""

    def __init__(
        self, kind: str, name: str, suggestions: list[str], choices: list[str] | None = None
    ) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = suggestions
        self.choices = choices or []
        super().__init__(self.one_line())

    def problem(self) -> str:
        if self.choices:
            listed = ", ".join(f"'{c}'" for c in self.choices)
            return f"{self.kind} '{self.name}' is ambiguous: it fits {listed}; name one of them"
        return f"unknown {self.kind} '{self.name}'"

    def one_line(self) -> str:
        return f"{self.problem()}{_did_you_mean(self.suggestions)}"


class BuildFileError(DlrigError):
    """A build file that cannot be read or does not validate.

    `key` is the dotted path inside the file (`gpus[0].model`), empty for whole-file problems;
    `more` counts further problems in the file that the one line leaves out.
    """

    def __init__(
        self,
        path: str,
        key: str,
        problem: str,
        suggestions: list[str] | None = None,
        *,
        more: int = 0,
    ) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.suggestions = suggestions or []
        self.more = more  # further problems found in the same file, not shown
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.path}: {self.key}: " if self.key else f"{self.path}: "
        tail = f" (and {self.more} more problem{'s' if self.more > 1 else ''})" if self.more else ""
        return f"{where}{self.problem}{_did_you_mean(self.suggestions)}{tail}"


class CatalogDataError(DlrigError):
    """A shipped or user-supplied catalog file that is malformed (a packaging bug if shipped)."""
