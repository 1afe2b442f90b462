"""Text from inputs, made safe to print: the one place that decides what reaches a terminal.

A build name, a config's `_name_or_path`, an NVML device name or a path can carry escape
sequences (`ESC [ 2 J` clears the screen, OSC 8 hides a link, U+202E reverses what follows).
Every renderer and every error line passes its text through here: C0/C1 control characters,
DEL and the bidi controls that change how a line reads are shown as Python escapes (`\\x1b`,
`\\u202e`) instead of being sent.
"""

from __future__ import annotations

import re

# C0 except tab and newline, DEL, C1 (U+0080..U+009F: U+009B is a one-byte CSI on some
# terminals), and the bidi controls that reorder what follows (Unicode TR9: ALM, LRM, RLM, the
# embeddings and overrides, the isolates; "Trojan Source", CVE-2021-42574), and the line and
# paragraph separators. Zero-width spaces and joiners stay: they break or join, never hide.
UNSAFE_CHARS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069"
_UNSAFE_BLOCK = re.compile(f"[{UNSAFE_CHARS}]")
_UNSAFE_LINE = re.compile(f"[{UNSAFE_CHARS}\t\n]")
# Select Graphic Rendition (colour, bold): the only sequence dlrig's own terminal output uses.
_SGR_OR_UNSAFE = re.compile(f"\x1b\\[[0-9;]*m|[{UNSAFE_CHARS}]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _keep_sgr(match: re.Match[str]) -> str:
    return match.group() if len(match.group()) > 1 else _escape(match)


def safe_line(text: str) -> str:
    """One line for an error message or a table cell: newlines and tabs escaped too."""
    return _UNSAFE_LINE.sub(_escape, text)


def safe_text(text: str, *, keep_colour: bool = False) -> str:
    """A whole rendered report: newlines and tabs kept; with `keep_colour`, the SGR colour
    codes a renderer produced are kept too (sources are cleaned before, see `safe_line`)."""
    if keep_colour:
        return _SGR_OR_UNSAFE.sub(_keep_sgr, text)
    return _UNSAFE_BLOCK.sub(_escape, text)


_MD_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def markdown_safe(text: str) -> str:
    """A Markdown document with raw HTML neutralised: `<script>` in a name shows as text in a
    forum post instead of being interpreted (Markdown passes inline HTML through)."""
    return safe_text(text).translate(_MD_HTML)
