"""Passages in prompts: the window of a chunk that fits the question, and the passage that holds a training answer."""

from __future__ import annotations

from tasks.train.retrieval import answer_offset, answer_passages, format_passages, passage_window

DOC = (
    "json.dumps(obj, *, skipkeys=False) Serialize obj to a JSON formatted str using this conversion table. "
    "If skipkeys is true then dict keys that are not of a basic type will be skipped instead of raising a "
    "TypeError. Reading files Use open() to read a file line by line; the file object is iterable and yields lines."
)


def test_a_short_passage_is_shown_whole():
    assert passage_window("one  two\nthree", 100, "anything") == "one two three"


def test_the_window_starts_where_the_question_words_are():
    window = passage_window(DOC, 100, "What does the guide say about Reading files?")
    assert window.startswith("... Reading files Use open()")
    assert len(window) <= 104


def test_with_no_question_word_in_the_text_the_window_is_the_head():
    window = passage_window(DOC, 60, "How do I sort a list?")
    assert window.startswith("json.dumps(obj") and window.endswith(" ...")


def test_a_tie_goes_to_the_earliest_window():
    assert passage_window(DOC, 60, "What does json.dumps do?").startswith("json.dumps(obj")


def test_an_anchor_starts_the_window_at_its_word():
    window = passage_window(DOC, 80, "unrelated", anchor=DOC.index("skipkeys is true") + 3)
    assert window.startswith("... skipkeys is true then dict keys")


def test_answer_offset_finds_the_opening_words_across_punctuation_and_case():
    assert answer_offset(DOC, "if skipkeys is TRUE, then dict keys that are not") == DOC.index("If skipkeys")
    assert answer_offset(DOC, "Serialize a Python object to YAML") is None
    assert answer_offset(DOC, "") is None
    # Whole words only: "true" must not match inside "untrue".
    assert answer_offset("it is untrue then", "true then") is None


def test_the_hit_holding_the_answer_is_shown_first_and_anchored_where_the_question_window_misses_it():
    hits = [{"text": "Unrelated text about sockets.", "title": "socket"}, {"text": DOC, "title": "json"}]
    answer = "If skipkeys is true then dict keys that are not of a basic type"
    shown = answer_passages(hits, answer, 1, "What does json.dumps do?", 100)
    assert [h["title"] for h in shown] == ["json"] and shown[0]["holds_answer"]
    context = format_passages(shown, 100, "What does json.dumps do?")
    assert context.startswith("[1] json: ... If skipkeys is true then dict keys")


def test_the_hit_holding_the_answer_keeps_the_serving_window_when_it_shows_the_answer():
    hits = [{"text": DOC, "title": "json"}]
    question = "What does the guide say about Reading files?"
    shown = answer_passages(hits, "Use open() to read a file line by line", 1, question, 100)
    assert "anchor" not in shown[0] and shown[0]["holds_answer"]
    assert format_passages(shown, 100, question) == format_passages(hits, 100, question)


def test_without_a_hit_holding_the_answer_the_retrieved_order_stays():
    hits = [{"text": "a", "title": "x"}, {"text": "b", "title": "y"}, {"text": "c", "title": "z"}]
    shown = answer_passages(hits, "nothing here matches at all", 2)
    assert [h["title"] for h in shown] == ["x", "y"] and not any("holds_answer" in h for h in shown)
    assert hits[0] == {"text": "a", "title": "x"}  # the caller's hits are not changed


def test_format_passages_numbers_each_window():
    hits = [{"text": DOC, "title": "json"}, {"text": "short one", "title": ""}]
    lines = format_passages(hits, 100, "What does the guide say about Reading files?").splitlines()
    assert lines[0].startswith("[1] json: ... Reading files") and lines[1] == "[2] short one"
