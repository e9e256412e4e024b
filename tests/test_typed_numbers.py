"""No typed number on a book page: every number a reader sees in prose is glued, in math, in code, or sourced.

The scan reads every ``book/**/*.md`` page (``book/_build`` and ``book/_generated``, which the build writes
from the results store, are left out) and reports each number in **prose** that is not **allowed**.

Prose is what is left of a page after removing: YAML front matter and HTML comments; fenced blocks
(backticks, tildes or colons) of any directive except the admonitions (``admonition``, ``note``,
``warning``, ``important``, ``tip``, ...), whose bodies are prose but whose ``:option:`` lines are not;
display math (``$$ ... $$``) and inline math (``$ ... $``); inline code; every MyST role with its content
(``{glue:text}`...```, ``{cite}`...```, ``{doc}`...```, ``{ref}``, ``{eq}``, ``{math}``, ...); target
labels (``(name)=``); link targets (the ``(url)`` of ``[text](url)``) and bare URLs; and the enumeration of
an ordered list item or a heading (``1. `` at the start of a line, ``## 2. Install``).

A number is a run of digits with optional decimal point and thousands commas. It is **allowed** when

1. it is part of a name: a token of letters, digits, ``_``, ``-`` and ``.`` that holds a letter (``VGG16``,
   ``ResNet50``, ``CIFAR-10``, ``WideResNet-34-10``, ``PGD-10``, ``float32``, ``A1``, ``S2``, ``32x32``);
2. it numbers an item of the paper or of this project: it follows ``Theorem``, ``Lemma``, ``Bound``, ``Definition``,
   ``Assumption``, ``Table``, ``Figure``, ``Section``, ``Algorithm``, ``Step``, ``eq.``/``equation``,
   ``Chapter``, ``Appendix`` or ``issue`` (singular or plural), with lists and ranges of such numbers
   (``Figures 1 and 2``, ``Theorems 1-2``, ``Tables S2-S5``, ``Section 2.2``, ``eq. (14)``);
3. it is one of the paper's budgets or attack steps on the pixel scale, ``8/255``, ``16/255``, ``32/255``,
   ``1/255`` and ``2/255`` (``config.PAPER_BUDGETS`` and the conventions of docs/conventions.md);
4. it is a year after ``et al.`` (a citation written out, ``Lee et al., 2021``);
5. it is followed, in the same sentence (a table row counts as a sentence, and a table whose header row
   cites a source sources all its rows), by a citation role ``{cite}`` or by the words ``source:``, which
   name where a number from elsewhere comes from.

Anything else is a typed number: a notebook's result must be glued, a setting or a value from elsewhere
must cite its source, and an illustration belongs in math.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from semirobust.utils import REPO_ROOT

BOOK = REPO_ROOT / "book"
FIXTURES = Path(__file__).parent / "fixtures"
#: directives whose body is prose (MyST admonitions)
PROSE_DIRECTIVES = {"admonition", "note", "warning", "important", "tip", "caution", "attention", "hint", "danger",
                    "error", "seealso", "topic", "sidebar", "dropdown"}
REFERENCE_WORDS = (r"(?:Theorems?|Lemmas?|Bounds?|Definitions?|Assumptions?|Tables?|Figures?|Fig\.|Sections?|Algorithms?|"
                   r"Steps?|steps?|[Ee]q\.|[Ee]quations?|Chapters?|Appendix|[Ii]ssues?)")
_ITEM = r"\(?S?\d+(?:\.\d+)*\)?"
REFERENCE = re.compile(REFERENCE_WORDS + r"\s+" + _ITEM + r"(?:\s*(?:,|and|or|to|–|-|—)\s*" + _ITEM + r")*")
BUDGET = re.compile(r"(?<![\d.])(?:8|16|32|1|2)/255(?!\d)")
YEAR = re.compile(r"et al\.,?\s+(?:19|20)\d\d")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
CITE = re.compile(r"\{cite(?::\w+)?\}`[^`]*`|\bsource:", re.IGNORECASE)
CITE_MARK = "\x00"
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{([\w:-]+)\}|[\w-]*)?")


def _blank(text: str) -> str:
    """``text`` with every character but newlines replaced by spaces (offsets and lines stay put)."""
    return re.sub(r"[^\n]", " ", text)


def _prose_lines(text: str) -> list[str]:
    """The page's lines with front matter, non-prose fenced blocks and directive options blanked."""
    lines = text.split("\n")
    out, stack = [], []  # stack of (fence marker, prose?)
    front = lines[:1] == ["---"]
    for i, line in enumerate(lines):
        if front:
            out.append("")
            front = not (i > 0 and line.strip() == "---")
            continue
        match = FENCE.match(line)
        if match and stack and line.strip() == match.group(1) and match.group(1)[0] == stack[-1][0][0] \
                and len(match.group(1)) >= len(stack[-1][0]):
            stack.pop()
            out.append("")
            continue
        if match and (match.group(2) or match.group(1)[0] != ":" or not stack):
            name = (match.group(3) or match.group(2) or "").strip()
            prose = name in PROSE_DIRECTIVES
            inside_prose = all(p for _, p in stack)
            stack.append((match.group(1), prose))
            # an admonition's title (after the directive name) is prose
            out.append(line[match.end():] if prose and inside_prose and match.group(3) else "")
            continue
        if stack and not all(p for _, p in stack):
            out.append("")
        elif stack and re.match(r"^\s*:[\w-]+:", line):
            out.append("")  # a directive option (:class: note)
        else:
            out.append(line)
    return out


