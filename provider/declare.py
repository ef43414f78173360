"""One declaration per resource: a dataclass whose fields carry their description and role.

A resource's properties are declared once, as a frozen dataclass whose fields are made with `arg()`
(an input) or `out()` (an output the provider computes). That one class is the source of:
- the resource's part of the package schema (`schema_of`), with a description per property;
- the input checks: types and required keys are checked here (`parse`), the resource adds its
  own rules;
- the diff (`diff_of`): which keys force a replacement, and per-key changes of maps for the preview;
- the SDK class (`provider/sdk.py`), which registers exactly these properties under the same token.

A property's type may also be a `Struct`: a frozen dataclass of `arg()` fields with a type token of
its own (`mrgov:registry:Gate`). It becomes an entry of the schema's `types`, referenced with `$ref`
(the package schema's object types: https://www.pulumi.com/docs/iac/extending-pulumi/schema/#type),
and is parsed field by field, with the field's path in each failure (`gates.Production.metric`).

The style follows Pulumi's Go `infer` package, which derives a provider's schema from struct tags.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar, TypeVar

from pulumi.provider.experimental.property_value import Computed

META = "mrgov"


@dataclass(frozen=True)
class Role:
    """How one property behaves: its schema description and its part in diffs."""

    description: str
    output: bool = False
    """Computed by the provider; never an input."""
    replace: bool = False
    """A change forces a replacement (Pulumi's `replaceOnChanges`)."""
    secret: bool = False
    """Encrypted in the state, masked in logs and previews."""
    diffed: bool = True
    """False for an input that only matters at create time (never shown as a change)."""


def arg(
    description: str,
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    replace: bool = False,
    secret: bool = False,
    diffed: bool = True,
) -> Any:
    """An input property. Without a default it is required."""
    role = Role(description, replace=replace, secret=secret, diffed=diffed)
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={META: role})
    return dataclasses.field(default=default, metadata={META: role})


def out(description: str, *, default: Any = None, default_factory: Any = MISSING) -> Any:
    """An output property, computed by the provider."""
    role = Role(description, output=True)
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={META: role})
    return dataclasses.field(default=default, metadata={META: role})


class Props:
    """Base of every resource's property dataclass.

    `TOKEN` is the type token, `DESCRIPTION` the schema's description, and `ID` says what the id is
    (what `pulumi import` takes).
    """

    TOKEN: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    ID: ClassVar[str] = ""


P = TypeVar("P", bound=Props)


class Struct:
    """Base of a nested object type: a frozen dataclass of `arg()` fields used as a property's type.

    `TOKEN` names its entry in the schema's `types` (`mrgov:registry:Gate`), `DESCRIPTION` describes it.
    """

    TOKEN: ClassVar[str]
    DESCRIPTION: ClassVar[str]


def is_struct(tp: Any) -> bool:
    """True for a `Struct` dataclass (the class itself, not an instance)."""
    return isinstance(tp, type) and issubclass(tp, Struct) and dataclasses.is_dataclass(tp)


@dataclass(frozen=True)
class Spec:
    """One property of a declaration: its wire name, Python name, type and role."""

    name: str
    attr: str
    type: Any
    role: Role
    required: bool


def camel(name: str) -> str:
    """The wire name of a Python field: `retain_on_delete` -> `retainOnDelete`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_SPECS: dict[type, tuple[Spec, ...]] = {}


def specs(cls: type[Props] | type[Struct]) -> tuple[Spec, ...]:
    """The declared properties of `cls`, in declaration order.

    Cached: a declaration never changes, and every SDK registration, check, diff and read asks for its
    class's (resolving the type hints each time cost about 0.9 s per 1000 models under mocks).
    """
    found = _SPECS.get(cls)
    if found is None:
        found = _SPECS[cls] = _read_specs(cls)
    return found


def _read_specs(cls: type[Props] | type[Struct]) -> tuple[Spec, ...]:
    hints = typing.get_type_hints(cls)
    out_: list[Spec] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        role = f.metadata.get(META)
        if not isinstance(role, Role):
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with arg() or out()")
        required = not role.output and f.default is MISSING and f.default_factory is MISSING
        out_.append(Spec(camel(f.name), f.name, hints[f.name], role, required))
    return tuple(out_)


def inputs_of(cls: type[Props]) -> list[Spec]:
    return [s for s in specs(cls) if not s.role.output]


# ------------------------------------------------------------------------------------------------
# Schema
# ------------------------------------------------------------------------------------------------
def without_none(tp: Any) -> Any:
    """`X | None` (or `Optional[X]`) -> X; any other type, `Annotated[X, ...]` included, as it is."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def type_schema(tp: Any) -> dict[str, Any]:
    """The Pulumi schema type of a Python annotation (str, bool, int, float, list[...], dict[str, ...],
    or a `Struct`, as a `$ref` to its entry in `types`)."""
    tp = without_none(tp)
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if tp in simple:
        return {"type": simple[tp]}
    if is_struct(tp):
        return {"$ref": f"#/types/{tp.TOKEN}"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return {"type": "array", "items": type_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])}
    raise TypeError(f"no schema type for {tp!r}")


