"""The message catalog's shape, as recorded in every segment header, and the check that
refuses a journal written by a newer catalog.

The shape maps each struct reachable from the catalog to its wire field names and
each enum to its values. It is derived from ``actors.messages`` itself, so there is
no catalog version number to forget to bump. A journal is readable when its shape
is contained in ours: the catalog only ever appends fields (with defaults), types
and enum values, so an older journal's shape is a subset. Anything in the journal's
shape that this build lacks means a newer build wrote it, and decoding would fail
(an unknown message type or enum value) or, worse, silently drop a field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from actors.messages import ALL_MESSAGES

__all__ = ["CATALOG_SHAPE", "CatalogShape", "catalog_shape", "unknown_to"]

CatalogShape = dict[str, tuple[str, ...]]


def catalog_shape(types: Iterable[type]) -> CatalogShape:
    """The shape of ``types`` and of every struct and enum reachable from their fields,
    sorted by name so that equal catalogs give byte-identical headers."""
    shape: CatalogShape = {}
    for info in msgspec.inspect.multi_type_info(tuple(types)):
        _visit(info, shape)
    return dict(sorted(shape.items()))


def _visit(info: msgspec.inspect.Type, shape: CatalogShape) -> None:
    match info:
        case msgspec.inspect.StructType(cls=cls, fields=fields, tag=tag):
            name = tag if isinstance(tag, str) else cls.__name__
            if name in shape:
                return
            shape[name] = tuple(field.encode_name for field in fields)
            for field in fields:
                _visit(field.type, shape)
        case msgspec.inspect.EnumType(cls=cls):
            shape[cls.__name__] = tuple(str(member.value) for member in cls)
        case msgspec.inspect.UnionType(types=types):
            for member in types:
                _visit(member, shape)
        case msgspec.inspect.TupleType(item_types=items):
            for item in items:
                _visit(item, shape)
        case msgspec.inspect.DictType(key_type=key, value_type=value):
            _visit(key, shape)
            _visit(value, shape)
        case msgspec.inspect.CollectionType(item_type=item):
            _visit(item, shape)
        case msgspec.inspect.Metadata(type=inner):
            _visit(inner, shape)


def unknown_to(
    ours: Mapping[str, tuple[str, ...]], theirs: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """What ``theirs`` has that ``ours`` lacks, as ``Type`` or ``Type.field`` names, sorted."""
    unknown: list[str] = []
    for name, members in sorted(theirs.items()):
        known = ours.get(name)
        if known is None:
            unknown.append(name)
        else:
            unknown.extend(f"{name}.{member}" for member in members if member not in known)
    return unknown


CATALOG_SHAPE: Final[CatalogShape] = catalog_shape(ALL_MESSAGES)
