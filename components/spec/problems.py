"""Problems and where they are written: key paths of the merged document back to file and key, and pydantic's
structural errors turned into messages that say what is allowed.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pulumi.errors import RunError
from pydantic import BaseModel, ValidationError

from components import rules
from components.spec.document import NAMESPACE, SHARED_FILE, Path_, StackConfig, Target
from provider.declare import without_none


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One located problem: the file it comes from, the key path as written there, and the message."""

    rule_id: str
    severity: rules.Severity
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} {self.key}: {self.message} [{self.rule_id}]"


class SpecError(ValueError, RunError):
    """Bad stack config. The message lists every problem: file, key path, what was wrong, what is allowed.

    A RunError, so Pulumi shows the message alone, without a Python traceback in front of it.
    """

    def __init__(self, stack: str, problems: tuple[Problem, ...]) -> None:
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"stack {stack!r} has {len(problems)} config problem(s); nothing was created:\n{lines}"
        )


# --------------------------------------------------------------------------------------------------------
# Locating problems in the two files
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sources:
    """The stack file and registry.yaml as written: where each key path of the merged document comes from."""

    stack: str
    stack_doc: Mapping[str, Any]
    shared_doc: Mapping[str, Any]

    @property
    def stack_file(self) -> str:
        return f"Pulumi.{self.stack}.yaml"

    def locate(self, path: Path_) -> tuple[str, str]:
        """(file, key) for a path in the merged document: where it was written, or its enclosing object."""
        candidates: list[tuple[Path_, bool]] = [(path, True), (path, False)]
        if len(path) >= 3 and path[0] == "models" and not self._model_overrides(path):
            # Values a model inherits from modelDefaults are reported where they are written.
            candidates += [(("modelDefaults", *path[2:]), True), (("modelDefaults", *path[2:]), False)]
        if (
            _per_stack(path)
            and _depth(self.stack_doc, path) < len(path)
            and _depth(self.shared_doc, path) < len(path)
        ):
            return self._render(path, True)  # missing, and it is each stack's to set
        best: tuple[int, Path_, bool] = (-1, path, True)
        for cand, in_stack in candidates:
            depth = _depth(self.stack_doc if in_stack else self.shared_doc, cand)
            if depth == len(cand):
                return self._render(cand, in_stack)
            # Deeper enclosing object wins; on a tie the shared file (where the object is declared),
            # except when neither has any of it: then it is the stack's to set.
            if cand == path and (depth > best[0] or (depth == best[0] and depth > 0 and not in_stack)):
                best = (depth, cand, in_stack)
        return self._render(best[1], best[2])

    def _model_overrides(self, path: Path_) -> bool:
        """Does the model itself set a list or value along `path`, replacing what modelDefaults says?"""
        for doc in (self.stack_doc, self.shared_doc):
            depth = _depth(doc, path)
            # Mappings merge with the defaults; a list or value met on the way replaces them.
            if any(not isinstance(_node(doc, path[:d]), Mapping) for d in range(3, depth + 1)):
                return True
        return False

    def _render(self, path: Path_, in_stack: bool) -> tuple[str, str]:
        key = format_path(path)
        return (self.stack_file, f"{NAMESPACE}:{key}") if in_stack else (SHARED_FILE, key)


def _per_stack(path: Path_) -> bool:
    """Keys that differ per environment and so belong in the stack file when they are missing."""
    return (
        path[:1] in (("target",), ("deployer",), ("environment",))
        or path[:2] == ("catalog", "name")
        or (path[:1] == ("roles",) and path[-1:] == ("principals",))
    )


def _node(doc: Any, path: Path_) -> Any:
    for seg in path:
        doc = doc[int(seg)] if isinstance(doc, list) else doc[str(seg)]
    return doc


def _depth(doc: Any, path: Path_) -> int:
    node = doc
    for i, seg in enumerate(path):
        if isinstance(node, Mapping) and str(seg) in node:
            node = node[str(seg)]
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return i
    return len(path)