def _strip(paragraph: str) -> str:
    """Math, code, roles (citations become a mark), labels, links and list/heading enumerations removed."""
    text = re.sub(r"<!--.*?-->", _blank_match, paragraph, flags=re.DOTALL)
    text = re.sub(r"\$\$.*?\$\$", _blank_match, text, flags=re.DOTALL)
    text = re.sub(r"(?<![\\$])\$(?!\$).+?(?<![\\$])\$", _blank_match, text, flags=re.DOTALL)
    text = re.sub(r"``.*?``|`[^`]*`", lambda m: m.group(0) if _is_role_tail(text, m) else _blank(m.group(0)), text)
    text = CITE.sub(lambda m: CITE_MARK + _blank(m.group(0))[1:], text)
    text = ROLE.sub(_blank_match, text)
    text = re.sub(r"\]\([^)]*\)", _blank_match, text)
    text = re.sub(r"https?://\S+", _blank_match, text)
    text = re.sub(r"^\s*\([\w-]+\)=\s*$", _blank_match, text, flags=re.MULTILINE)
    text = re.sub(r"^(\s*(?:#+\s*)?)\d+\.(?=\s)", lambda m: m.group(1) + _blank(m.group(0)[len(m.group(1)):]), text,
                  flags=re.MULTILINE)
    return text


def _blank_match(match) -> str:
    return _blank(match.group(0))


def _is_role_tail(text: str, match) -> bool:
    """True when the backticks belong to a role (``{name}`...```), which ROLE removes as a whole."""
    return match.start() > 0 and text[match.start() - 1] == "}"


def _units(lines: list[str]):
    """(first line number, text, sourced) per paragraph or table row; a table whose header cites sources its rows."""
    block, start = [], 0
    for number, line in enumerate(lines + [""], start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
            continue
        if block:
            if block[0].lstrip().startswith("|"):
                header_cites = bool(CITE.search(block[0]))
                for offset, row in enumerate(block):
                    yield start + offset, row, header_cites
            else:
                yield start, "\n".join(block), False
        block = []


#: a sentence never ends after these abbreviations
_ABBREVIATION = re.compile(r"(?:\b(?:eq|Eq|e\.g|i\.e|et al|Fig|cf|vs|approx|resp))\.$")


def _sentences(text: str):
    """(offset, sentence) pieces of a stripped paragraph: split after . ! ? ; : before a capital or a bracket,
    except after an abbreviation."""
    start = 0
    for gap in re.finditer(r"(?<=[.!?;:])\s+(?=[A-Z(*\-])", text):
        if _ABBREVIATION.search(text[start:gap.start()]):
            continue
        yield start, text[start:gap.start()]
        start = gap.end()
    yield start, text[start:]


def _allowed_spans(sentence: str) -> list[tuple[int, int]]:
    return [m.span() for pattern in (REFERENCE, BUDGET, YEAR) for m in pattern.finditer(sentence)]


def _is_name(sentence: str, start: int, end: int) -> bool:
    """True when the number sits in a token of letters, digits, ``_``, ``-`` and ``.`` that has a letter."""
    while start > 0 and (sentence[start - 1].isalnum() or sentence[start - 1] in "_-."):
        start -= 1
    while end < len(sentence) and (sentence[end].isalnum() or sentence[end] in "_-."):
        end += 1
    return any(c.isalpha() for c in sentence[start:end])


def typed_numbers(path: Path) -> list[str]:
    """Every number in the prose of ``path`` that the rules of this module do not allow, as "file:line: text"."""
    found = []
    for line_number, unit, table_sourced in _units(_prose_lines(path.read_text(encoding="utf-8"))):
        stripped = _strip(unit)
        for offset, sentence in _sentences(stripped):
            last_cite = sentence.rfind(CITE_MARK)
            spans = _allowed_spans(sentence)
            for match in NUMBER.finditer(sentence):
                start, end = match.span()
                if _is_name(sentence, start, end) or any(a <= start and end <= b for a, b in spans):
                    continue
                if table_sourced or start < last_cite:
                    continue
                line = line_number + stripped[:offset + start].count("\n")
                context = " ".join(sentence[max(0, start - 40):end + 30].replace(CITE_MARK, " ").split())
                found.append(f"{path.relative_to(path.parents[1]) if BOOK in path.parents else path.name}:{line}: "
                             f"{match.group(0)!r} in '...{context}...'")
    return found


def _pages() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.md") if not {"_build", "_generated"} & set(p.relative_to(BOOK).parts))


def test_the_fixture_page_fails_the_scan_where_it_types_numbers():
    found = typed_numbers(FIXTURES / "typed_numbers_page.md")
    numbers = [re.search(r": '([^']*)' in", f).group(1) for f in found]
    assert numbers == ["11", "6", "0.69", "5", "14", "72", "87", "7", "3"], "\n".join(found)


def test_the_rules_allow_names_references_budgets_years_math_code_glue_and_cited_numbers():
    assert typed_numbers(FIXTURES / "typed_numbers_allowed.md") == []


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(BOOK)))
def test_no_book_page_types_a_number(page):
    found = typed_numbers(page)
    assert not found, "typed numbers (glue them, put them in math, or cite their source):\n" + "\n".join(found)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(BOOK)))
def test_every_glue_from_another_page_names_its_format(page):
    """MyST-NB splits ``{glue:text}`path::key:fmt``` at its last colon, so without a format (``:s`` for text,
    ``:d`` for a count) the key would be read as the format and the value would not show."""
    bare = re.findall(r"\{glue:text\}`([^`]*::[A-Za-z0-9_]+)`", page.read_text(encoding="utf-8"))
    assert not bare, f"add a format spec (:s, :d, :.2f) to: {bare}"
