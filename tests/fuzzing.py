"""Hypothesis strategies shared by the fuzz tests: any JSON, huge strings, deep nesting, and real documents
with values replaced anywhere in them."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

DEEP = "@DEEP@"  # a placeholder value replaced by deep nesting once the document is serialized

# Every code point, lone surrogates included: JSON can escape them, UTF-8 cannot hold them.
any_character = st.characters(exclude_categories=())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(any_character, max_size=40),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(any_character, max_size=12), children, max_size=4)),
    max_leaves=20)
huge_strings = st.builds(lambda char, size: char * size, st.characters(), st.integers(1_000, 400_000))
replacements = json_values | huge_strings | st.just(DEEP)


@st.composite
def mutated(draw: st.DrawFn, documents: list[Any]) -> Any:
    """One of `documents` with one to three values, anywhere in it, replaced by something else."""
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = document
        while True:
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
                node = node[key]
                continue
            node[key] = draw(replacements)
            break
    return document


def serialized(document: Any, *, depth: int = 0) -> str:
    """Compact JSON, with any DEEP placeholder replaced by `depth` nested arrays."""
    return json.dumps(document, separators=(",", ":")).replace(json.dumps(DEEP), "[" * depth + "]" * depth)