def format_path(path: Path_) -> str:
    """`models.cost_anomaly_detector.grants[0].privileges[1]`: the form `pulumi config set --path` takes."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else seg
    return out


# --------------------------------------------------------------------------------------------------------
# Pydantic errors into located problems
# --------------------------------------------------------------------------------------------------------
def _explain(err: Mapping[str, Any], loc: tuple[Any, ...]) -> tuple[Path_, str, Any]:
    """A document path (union tags removed), a message that says what is allowed, the expected type."""
    path: list[str | int] = []
    tp: Any = StackConfig
    allowed: list[str] = []
    for seg in loc:
        tp = without_none(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            allowed = sorted(fields)
            path.append(seg)
            tp = fields[seg].annotation if seg in fields else None
        elif _is_tagged_union(tp):
            tp = next((m for m in _union_members(tp) if _tag_of(m) == seg), None)  # the tag: not shown
        elif typing.get_origin(tp) in (dict, Mapping):
            path.append(seg)
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in (tuple, list):
            path.append(seg)
            tp = typing.get_args(tp)[0]
        else:
            path.append(seg)
            tp = None
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "missing":
        msg = "is required"
    elif kind == "extra_forbidden":
        msg = f"unknown key; allowed keys: {', '.join(allowed)}"
    elif kind == "union_tag_invalid":
        msg = f"unknown kind {ctx.get('tag')!r}; allowed: {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        msg = f"kind is required; allowed: {target_kinds()}"
    elif kind == "literal_error":
        msg = f"got {err.get('input')!r}; allowed: {ctx.get('expected')}"
    elif kind in ("model_attributes_type", "model_type", "dict_type"):
        msg = f"must be a mapping, got {err.get('input')!r}"
    elif kind in ("tuple_type", "list_type"):
        msg = f"must be a list, got {err.get('input')!r}"
    elif kind == "string_type":
        msg = f"must be text, got {err.get('input')!r}"
    elif kind in ("bool_type", "bool_parsing"):
        msg = f"must be true or false, got {err.get('input')!r}"
    elif kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        msg = f"must be a number, got {err.get('input')!r}"
    else:
        msg = f"{err['msg']}, got {err.get('input')!r}"
    return tuple(path), msg, tp


_PLACEHOLDER_TARGET = {"kind": "mlflow", "trackingUri": "http://placeholder.invalid"}


def validate_document(doc: Mapping[str, Any]) -> tuple[StackConfig | None, list[tuple[Path_, str]]]:
    """Validate the document; on structural errors, patch the bad parts and validate again.

    The patched document is only used so the governance rules can still run and every problem of the
    stack is reported at once; the structural errors themselves are what the first pass found.
    """
    work: dict[str, Any] = copy.deepcopy(dict(doc))
    found: list[tuple[Path_, str]] = []
    for attempt in range(6):
        try:
            return StackConfig.model_validate(work), found
        except ValidationError as exc:
            for err in exc.errors():
                path, msg, tp = _explain(err, tuple(err["loc"]))
                if attempt == 0:
                    found.append((path, msg))
                _patch(work, path, str(err["type"]), tp)
    return None, found


def touches_patched(path: Path_, patched: list[Path_]) -> bool:
    """Does a rule's finding concern a patched part: inside it, or the list item that holds it?"""
    for bad in patched:
        if path[: len(bad)] == bad:
            return True
        if path and isinstance(path[-1], int) and bad[: len(path)] == path:
            return True
    return False


def _patch(doc: dict[str, Any], path: Path_, kind: str, tp: Any) -> None:
    if path[:1] == ("target",) and (kind.startswith("union_tag") or len(path) == 1):
        doc["target"] = dict(_PLACEHOLDER_TARGET)
    elif kind == "missing":
        tp = without_none(tp)
        origin = typing.get_origin(tp)
        if (isinstance(tp, type) and issubclass(tp, BaseModel)) or origin in (dict, Mapping):
            placeholder: Any = {}
        elif origin in (tuple, list):
            placeholder = []
        elif tp is bool:
            placeholder = False
        else:
            placeholder = "placeholder"
        _set(doc, path, placeholder)
    elif path and isinstance(path[-1], int):
        # A bad list item is replaced, not removed, so the indexes of the items after it keep meaning.
        tp = without_none(tp)
        _set(doc, path, {} if isinstance(tp, type) and issubclass(tp, BaseModel) else "placeholder")
    else:
        drop_path(doc, path)  # a required key comes back as "missing" next round and gets a placeholder


def _set(doc: dict[str, Any], path: Path_, value: Any) -> None:
    node: Any = doc
    for seg in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(str(seg), {})
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[str(last)] = value
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = value


def target_kinds() -> str:
    """The target kinds the document takes (`'mlflow', 'databricks'`), as the messages list them.

    Read from the `Target` union, whose members are the config side of components/targets.py's table
    (a unit test keeps the two equal); the spec cannot import that table, which imports the spec.
    """
    return ", ".join(repr(_tag_of(m)) for m in _union_members(Target))


def _is_tagged_union(tp: Any) -> bool:
    # Pydantic keeps the bare union as the field annotation and the discriminator aside.
    return bool(_union_members(tp)) and all(_tag_of(m) is not None for m in _union_members(tp))


def _union_members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()


def _tag_of(member: Any) -> str | None:
    field = getattr(member, "model_fields", {}).get("kind")
    args = typing.get_args(field.annotation) if field is not None else ()
    return str(args[0]) if args else None


def drop_path(doc: dict[str, Any], path: Path_) -> None:
    """Remove the key at `path` from `doc`, if it is there."""
    if not path:
        return
    node: Any = doc
    for seg in path[:-1]:
        if isinstance(node, Mapping):
            node = node.get(str(seg))
        elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            node = node[seg]
        else:
            return
    if isinstance(node, dict):
        node.pop(str(path[-1]), None)
