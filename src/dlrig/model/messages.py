"""Error wording: tomllib and pydantic failures turned into one line a user can act on.

Every message names what was expected and what was found ("expected at least 1, got -2"), with
"did you mean" suggestions for unknown keys and enum values.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from dlrig.errors import BuildFileError, DlrigError
from dlrig.errors import close_matches as _close
from dlrig.model.build import BuildFile

_TOML_WHERE = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", re.S)


def toml_problem(message: str, text: str) -> str:
    """tomllib's message, reworded for someone editing a build file, with line and column."""
    where = _TOML_WHERE.match(message)
    if where is None:
        return f"not valid TOML: {message}"
    msg, line_no, col = where["msg"], int(where["line"]), int(where["col"])
    lines = text.splitlines()
    line = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
    table = re.fullmatch(r"Cannot declare \((.*)\) twice", msg)
    if msg == "Cannot overwrite a value":
        key = line.split("=", 1)[0].strip() if "=" in line else ""
        msg = f"key '{key}' is set twice" if key else "a key is set twice"
    elif table is not None:
        names = re.findall(r"'([^']*)'", table[1])
        msg = f"table [{'.'.join(names)}] is declared twice" if names else msg
    elif msg == "Invalid value":
        rest = line[col - 1 :].strip()[:40] or "nothing"
        msg = (
            'invalid value; expected a number, true/false, a "quoted string", an [array] or '
            f"an {{inline table}}, got {rest}"
        )
    elif msg == "Illegal character '\\n'":
        msg = "line break inside a string (a missing closing quote?)"
    elif msg == "Unclosed array":
        msg = "unclosed array (a missing ']'?)"
    else:
        msg = msg[:1].lower() + msg[1:]
    return f"line {line_no}, column {col}: not valid TOML: {msg}"


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(
    loc: tuple[int | str, ...], root: type[BaseModel] = BuildFile
) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of `loc` (for 'did you mean' on unknown keys)."""
    model: type[BaseModel] = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        sub = _find_model(field.annotation)
        if sub is None:
            return None
        model = sub
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None


_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": 'expected a "quoted string"',
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}
_BOUND = {
    "greater_than": ("gt", "expected more than"),
    "greater_than_equal": ("ge", "expected at least"),
    "less_than": ("lt", "expected less than"),
    "less_than_equal": ("le", "expected at most"),
}


def _show(value: Any) -> str:
    """A value as the user wrote it in TOML (short, one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:60]) + "..."
    return repr(value)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _unquote_hint(kind: str, got: Any) -> str:
    """`count = "4"`: say the fix, since the value is right and only the quotes are wrong."""
    if not isinstance(got, str) or kind not in _EXPECTED or kind.startswith("string"):
        return ""
    text = got.strip().lower()
    if kind.startswith("bool"):
        looks_right = text in ("true", "false")
    elif kind.startswith("int"):
        looks_right = re.fullmatch(r"[+-]?\d+", text) is not None
    else:
        looks_right = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", text) is not None
    return "; write it without quotes" if looks_right else ""


