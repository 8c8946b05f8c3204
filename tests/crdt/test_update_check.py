"""update_check: every hostile shape is refused cheaply; every real update passes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from devtools.yjs_attacks import (
    any_bomb,
    concurrent_inserts,
    huge_delete_set,
    many_clients,
    type_chain,
)
from draftroom.crdt import update_check
from draftroom.crdt.update_check import DepthIndex, UpdateRefused, check_update


def _updates(edit: Callable[[Doc], None]) -> list[bytes]:
    doc: Doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    edit(doc)
    return updates


def _rich(doc: Doc) -> None:
    text = doc.get("text", type=Text)
    fragment = doc.get("default", type=XmlFragment)
    with doc.transaction():
        text += "héllo wörld 😀 "
    with doc.transaction():
        text.insert(3, "XYZ")
    with doc.transaction():
        item = XmlElement("listItem", {}, [XmlElement("paragraph", {}, [XmlText("hi 😀")])])
        fragment.children.append(XmlElement("bulletList", {"start": 2}, [item]))
    with doc.transaction():
        doc.get("m", type=Map)["k"] = {"a": [1, 2.5, {"b": None}], "big": 2**40, "neg": -7}
    with doc.transaction():
        doc.get("arr", type=Array).append(Array([Map({"x": Text("deep")})]))
    with doc.transaction():
        del text[0:4]


def test_real_updates_and_their_snapshot_pass() -> None:
    index = DepthIndex()
    updates = _updates(_rich)
    for update in updates:
        index.record(check_update(update, index))
    assert index.max_level == 4  # bulletList > listItem > paragraph > XmlText > its text
    doc: Doc = Doc()
    for update in updates:
        doc.apply_update(update)
    snapshot_index = DepthIndex()
    checked = check_update(doc.get_update(), snapshot_index)
    assert checked.max_depth == 4


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (any_bomb(30_000), "value nested deeper than"),
        (type_chain(update_check.MAX_TYPE_DEPTH + 1), "types nested deeper than"),
        (type_chain(100_000), "structs"),
        (many_clients(10_000), "clients"),
        (concurrent_inserts(10_000, client=6), "placed among other clients"),
        (huge_delete_set(update_check.MAX_DELETE_RANGES + 1), "ranges"),
    ],
    ids=["any bomb", "type chain", "huge chain", "many clients", "concurrent", "deletes"],
)
def test_hostile_shapes_are_refused_fast(update: bytes, reason: str) -> None:
    started = time.perf_counter()
    with pytest.raises(UpdateRefused, match=reason) as refused:
        check_update(update, DepthIndex())
    assert not refused.value.malformed
    assert time.perf_counter() - started < 0.1


def test_the_bounds_themselves_pass() -> None:
    index = DepthIndex()
    checked = check_update(type_chain(update_check.MAX_TYPE_DEPTH), index)
    assert checked.max_depth == update_check.MAX_TYPE_DEPTH
    check_update(any_bomb(update_check.MAX_ANY_DEPTH - 1), index)
    check_update(concurrent_inserts(update_check.MAX_UNANCHORED, client=6), index)


def test_nesting_built_across_updates_is_refused() -> None:
    index = DepthIndex()
    step = 30
    parent = None
    for part in range(update_check.MAX_TYPE_DEPTH // step):
        update = type_chain(step, client=1, clock=part * step, parent=parent)
        index.record(check_update(update, index))
        parent = (1, part * step + step - 1)
    with pytest.raises(UpdateRefused, match="types nested deeper than"):
        check_update(type_chain(step, client=1, clock=9000, parent=parent), index)


def test_references_to_unknown_content_are_refused_unless_trusted() -> None:
    hanging = type_chain(3, client=2, parent=(99, 5))
    with pytest.raises(UpdateRefused, match="does not have"):
        check_update(hanging, DepthIndex())
    assert check_update(hanging, DepthIndex(), trusted=True).max_depth == 4  # under a level-0 type


@pytest.mark.parametrize(
    "update",
    [b"", b"\x01", b"\x01\x01\x05\x00\x04hello", b"\x01\x01\x01\x00\x7f", b"\xff" * 20,
     any_bomb(5)[:-3]],
)  # fmt: skip
def test_garbage_is_malformed(update: bytes) -> None:
    with pytest.raises(UpdateRefused) as refused:
        check_update(update, DepthIndex())
    assert refused.value.malformed


def test_a_keystroke_costs_microseconds() -> None:
    updates = _updates(lambda doc: [doc.get("t", type=Text).insert(i, "a") for i in range(2000)])
    index = DepthIndex()
    started = time.perf_counter()
    for update in updates:
        index.record(check_update(update, index))
    per_update = (time.perf_counter() - started) / len(updates)
    assert per_update < 200e-6, per_update  # ~10-20 µs measured; generous under load
    assert len(index.runs) == 1 and len(next(iter(index.runs.values()))[0]) == 1


def test_a_pasted_chapter_of_hundreds_of_paragraphs_is_accepted() -> None:
    # Each new paragraph follows the previous one and its text starts inside it: all
    # anchored to the paste's own items, so none counts against MAX_UNANCHORED (a
    # 440-block paste was refused when every item not continuing its own text did).
    from export.builders import h, make_doc, p

    blocks = [b for n in range(40) for b in (h(1, f"Part {n}"), *[p("word " * 100)] * 10)]
    update = make_doc(*blocks).get_update()
    check_update(update, DepthIndex())
