"""Question/answer pairs derived from documents: short answers a reader can check against the text.

A folder of a user's own documents, with no pairs at all, is enough to fine-tune on: every document
gives a few questions whose answers are sentences of the document itself, so ROUGE-L and exact match
against them mean something, and the passage that answers each question is in the index.

Rules, in this order, at most ``max_pairs`` per document:

    api reference   the text opens with the title's signature (``json.dumps(obj, *, ...)``):
                    "What is the signature of `json.dumps`?" → the signature line;
                    "What does `json.dumps` do?" → the first sentences after it
    first section   "What is <the document's first heading, or its title>?" → the first sentences
    sections        "What does <title> say about <heading>?" → the section's first sentences
                    (Markdown ``#`` headings and underlined headings: ``===``, ``---``, ``***``, ``~~~``)
    definitions     "**Term**: text", "Term -- text" at the start of a line, and sentences that open
                    with a short subject and "is a/an/the" → "What is <term>?" → that sentence

Answers are whole sentences, from the first one until about ``answer_chars`` characters (a first
sentence longer than that is cut at a word boundary). Code blocks, tables and list markers are left
out of answers. The same document always gives the same pairs, in the same order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A heading underlined with one repeated character (reStructuredText, pydoc topics, setext Markdown).
_UNDERLINE = re.compile(r"^([=\-*~^#\"'`+])\1{2,}\s*$")
_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
# A sentence ends at . ! ? (not inside "e.g." or a dotted name) before a space and a capital, a quote or a backtick.
_SENTENCE_END = re.compile(r"(?<![A-Za-z]\.[a-z])(?<!\be\.g)(?<!\bi\.e)(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[*])")
_BOLD_TERM = re.compile(r"^\s*(?:[-*+]\s+)?\*\*([^*\n]{2,60})\*\*\s*(?::|—|–|-{1,2})\s*(.+)$")
_DASH_TERM = re.compile(r"^\s*(?:[-*+]\s+)?([A-Za-z][\w .+#/-]{1,50}?)\s+(?:—|–|--)\s+(.+)$")
_IS_A = re.compile(r"^((?:The |A |An )?[`\"']?[A-Z][\w.+#/-]*(?: [\w.+#/-]+){0,3}[`\"']?) (?:is|are) (?:a|an|the) ")
_INLINE_MARKUP = re.compile(r"\*\*|__|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_WORD = re.compile(r"\w+")
_PRONOUNS = frozenset({"it", "this", "that", "these", "those", "there", "here", "they", "which", "what", "such"})
_VERSION_NOTE = re.compile(r"^(New|Changed|Deprecated|Added|Removed) in (version|Python) ", re.IGNORECASE)


@dataclass(frozen=True)
class DerivedPair:
    prompt: str
    response: str
    rule: str  # which rule made it: api_signature, api_summary, first_section, section, definition


@dataclass(frozen=True)
class Section:
    heading: str
    body: str


def derive_pairs(title: str, text: str, *, max_pairs: int = 4, answer_chars: int = 240) -> list[DerivedPair]:
    """The question/answer pairs of one document (see the module docstring for the rules)."""
    title = " ".join(title.split())
    pairs: list[DerivedPair] = []
    seen: set[str] = set()

    def add(prompt: str, response: str, rule: str) -> None:
        keys = (" ".join(prompt.lower().split()), " ".join(response.lower().split()))
        if len(pairs) < max_pairs and _answer_like(response) and not seen.intersection(keys):
            seen.update(keys)
            pairs.append(DerivedPair(prompt, response, rule))

    api = _api_reference(title, text)
    if api is not None:
        signature, rest = api
        if "(" in signature:
            add(f"What is the signature of `{title}`?", f"`{signature}`", "api_signature")
        add(f"What does `{title}` do?", first_sentences(rest, answer_chars), "api_summary")
        return pairs

    sections = split_sections(text)
    for index, section in enumerate(sections):
        answer = first_sentences(section.body, answer_chars)
        if index == 0:
            subject = section.heading or title
            if subject and _short(subject):
                add(_what_is(subject), answer, "first_section")
        elif section.heading and _short(section.heading):
            add(
                f"What does {_quoted(title) if title else 'the document'} say about {section.heading}?",
                answer,
                "section",
            )
    for term, sentence in definitions(text, answer_chars):
        add(_what_is(term), sentence, "definition")
    return pairs


def _api_reference(title: str, text: str) -> tuple[str, str] | None:
    """(signature line, the rest) when the text opens with the title's own signature, else None."""
    if not title or " " in title:
        return None
    first, _, rest = text.strip().partition("\n")
    first = first.strip()
    name = first.removeprefix("class ")
    if name == title or (name.startswith(title + "(") and name.endswith(")")):
        # A class line shows its bases, not a call signature: no signature question for it.
        return (first if first == name else ""), rest
    return None


