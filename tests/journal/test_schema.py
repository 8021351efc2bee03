"""The catalog's shape: complete, deterministic, and a subset test that spots newer builds."""

from __future__ import annotations

from actors.messages import ALL_MESSAGES
from journal.schema import CATALOG_SHAPE, catalog_shape, unknown_to


def test_shape_holds_every_message_nested_struct_and_enum() -> None:
    for cls in ALL_MESSAGES:
        assert "ts" in CATALOG_SHAPE[cls.__name__]
    assert CATALOG_SHAPE["OrderTicket"][:3] == ("symbol", "side", "quantity")
    assert CATALOG_SHAPE["Drift"] == ("kind", "key", "ours", "venue")
    assert CATALOG_SHAPE["Side"] == ("BUY", "SELL")
    assert "PARTIALLY_FILLED" in CATALOG_SHAPE["OrderStatus"]


def test_shape_is_sorted_so_equal_catalogs_write_equal_headers() -> None:
    assert list(CATALOG_SHAPE) == sorted(CATALOG_SHAPE)
    assert catalog_shape(reversed(ALL_MESSAGES)) == CATALOG_SHAPE


def test_an_older_catalog_is_contained_in_ours() -> None:
    older = {name: members[:-1] for name, members in CATALOG_SHAPE.items() if name != "Fill"}
    assert unknown_to(CATALOG_SHAPE, older) == []


def test_new_types_fields_and_enum_values_are_named() -> None:
    newer = {
        **CATALOG_SHAPE,
        "Fill": (*CATALOG_SHAPE["Fill"], "rebate"),
        "Side": (*CATALOG_SHAPE["Side"], "SHORT"),
        "Liquidation": ("symbol", "ts"),
    }
    assert unknown_to(CATALOG_SHAPE, newer) == ["Fill.rebate", "Liquidation", "Side.SHORT"]