def property_schema(spec: Spec) -> dict[str, Any]:
    body = {**type_schema(spec.type), "description": spec.role.description}
    if spec.role.secret:
        body["secret"] = True
    if spec.role.replace:
        body["replaceOnChanges"] = True
    return body


def schema_of(cls: type[Props]) -> dict[str, Any]:
    """The resource's entry in the package schema's `resources`."""
    all_specs = specs(cls)
    ins = [s for s in all_specs if not s.role.output]
    description = cls.DESCRIPTION + (f"\n\n## Import\n\nThe id is {cls.ID}." if cls.ID else "")
    return {
        "description": description,
        "properties": {s.name: property_schema(s) for s in all_specs},
        # Every property is set in the state (inputs echo back; outputs get a value or null).
        "required": [s.name for s in all_specs if not isinstance(None, _types_of(s.type))],
        "inputProperties": {s.name: property_schema(s) for s in ins},
        "requiredInputs": [s.name for s in ins if s.required],
    }


def struct_schema(cls: type[Struct]) -> dict[str, Any]:
    """A `Struct`'s entry in the package schema's `types`: an object type."""
    fields = specs(cls)
    return {
        "type": "object",
        "description": cls.DESCRIPTION,
        "properties": {s.name: property_schema(s) for s in fields},
        "required": [s.name for s in fields if s.required],
    }


def structs_of(tp: Any) -> list[type[Struct]]:
    """Every `Struct` an annotation or a declaration uses, nested ones too, each once, in order."""
    found: list[type[Struct]] = []

    def visit(t: Any) -> None:
        t = without_none(t)
        if is_struct(t):
            if t not in found:
                found.append(t)
                for s in specs(t):
                    visit(s.type)
        elif isinstance(t, type) and issubclass(t, Props):
            for s in specs(t):
                visit(s.type)
        else:
            for arg_ in typing.get_args(t):
                visit(arg_)

    visit(tp)
    return found