def split_sections(text: str) -> list[Section]:
    """Sections under Markdown or underlined headings; text before the first heading is a section without one."""
    lines = text.splitlines()
    sections: list[Section] = []
    heading, body, in_fence = "", [], False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence:
            atx = _ATX.match(line)
            underlined = (
                i + 1 < len(lines)
                and line.strip()
                and _UNDERLINE.match(lines[i + 1])
                and len(lines[i + 1].strip()) >= len(line.strip()) * 0.6
            )
            if atx or underlined:
                if heading or "".join(body).strip():
                    sections.append(Section(heading, "\n".join(body)))
                heading = _clean_inline(atx.group(2) if atx else line.strip())
                body = []
                i += 1 if atx else 2
                continue
        body.append(line)
        i += 1
    if heading or "".join(body).strip():
        sections.append(Section(heading, "\n".join(body)))
    return sections


def prose(body: str) -> str:
    """The body's running text: code blocks, indented code, tables and headings left out, lines joined."""
    kept: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            kept.append("")
            continue
        stripped = line.strip()
        if (
            in_fence
            or line.startswith(("    ", "\t"))
            or stripped.startswith(("|", ">>>", "...", "$ "))
            or _UNDERLINE.match(line)
            or _ATX.match(line)
        ):
            kept.append("")
            continue
        kept.append(_LIST_MARKER.sub("", stripped))
    paragraphs = [" ".join(p.split()) for p in "\n".join(kept).split("\n\n")]
    return "\n\n".join(_clean_inline(p) for p in paragraphs if p)


def first_sentences(body: str, limit: int = 240) -> str:
    """Whole sentences of the first paragraph of running text, up to about `limit` characters."""
    text = prose(body)
    if not text:
        return ""
    paragraph = text.split("\n\n", 1)[0]
    sentences = [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]
    answer = ""
    for sentence in sentences:
        if answer and len(answer) + 1 + len(sentence) > limit:
            break
        answer = f"{answer} {sentence}".strip()
        if len(answer) >= 40:
            break
    if len(answer) > limit:
        cut = answer.rfind(" ", 0, limit)
        answer = answer[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + " ..."
    return answer


def definitions(text: str, limit: int = 240) -> list[tuple[str, str]]:
    """(term, defining sentence) pairs: bold or dashed terms at a line start, and "X is a ..." sentences."""
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _BOLD_TERM.match(line) or _DASH_TERM.match(line)
        if match:
            term, rest = match.group(1).strip(), first_sentences(match.group(2), limit)
            if _short(term, 6) and rest:
                found.append((term, f"{term}: {rest}" if not rest.lower().startswith(term.lower()) else rest))
    for paragraph in prose(text).split("\n\n"):
        for sentence in _SENTENCE_END.split(paragraph):
            match = _IS_A.match(sentence.strip())
            if match and len(sentence) <= limit:
                term = re.sub(r"^(The|A|An) ", "", match.group(1)).strip("`\"'")
                if term.split()[0].lower() not in _PRONOUNS:
                    found.append((term, sentence.strip()))
    return found


def _answer_like(text: str) -> bool:
    """Running text worth learning as an answer: a few words, not a grammar rule or a version note."""
    return len(text) >= 12 and len(_WORD.findall(text)) >= 3 and "::=" not in text and not _VERSION_NOTE.match(text)


def _what_is(subject: str) -> str:
    """ "What is X?" with an article lower-cased and "are" for a plural noun phrase."""
    subject = re.sub(r"^(The|A|An) ", lambda m: m.group(1).lower() + " ", subject)
    last = subject.split()[-1] if subject.split() else ""
    plural = " " in subject and last.endswith("s") and not last.endswith(("ss", "us", "is"))
    return f"What {'are' if plural else 'is'} {_quoted(subject)}?"


def _short(phrase: str, words: int = 8) -> bool:
    return 0 < len(_WORD.findall(phrase)) <= words and len(phrase) <= 80


def _quoted(subject: str) -> str:
    """A code-like subject (no spaces, dots or underscores in it) in backticks, prose as it is."""
    if " " not in subject and re.search(r"[._()]|^[a-z]", subject):
        return f"`{subject}`"
    return subject


def _clean_inline(text: str) -> str:
    return _INLINE_MARKUP.sub("", _LINK.sub(r"\1", text)).strip()
