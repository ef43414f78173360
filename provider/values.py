"""Between the engine's property values and plain Python values.

The provider works on plain values (str, bool, float, list, dict, None). Unknown values keep the
SDK's `Computed` marker, so checks can tell "not known yet" from "empty". Secrets are unwrapped on
the way in; on the way out, the declaration says which properties are secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue


def plain(value: PropertyValue) -> Any:
    """The plain value of a property value (secrets unwrapped, unknowns kept as `Computed`)."""
    inner = value.value
    if isinstance(inner, Computed):
        return inner
    if isinstance(inner, Mapping):
        return {k: plain(v) for k, v in inner.items()}
    if isinstance(inner, tuple | list):
        return [plain(v) for v in inner]
    return inner


def plain_map(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


def property_value(value: Any, *, secret: bool = False) -> PropertyValue:
    """A property value of a plain value; ints become numbers, as on the wire."""
    if isinstance(value, PropertyValue):
        return value.with_secret(secret) if secret else value
    if isinstance(value, Computed):
        return PropertyValue(value, is_secret=secret)
    if isinstance(value, Mapping):
        return PropertyValue({str(k): property_value(v) for k, v in value.items()}, is_secret=secret)
    if isinstance(value, list | tuple):
        return PropertyValue([property_value(v) for v in value], is_secret=secret)
    if isinstance(value, int) and not isinstance(value, bool):
        return PropertyValue(float(value), is_secret=secret)
    return PropertyValue(value, is_secret=secret)


def property_map(values: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, PropertyValue]:
    """Property values of plain values; the keys in `secrets` are marked secret."""
    secret = set(secrets)
    return {k: property_value(v, secret=k in secret) for k, v in values.items()}