def _types_of(tp: Any) -> tuple[type, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(typing.get_origin(a) or a for a in typing.get_args(tp))
    return (typing.get_origin(tp) or tp,)


# ------------------------------------------------------------------------------------------------
# Parsing wire values into a declaration, with one failure per bad property
# ------------------------------------------------------------------------------------------------
def is_unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (a preview of something not created)."""
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return isinstance(value, Computed)


def _coerce(tp: Any, value: Any, path: str, failures: list[tuple[str, str]]) -> Any:
    tp = without_none(tp)
    if value is None:
        return None
    if is_unknown(value):
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            failures.append((path, f"must be text, got {type(value).__name__}"))
            return None
        # Numbers are text where text is declared: a version pin `2` and `"2"` are one value.
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if tp is bool:
        if not isinstance(value, bool):
            failures.append((path, f"must be true or false, got {value!r}"))
            return None
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            failures.append((path, f"must be a whole number, got {value!r}"))
            return None
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            failures.append((path, f"must be a number, got {value!r}"))
            return None
        return float(value)
    if is_struct(tp):
        if not isinstance(value, Mapping):
            failures.append((path, f"must be a mapping, got {type(value).__name__}"))
            return None
        return _parse_fields(tp, value, path, failures, strict=True)
    if origin is list:
        if not isinstance(value, list | tuple):
            failures.append((path, f"must be a list, got {type(value).__name__}"))
            return None
        return [_coerce(args[0], v, f"{path}[{i}]", failures) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            failures.append((path, f"must be a mapping, got {type(value).__name__}"))
            return None
        return {str(k): _coerce(args[1], v, f"{path}.{k}", failures) for k, v in value.items()}
    raise TypeError(f"cannot parse {tp!r}")


def parse(cls: type[P], values: Mapping[str, Any]) -> tuple[P, list[tuple[str, str]]]:
    """`values` (wire names) as a `cls`, and the (property, reason) failures found on the way.

    Missing required inputs and wrong types are failures; unknown keys are ignored (the engine adds
    none, and an old state may carry a property a newer provider dropped).
    """
    failures: list[tuple[str, str]] = []
    return _parse_fields(cls, values, "", failures, strict=False), failures


def _parse_fields(
    cls: Any, values: Mapping[str, Any], path: str, failures: list[tuple[str, str]], *, strict: bool
) -> Any:
    """`values` as a `cls` (a declaration or a Struct); `strict` also refuses keys it does not declare.

    A resource's top level ignores unknown keys (see `parse`); a nested object refuses them, so a
    misspelt `higherIsBeter` is not silently dropped.
    """
    kwargs: dict[str, Any] = {}
    fields = specs(cls)
    for s in fields:
        where = f"{path}.{s.name}" if path else s.name
        raw = values.get(s.name)
        if raw is None:
            if s.required:
                failures.append((where, "is required"))
                kwargs[s.attr] = _empty(s.type)
            continue  # the dataclass default applies
        value = _coerce(s.type, raw, where, failures)
        if value is not None:
            kwargs[s.attr] = value
        elif s.required:
            kwargs[s.attr] = _empty(s.type)
    if strict:
        known = ", ".join(s.name for s in fields)
        for key in sorted(set(values) - {s.name for s in fields}):
            failures.append((f"{path}.{key}", f"is not a known key; allowed keys: {known}"))
    return cls(**kwargs)


def _empty(tp: Any) -> Any:
    tp = without_none(tp)
    origin = typing.get_origin(tp) or tp
    return {str: "", bool: False, int: 0, float: 0.0, list: [], dict: {}}.get(origin)


def from_wire(tp: Any, value: Any) -> Any:
    """A value the engine hands back (mappings of wire names) as the declared type `tp`."""
    failures: list[tuple[str, str]] = []
    return _coerce(tp, value, "", failures)


def wire(props: Props) -> dict[str, Any]:
    """`props` with wire names, ready for the engine."""
    return {s.name: to_wire(getattr(props, s.attr)) for s in specs(type(props))}


def to_wire(value: Any) -> Any:
    """A value with every `Struct` in it as a mapping of wire names (plain values pass unchanged).

    A Struct's unset fields (None) are left out, as the engine leaves out null map values.
    """
    if isinstance(value, Struct) and dataclasses.is_dataclass(value):
        fields = ((s.name, getattr(value, s.attr)) for s in specs(type(value)))
        return {name: to_wire(v) for name, v in fields if v is not None}
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------------
# Diff
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One changed property path (`tags["domain"]`, `aliases["Production"]`, `name`) and its kind."""

    path: str
    kind: str  # "add", "delete" or "update"
    replace: bool

    @property
    def top(self) -> str:
        """The top-level property the path is in."""
        return self.path.split("[")[0]


@dataclass(frozen=True)
class Diff:
    """What differs between the state and the new inputs, property path by property path."""

    changes: tuple[Change, ...] = ()
    delete_before_replace: bool = False

    @property
    def replaces(self) -> list[str]:
        return sorted({c.top for c in self.changes if c.replace})

    @property
    def changed(self) -> list[str]:
        return sorted({c.top for c in self.changes})


def _key_changes(path: str, old: Any, new: Any, replace: bool) -> list[Change]:
    """Per-key changes of two values: maps are compared key by key (nested maps too)."""
    if is_unknown(new):
        return [Change(path, "update", replace)]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[Change] = []
        for key in sorted(set(old) | set(new)):
            sub = f'{path}["{key}"]'  # Pulumi's property-path syntax for a map key
            if key not in old:
                found.append(Change(sub, "add", replace))
            elif key not in new:
                found.append(Change(sub, "delete", replace))
            else:
                found.extend(_key_changes(sub, old[key], new[key], replace))
        return found
    empty: tuple[Any, ...] = (None, {}, "", [])
    if old == new or (old in empty and new in empty):
        return []
    if old in empty:
        return [Change(path, "add", replace)]
    if new in empty:
        return [Change(path, "delete", replace)]
    return [Change(path, "update", replace)]


def diff_of(cls: type[Props], olds: Mapping[str, Any], news: Mapping[str, Any]) -> Diff:
    """The diff of a resource's state (`olds`) and its checked new inputs (`news`), by wire name."""
    changes: list[Change] = []
    for s in inputs_of(cls):
        if s.role.diffed:
            changes.extend(_key_changes(s.name, olds.get(s.name), news.get(s.name), s.role.replace))
    return Diff(tuple(changes))
