"""Words out of news copy, for the related-article scorer."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

# Common English function words: they tie every article to every other one.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves said says say mr mrs ms one two three new year years may might must
    shall us many much well however told since around like get got make made""".split()  # noqa: SIM905
)
TITLE_WEIGHT = 2
TAG_WEIGHT = 4
MAX_TERM_LENGTH = 40
_WORD = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    terms = (_term(word) for word in _WORD.findall(text.lower()))
    return [term for term in terms if term is not None]


# Words already turned into terms: news copy repeats its words, across articles too, and a
# bulk index turns hundreds of thousands of articles into terms.
@lru_cache(maxsize=1 << 17)
def _term(word: str) -> str | None:
    """The term a lower-cased word counts as, or None for a word that is not one."""
    term = _stem(word)
    if len(term) <= 1 or len(term) > MAX_TERM_LENGTH or term.isdigit() or term in STOPWORDS:
        return None
    return term


def _stem(word: str) -> str:
    """Folds plurals only: enough to join "election" and "elections" without a stemmer's noise."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def term_counts(title: str, body_text: str, tags: Iterable[str]) -> Counter[str]:
    """Bag of terms: the headline counts more than the body; tags are terms of their own."""
    counts: Counter[str] = Counter()
    # Each distinct word turned into its term once: a body repeats most of its words.
    for word, times in Counter(_WORD.findall(body_text.lower())).items():
        if (term := _term(word)) is not None:
            counts[term] += times
    for word in tokens(title):
        counts[word] += TITLE_WEIGHT
    for tag in tags:
        counts[f"#{tag}"] += TAG_WEIGHT
    return counts
