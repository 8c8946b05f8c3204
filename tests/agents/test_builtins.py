"""The offline agents on real documents: plain Y.Text and TipTap rich text."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from draftroom.agents.base import ANONYMOUS, AgentContext, Selection
from draftroom.agents.builtin.outline import OutlineAgent
from draftroom.agents.builtin.readability import ReadabilityAgent
from draftroom.agents.builtin.style import StyleAgent
from draftroom.agents.builtin.style_checks import lint
from draftroom.agents.params import normalize
from draftroom.document.text import DocumentText, from_plain, read_text


def tiptap(*blocks: tuple[str, str, int]) -> Doc:
    doc: Doc = Doc()
    fragment = doc.get("default", type=XmlFragment)
    for tag, text, level in blocks:
        attrs = {"level": level} if tag == "heading" else {}
        fragment.children.append(XmlElement(tag, attrs, [XmlText(text)]))
    return doc


async def run(agent: Any, document: DocumentText, **kwargs: Any) -> list[dict[str, Any]]:
    """As the service runs an agent: compute from the cache parameters, then view
    the result with every parameter the requester gave."""
    params = normalize(agent.params_schema, kwargs.pop("params", {}))
    view = AgentContext("doc", document, params, ANONYMOUS, **kwargs)
    ctx = AgentContext("doc", document, agent.cache_params(params), ANONYMOUS, **kwargs)
    return [chunk async for chunk in agent.view(agent.run(ctx), view)]


def test_plain_text_keeps_paragraph_offsets() -> None:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, "Première ligne.\nSecond line here.")
    document = read_text(doc)
    assert not document.rich
    assert [document.line_text(line) for line in document.lines] == [
        "Première ligne.",
        "Second line here.",
    ]
    assert document.lines[1].start == len("Première ligne.\n")


def test_rich_text_flattens_with_heading_levels() -> None:
    document = read_text(
        tiptap(("heading", "Chapter One", 1), ("paragraph", "It began.", 0), ("heading", "A", 2))
    )
    assert document.rich
    assert document.text == "Chapter One\nIt began.\nA"
    assert [line.heading_level for line in document.lines] == [1, 0, 2]


async def test_style_issues_point_at_the_offending_words() -> None:
    text = "Intro line.\nIt was a very unique idea, and we will utilize the the plan."
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, text)
    chunks = await run(StyleAgent(), read_text(doc))
    issues = [i for c in chunks for i in c.get("issues", [])]
    found = {(i["check"], text[i["start"] : i["end"]]) for i in issues}
    assert ("uncomparables", "very unique") in found
    assert ("misc.greylist", "utilize") in found
    assert ("lexical_illusions", "the the") in found
    assert chunks[-1] == {"summary": {"issues": len(issues), "shown": len(issues)}}


async def test_style_offsets_are_document_offsets_for_a_selection() -> None:
    doc: Doc = Doc()
    text = "Fine prose here. Then a very unique sentence."
    doc.get("text", type=Text).insert(0, text)
    start = text.index("Then")
    chunks = await run(StyleAgent(), read_text(doc), selection=Selection(start, len(text)))
    issue = next(i for c in chunks for i in c.get("issues", []) if i["check"] == "uncomparables")
    assert text[issue["start"] : issue["end"]] == "very unique"


def test_style_rules_reimplemented_agree_with_proselint_on_samples() -> None:
    # The three rules rewritten for speed must still fire where proselint's do.
    assert [i.check for i in lint("He had a more perfect plan.")] == []  # an exception
    assert [i.replacement for i in lint("Two hippopotami swam.")] == ["hippopotamuses"]
    assert [i.check for i in lint("Whatever he had had was gone.")] == []
    assert "uncomparables" not in {i.check for i in lint("It was at least possible.")}


async def test_readability_per_paragraph_and_overall() -> None:
    doc: Doc = Doc()
    easy = "The cat sat. The dog ran. We had fun."
    hard = (
        "Notwithstanding considerable institutional heterogeneity, comprehensive "
        "organizational transformation necessitates multidimensional evaluation."
    )
    doc.get("text", type=Text).insert(0, f"{easy}\n\n{hard}")
    chunks = await run(ReadabilityAgent(), read_text(doc))
    paragraphs = chunks[0]["paragraphs"]
    assert [p["paragraph"] for p in paragraphs] == [0, 2]  # the empty line is skipped
    assert paragraphs[0]["flesch_reading_ease"] > paragraphs[1]["flesch_reading_ease"]
    assert paragraphs[0]["flesch_kincaid_grade"] < paragraphs[1]["flesch_kincaid_grade"]
    overall = chunks[-1]["overall"]
    assert overall["words"] == 9 + 10 and overall["sentences"] == 4


async def test_reading_minutes_of_a_thousand_word_text() -> None:
    # Demberg & Keller's rate, the one textstat uses: 14.69 ms per non-space character.
    text = " ".join(["word"] * 1000) + "."
    expected = len(text.replace(" ", "")) * 14.69 / 1000 / 60  # 0.98 minutes
    chunks = await run(ReadabilityAgent(), from_plain(text))
    assert chunks[-1]["overall"]["reading_minutes"] == round(expected, 1) == 1.0


async def test_outline_counts_words_per_section() -> None:
    document = read_text(
        tiptap(
            ("heading", "Part One", 1),
            ("paragraph", "one two three", 0),
            ("heading", "Chapter 1", 2),
            ("paragraph", "four five", 0),
            ("heading", "Part Two", 1),
            ("paragraph", "six", 0),
        )
    )
    chunks = await run(OutlineAgent(), document)
    headings = chunks[0]["headings"]
    assert [(h["level"], h["title"], h["words"], h["section_words"]) for h in headings] == [
        (1, "Part One", 3, 5),
        (2, "Chapter 1", 2, 2),
        (1, "Part Two", 1, 1),
    ]
    assert chunks[-1] == {"total_words": 6, "headings_count": 3}
