"""Two pools of prompts for drift tests and the drift benchmark, generated here, nothing downloaded.

- In-domain: questions a Python-documentation assistant gets, built from the interpreter's own docs:
  the topic names of `pydoc_data.topics` and the docstrings of the standard library's public functions,
  classes and methods, read from source with `ast` (no module is imported).
- Out-of-domain: cooking, travel and sports questions from templates.
"""

from __future__ import annotations

import ast
import functools
import itertools
import random
import re
import sysconfig
from pathlib import Path
from pydoc_data.topics import topics

# Packages that are tests, demos, GUIs or installers: their docstrings are not what users ask about.
_SKIP = re.compile(r"^(_|test|idlelib|tkinter|turtledemo|lib2to3|ensurepip|site-packages|distutils|pydoc_data)")

_API_TEMPLATES = (
    "What does {qual}() do in Python?",
    "How do I use {qual}? The docs say: {summary}",
    "In the {mod} module, which call should I use to {task}?",
    "Can you show a short example of {qual} from the {mod} module?",
    "What arguments does {qual} expect, and what can it raise?",
    'Python docs: "{summary}" Which part of {mod} is this about?',
)
_TOPIC_TEMPLATES = (
    "How does {topic} work in Python?",
    "Explain Python's {topic} rules with an example.",
    "Where does the language reference describe {topic}?",
)


@functools.lru_cache(maxsize=1)
def documented_api() -> tuple[tuple[str, str, str], ...]:
    """(module, qualified name, first sentence of its docstring) for the standard library's public API."""
    root = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(root.glob("*.py")) + sorted(root.glob("*/__init__.py")) + sorted(root.glob("*/[a-z]*.py"))
    entries = []
    for path in sources:
        relative = path.relative_to(root).with_suffix("")
        if any(_SKIP.match(part) for part in relative.parts if part != "__init__"):
            continue
        module = ".".join(p for p in relative.parts if p != "__init__")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            entries.append((module, f"{module}.{node.name}", ast.get_docstring(node)))
            if isinstance(node, ast.ClassDef):
                entries += [
                    (module, f"{module}.{node.name}.{item.name}", ast.get_docstring(item))
                    for item in node.body
                    if isinstance(item, ast.FunctionDef) and not item.name.startswith("_")
                ]
    return tuple((mod, qual, summary) for mod, qual, doc in entries if (summary := _first_sentence(doc)))


def _first_sentence(doc: str | None) -> str | None:
    if not doc:
        return None
    text = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = re.split(r"(?<=[.!?])\s", text)[0].rstrip(".")
    if not 15 <= len(sentence) <= 140 or not sentence[0].isalpha() or ">>>" in sentence:
        return None
    return sentence


def python_questions(limit: int | None = None, *, seed: int = 0, templates_per_item: int = 1) -> list[str]:
    """Distinct in-domain questions, shuffled by `seed`; each documented name yields up to `templates_per_item`."""
    rng = random.Random(seed)
    questions = set()
    for topic in topics:
        name = topic.replace("-", " ")
        chosen = rng.sample(_TOPIC_TEMPLATES, min(templates_per_item, len(_TOPIC_TEMPLATES)))
        questions.update(t.format(topic=name) for t in chosen)
    for mod, qual, summary in documented_api():
        task = summary[0].lower() + summary[1:]
        for template in rng.sample(_API_TEMPLATES, min(templates_per_item, len(_API_TEMPLATES))):
            questions.add(template.format(mod=mod, qual=qual, summary=summary + ".", task=task))
    ordered = sorted(questions)
    rng.shuffle(ordered)
    return ordered[:limit]


def python_answers(limit: int | None = None, *, seed: int = 0) -> list[str]:
    """Answer-like texts (docstring first sentences expanded into a sentence or two), for output statistics."""
    rng = random.Random(seed)
    answers = [
        f"{qual} - {summary}."
        + (f" It lives in the {mod} module; see its documentation for details." if rng.random() < 0.5 else "")
        for mod, qual, summary in documented_api()
    ]
    rng.shuffle(answers)
    return answers[:limit]


_DISHES = (
    "banana bread",
    "lasagna",
    "risotto",
    "roast chicken",
    "sourdough bread",
    "pad thai",
    "beef stew",
    "chocolate chip cookies",
    "pancakes",
    "paella",
    "ramen",
    "guacamole",
    "apple pie",
    "tiramisu",
    "falafel",
    "chili con carne",
    "spaghetti carbonara",
    "shakshuka",
)
_INGREDIENTS = ("butter", "eggs", "heavy cream", "white wine", "buttermilk", "fresh basil")
_COOKING = (
    "What is a good recipe for {dish}?",
    "How do I keep {dish} from turning out too dry?",
    "Can I freeze leftover {dish}, and for how long?",
    "What wine goes well with {dish}?",
    "What can I use instead of {ingredient} when making {dish}?",
)
_PLACES = (
    "Lisbon",
    "Kyoto",
    "Patagonia",
    "Iceland",
    "Marrakech",
    "Vancouver",
    "the Amalfi Coast",
    "Bali",
    "Prague",
    "Cape Town",
    "Yellowstone",
    "Istanbul",
    "Hanoi",
    "the Scottish Highlands",
    "Buenos Aires",
)
_TRAVEL = (
    "What is the best time of year to visit {place}?",
    "How many days do I need to see {place}?",
    "Is {place} safe for solo travellers?",
    "What should I pack for a week in {place}?",
    "How do I get around {place} without a car?",
    "What local food should I try in {place}?",
)
_SPORTS = (
    "tennis",
    "basketball",
    "marathon running",
    "cycling",
    "swimming",
    "football",
    "golf",
    "rock climbing",
    "volleyball",
    "skiing",
    "baseball",
    "rugby",
)
_SPORT = (
    "How do I build endurance for {sport}?",
    "What are the basic rules of {sport}?",
    "How often should a beginner train for {sport}?",
    "What equipment do I need to start {sport}?",
    "Who are the greatest {sport} athletes of all time?",
    "How do I avoid injuries in {sport}?",
)


def everyday_questions(limit: int | None = None, *, seed: int = 0) -> list[str]:
    """Distinct out-of-domain questions (cooking, travel, sports), shuffled by `seed`."""
    questions = {t.format(dish=d, ingredient=i) for t, d, i in itertools.product(_COOKING[:4], _DISHES, ("",))}
    questions |= {_COOKING[4].format(dish=d, ingredient=i) for d, i in itertools.product(_DISHES, _INGREDIENTS)}
    questions |= {t.format(place=p) for t, p in itertools.product(_TRAVEL, _PLACES)}
    questions |= {t.format(sport=s) for t, s in itertools.product(_SPORT, _SPORTS)}
    ordered = sorted(questions)
    random.Random(seed).shuffle(ordered)
    return ordered[:limit]


REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I cannot help with that.",
    "As an AI language model, I can only answer questions about Python.",
    "",
)