def _describe(
    error: dict[str, Any], key: str, root: type[BaseModel] = BuildFile
) -> tuple[str, list[str]]:
    """'<what is expected>, got <value>' for one pydantic error, and any close matches."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "missing":
        return "required key is missing", []
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
    elif kind in _BOUND and _BOUND[kind][0] in ctx:
        bound, words = _BOUND[kind]
        expected = f"{words} {_number(ctx[bound])}"
    elif kind == "literal_error":
        expected = f"expected {ctx.get('expected', 'one of the allowed values')}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        top_level = "." not in key and "[" not in key
        expected = f"expected a table [{key}]" if top_level else "expected a table"
    elif kind == "list_type":
        expected = "expected an array"
        if key in ("gpus", "storage"):
            expected = f"expected an array of tables, written [[{key}]]"
    elif kind == "too_short":
        count = len(got) if isinstance(got, list) else ctx.get("actual_length")
        return f"expected at least {ctx.get('min_length')} items, got {count}", []
    elif kind == "string_too_short":
        shortest = ctx.get("min_length", 1)
        expected = f"expected at least {shortest} characters"
        if shortest == 1:
            expected = "expected a non-empty string"
    elif kind == "string_too_long":
        expected = f"expected at most {ctx.get('max_length')} characters"
    elif kind == "too_long":
        expected = f"expected at most {ctx.get('max_length')} entries"
    else:
        msg = str(error["msg"]).replace("Input should be", "expected")
        expected = msg.replace("Input should have", "expected")
        expected = expected[:1].lower() + expected[1:]
    suggestions: list[str] = []
    if kind == "literal_error" and isinstance(got, str):
        options = [str(o) for o in get_args(_field_annotation(error["loc"], root))] or re.findall(
            r"'([^']*)'", str(ctx.get("expected", ""))
        )
        options = [o for o in options if o != "None"]
        typed = [
            o for o in get_args(_field_annotation(error["loc"], root)) if not isinstance(o, str)
        ]
        if got.strip() in {str(o) for o in typed}:  # zero = "3" for zero = 3
            return f"{expected}, got {_show(got)}; write it without quotes", []
        suggestions = _close(got, options)
    return f"{expected}, got {_show(got)}{_unquote_hint(kind, got)}", suggestions


def _field_annotation(loc: tuple[int | str, ...], root: type[BaseModel] = BuildFile) -> Any:
    """The Literal type of the field at `loc` (for 'did you mean' on unknown enum values)."""
    names = [p for p in loc if isinstance(p, str)]
    owner = _model_at(tuple(names), root)
    field = owner.model_fields.get(names[-1]) if owner and names else None
    if field is None:
        return None
    annotation = field.annotation
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return arg
        for inner in get_args(arg):  # list[Literal[...]]
            if get_origin(inner) is Literal:
                return inner
    return None


# pydantic reports a value that fits no member of a union field once per member, tagged with the
# member as the last element of its location ("bool", "literal['none','full']").
_UNION_TAGS = frozenset({"bool", "int", "float", "str"})


def _union_tag(error: dict[str, Any]) -> bool:
    tag = error["loc"][-1] if error["loc"] else None
    return isinstance(tag, str) and (tag in _UNION_TAGS or tag.startswith("literal["))


def _one_per_union(errors: list[Any]) -> list[Any]:
    """One error per union field (`checkpointing = true | "full" | ...`), at the field's own
    key: a quoted true/false is the bool member's ("write it without quotes"); anything else
    the literal member's, expecting every member ("true, false, 'none', ..."), so the close
    words are suggested."""
    members: dict[tuple[Any, ...], list[Any]] = {}
    for error in errors:
        if _union_tag(error):
            members.setdefault(tuple(error["loc"][:-1]), []).append(error)
    out = []
    for error in errors:
        prefix = tuple(error["loc"][:-1])
        group = members.get(prefix) if _union_tag(error) else None
        if not group or len(group) < 2:
            out.append(error)
            continue
        if error is not group[0]:
            continue  # the group is reported once, where its first member stood
        kinds = {e["type"]: e for e in group}
        got = error.get("input")
        quoted_bool = isinstance(got, str) and got.strip().lower() in ("true", "false")
        if "bool_type" in kinds and (quoted_bool or "literal_error" not in kinds):
            out.append({**kinds["bool_type"], "loc": prefix})
        elif "literal_error" in kinds:
            literal = kinds["literal_error"]
            expected = (literal.get("ctx") or {}).get("expected", "")
            if "bool_type" in kinds:
                expected = f"true, false, {expected}"
            out.append({**literal, "loc": prefix, "ctx": {"expected": expected}})
        else:
            out.append({**error, "loc": prefix})
    return out


def _pick(errors: list[Any]) -> Any:
    """The error to report: an unknown key first (a typo usually also makes a key 'missing')."""
    for error in errors:
        if error["type"] == "extra_forbidden":
            return error
    return errors[0]


def validation_error(
    exc: ValidationError, shown: str, root: type[BaseModel] = BuildFile
) -> BuildFileError:
    """One line for the first problem; `root` is the file's model (a build or cluster file)."""
    errors = _one_per_union(exc.errors())
    first = _pick(errors)
    loc = tuple(first["loc"])
    key = _key(loc)
    others = [e for e in errors if e is not first]
    if first["type"] == "extra_forbidden":
        owner = _model_at(loc, root)
        known = sorted(owner.model_fields) if owner else []
        close = _close(str(loc[-1]), known)
        # The missing key a typo stands for is the same problem, not one more.
        meant = {(*loc[:-1], name) for name in close}
        others = [e for e in others if not (e["type"] == "missing" and tuple(e["loc"]) in meant)]
        section = len(loc) == 1 and isinstance(first["input"], dict)
        what = "unknown section" if section else "unknown key"
        expected = f"; expected one of: {', '.join(known)}" if known and not close else ""
        return BuildFileError(shown, key, f"{what}{expected}", close, more=len(others))
    problem, close = _describe(first, key, root)
    return BuildFileError(shown, key, problem, close, more=len(others))


def flag_error(exc: ValidationError, flags: dict[str, str] | None = None) -> DlrigError:
    """One line for the first problem of options given on the command line, named as the flag
    (`--seq-len: expected ...`); `flags` maps a field to a flag that is not "--" + its name."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = (flags or {}).get(field, "--" + field.replace("_", "-"))
    msg = str(error["msg"]).replace("Input should be", "expected").replace("Value error, ", "")
    return DlrigError(f"{flag}: {msg}, got {error.get('input')!r}")
