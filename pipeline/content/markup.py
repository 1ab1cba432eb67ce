"""Limits on the shape of article markup, checked in one linear pass before anything parses it.

An HTML5 parser's work grows with the depth of its stack of open elements (block start tags
and end tags walk it) and with the formatting elements it reopens in every new block: a body
nested 20,000 deep, or one leaving hundreds of `<b>` open, makes sanitising quadratic and its
output hundreds of times its size. These limits are far above what an article needs.

The pass reads tags as an HTML5 tokenizer does (attribute quoting, comments, raw text), and
keeps a stack that closes elements only where the parser surely closes them too, so the depth
it finds is never less than the parser's: markup with unclosed elements in odd places may
count deeper than it is, never shallower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_NESTING_DEPTH = 100
MAX_ELEMENTS = 20_000
MAX_ATTRIBUTES = 50  # on one element: the parser compares each with every other
MAX_OPEN_FORMATTING = 8  # b, i, a, strong, em, code, …: the parser reopens them per block


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Elements the HTML5 tree builder treats specially (https://html.spec.whatwg.org/#parsing).
VOID = _names(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param"
    " source track wbr"
)
FORMATTING = _names("a b big code em font i nobr s small strike strong tt u")
IMPLIED_END = _names("dd dt li optgroup option p rb rp rt rtc")
HEADINGS = _names("h1 h2 h3 h4 h5 h6")
CLOSES_P = HEADINGS | _names(
    "address article aside blockquote center details dialog dir div dl dd dt fieldset"
    " figcaption figure footer form header hgroup hr li listing main menu nav ol p plaintext"
    " pre search section summary table ul xmp"
)
# End tags the parser closes through any element open above them (within a scope); every
# other end tag stops at the first element of the parser's "special" category.
SCOPED_ENDS = HEADINGS | _names(
    "address applet article aside blockquote button center dd details dialog dir div dl dt"
    " fieldset figcaption figure footer form header hgroup li listing main marquee menu nav"
    " object ol p pre search section summary ul"
)
IMPLIED_END_NOT_SPECIAL = _names("optgroup option rb rp rt rtc")
CELLS = frozenset({"td", "th", "caption"})
ROW_GROUPS = frozenset({"tbody", "thead", "tfoot"})
TABLE_PARTS = CELLS | ROW_GROUPS | frozenset({"tr", "colgroup", "table"})
RAW_TEXT = _names("iframe noembed noframes noscript script style textarea title xmp plaintext")
FOREIGN = frozenset({"svg", "math"})

_NAME = re.compile(r"[^\t\n\f\r />]*")
_SEPARATORS = re.compile(r"[\t\n\f\r /]*")
_ATTRIBUTE_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_EQUALS = re.compile(r"[\t\n\f\r ]*=[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_START_TAG_NAME = re.compile(r"<([A-Za-z][^\t\n\f\r />]*)")


class MarkupTooComplex(ValueError):
    """Markup over one of the limits; the message names the limit."""


@dataclass
class _Tag:
    name: str
    end: int  # index just past its `>`, or -1 when the input ends inside it
    attributes: int


@dataclass
class _Tree:
    """The stack of open elements, as far as the parser surely agrees with it."""

    stack: list[str] = field(default_factory=list)
    elements: int = 0
    formatting: int = 0

    def start(self, name: str) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise MarkupTooComplex(f"more than {MAX_ELEMENTS:,} elements")
        if name in VOID:
            return
        self._close_before(name)
        self._push(name)

    def end(self, name: str) -> None:
        if name in TABLE_PARTS:
            self._close_table_part({name}, stop={"table"} - {name})
        elif name in HEADINGS:
            self._close_through(HEADINGS, IMPLIED_END)
        elif name in SCOPED_ENDS:
            self._close_through({name}, IMPLIED_END)
        else:
            self._close_through({name}, IMPLIED_END_NOT_SPECIAL)

    def _push(self, name: str) -> None:
        self.stack.append(name)
        self.formatting += name in FORMATTING
        if len(self.stack) > MAX_NESTING_DEPTH:
            raise MarkupTooComplex(f"nested more than {MAX_NESTING_DEPTH} elements deep")
        if self.formatting > MAX_OPEN_FORMATTING:
            raise MarkupTooComplex(
                f"more than {MAX_OPEN_FORMATTING} formatting elements"
                f" ({', '.join(sorted(FORMATTING))}) open at once"
            )

    def _close_before(self, name: str) -> None:
        """The end tags a start tag implies (an open `li` before the next `li`, …)."""
        if name == "li":
            self._close_through({"li"}, IMPLIED_END)
        elif name in ("dd", "dt"):
            self._close_through({"dd", "dt"}, IMPLIED_END)
        elif name in ("td", "th"):
            self._close_table_part({"td", "th"}, stop={"tr", "table"} | ROW_GROUPS)
            self._open_implied({"table": ("tbody", "tr"), **dict.fromkeys(ROW_GROUPS, ("tr",))})
        elif name == "tr":
            self._close_table_part({"tr"}, stop={"table"} | ROW_GROUPS)
            self._open_implied({"table": ("tbody",)})
        elif name in ROW_GROUPS:
            self._close_table_part(ROW_GROUPS, stop={"table"})
        if name in CLOSES_P and self.stack and self.stack[-1] == "p":
            self._pop_to(len(self.stack) - 1)
        if name in HEADINGS and self.stack and self.stack[-1] in HEADINGS:
            self._pop_to(len(self.stack) - 1)
        if name in ("option", "optgroup") and self.stack and self.stack[-1] == "option":
            self._pop_to(len(self.stack) - 1)

    def _close_through(self, targets: set[str] | frozenset[str], passing: frozenset[str]) -> None:
        """Close the nearest target if only elements in `passing` are open above it."""
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index] in targets:
                self._pop_to(index)
                return
            if self.stack[index] not in passing:
                return

    def _close_table_part(self, targets: set[str] | frozenset[str], stop: set[str]) -> None:
        """Close the nearest target unless a `stop` element is open above it. Formatting
        elements may be closed with it only inside a cell (closing a cell forgets them);
        elsewhere the parser would reopen them later, so they stay counted."""
        for index in range(len(self.stack) - 1, -1, -1):
            name = self.stack[index]
            if name in targets:
                # Outside a table the parser ignores cells and rows: nothing to close.
                inside_table = name == "table" or "table" in self.stack[:index]
                if inside_table and not self._formatting_outside_cells(index):
                    self._pop_to(index)
                return
            if name in stop:
                return

    def _formatting_outside_cells(self, index: int) -> bool:
        for name in self.stack[index:]:
            if name in CELLS:
                return False
            if name in FORMATTING:
                return True
        return False

    def _open_implied(self, implied: dict[str, tuple[str, ...]]) -> None:
        """The row group and row the parser inserts for a row or cell given without them."""
        for name in reversed(self.stack):
            if name in TABLE_PARTS:
                for part in implied.get(name, ()):
                    self._push(part)
                return

    def _pop_to(self, index: int) -> None:
        self.formatting -= sum(name in FORMATTING for name in self.stack[index:])
        del self.stack[index:]


def check_markup(fragment: str) -> str:
    """Raise MarkupTooComplex when `fragment` is over a limit; return it unchanged otherwise."""
    tree = _Tree()
    foreign_seen = False
    position = 0
    while (position := fragment.find("<", position)) >= 0:
        following = fragment[position + 1 : position + 2]
        if following.isascii() and following.isalpha():
            tag = _read_tag(fragment, position + 1)
            if tag.attributes > MAX_ATTRIBUTES:
                raise MarkupTooComplex(f"an element with more than {MAX_ATTRIBUTES} attributes")
            tree.start(tag.name)
            foreign_seen = foreign_seen or tag.name in FOREIGN
            if tag.end < 0:
                break
            position = tag.end
            if tag.name in RAW_TEXT:
                position = _skip_raw_text(fragment, position, tag.name, tree, foreign_seen)
        elif following == "/":
            position = _end_tag(fragment, position, tree)
        elif following in ("!", "?"):
            position = _markup_declaration(fragment, position, tree)
        else:
            position += 1
        if position < 0:
            break
    return fragment


def _read_tag(fragment: str, position: int) -> _Tag:
    """A tag from its name on, read as the HTML5 tokenizer reads it (quotes hide `>`)."""
    name_match = _NAME.match(fragment, position)
    assert name_match is not None  # the pattern matches the empty string
    name = name_match.group().lower()
    position = name_match.end()
    attributes = 0
    while True:
        position = _match_end(_SEPARATORS, fragment, position)
        if position >= len(fragment):
            return _Tag(name, -1, attributes)
        if fragment[position] == ">":
            return _Tag(name, position + 1, attributes)
        attributes += 1
        position = _match_end(_ATTRIBUTE_NAME, fragment, position)
        equals = _EQUALS.match(fragment, position)
        if equals is None:
            continue
        position = equals.end()
        if position < len(fragment) and fragment[position] in "\"'":
            closing = fragment.find(fragment[position], position + 1)
            if closing < 0:
                return _Tag(name, -1, attributes)
            position = closing + 1
        else:
            position = _match_end(_UNQUOTED, fragment, position)


def _match_end(pattern: re.Pattern[str], fragment: str, position: int) -> int:
    match = pattern.match(fragment, position)
    assert match is not None  # every pattern used here matches the empty string or is guarded
    return match.end()


def _end_tag(fragment: str, position: int, tree: _Tree) -> int:
    following = fragment[position + 2 : position + 3]
    if following == ">":
        return position + 3
    if not (following.isascii() and following.isalpha()):
        return _past(fragment, ">", position)  # a bogus comment
    tag = _read_tag(fragment, position + 2)
    if tag.end >= 0:
        tree.end(tag.name)
    return tag.end


def _markup_declaration(fragment: str, position: int, tree: _Tree) -> int:
    if fragment.startswith("<!--", position):
        ends = [
            end + 3 if (end := fragment.find("-->", position + 2)) >= 0 else -1,
            end + 4 if (end := fragment.find("--!>", position + 4)) >= 0 else -1,
        ]
        return min((end for end in ends if end >= 0), default=-1)
    if fragment.startswith("<![CDATA[", position):
        # Character data in SVG or MathML, a bogus comment elsewhere: tags inside count.
        end = _past(fragment, "]]>", position)
        _count_start_tags(fragment, position, end, tree)
        return end
    return _past(fragment, ">", position)


def _skip_raw_text(fragment: str, position: int, name: str, tree: _Tree, foreign: bool) -> int:
    """Past the text of a `<script>`, `<style>`, … to its end tag. Inside SVG or MathML the
    same element holds markup, and a `<!--` in a script can hide its end tag: where either
    may apply, the text runs to the end of the input. Tags inside count as opened."""
    end = -1
    if name != "plaintext" and not foreign:
        end = _raw_text_end(fragment, position, name)
        if name == "script" and "<!--" in fragment[position : max(end, 0)]:
            end = -1
    _count_start_tags(fragment, position, end, tree)
    if end >= 0:
        tree.end(name)
    return end


def _raw_text_end(fragment: str, position: int, name: str) -> int:
    closing = re.compile(rf"</{re.escape(name)}(?=[\t\n\f\r />])", re.IGNORECASE)
    match = closing.search(fragment, position)
    if match is None:
        return -1
    tag = _read_tag(fragment, match.start() + 2)
    return tag.end


def _count_start_tags(fragment: str, start: int, end: int, tree: _Tree) -> None:
    stop = len(fragment) if end < 0 else end
    for match in _START_TAG_NAME.finditer(fragment, start, stop):
        tree.start(match.group(1).lower())


def _past(fragment: str, marker: str, position: int) -> int:
    found = fragment.find(marker, position)
    return -1 if found < 0 else found + len(marker)
