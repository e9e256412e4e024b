"""Tables the library makes for the book, as readers get them (issue 38 item 2): no bare index, readers'
headers, missing values in words, checked with the browser test's own reader checks."""
import math

import pandas as pd
from reader_checks import missing_value_problems, raw_frame_problems, reader_problems

from semirobust.experiments.report.markup import html_table, reader_frame
from semirobust.experiments.theory import theorem3_report
from semirobust.experiments.theory.theorem3 import paper_theorem3_bounds


def _html(frame, **kwargs) -> str:
    return f"<main>{html_table(frame, **kwargs).data}</main>"


def test_theorem3_paper_bounds_read_as_a_table_for_readers():
    record = {"metrics": {"paper_bounds": paper_theorem3_bounds().to_dict(orient="records")}}
    raw = theorem3_report.paper_bounds_frame(record)
    assert raw.isna().any().any(), "the analytic table has an undefined bound (a = n - 1) to write in words"
    assert raw_frame_problems(_html(raw, index=True)), "the raw frame fails the check (index, snake_case)"
    shown = _html(theorem3_report.paper_bounds_table(record))
    assert reader_problems(shown) == []
    assert "not defined: a = n - 1" in shown


def test_reader_frame_drops_the_index_rounds_and_words_missing_values():
    frame = pd.DataFrame({"gamma_a": [0.123456, math.nan, 12345.678], "label": ["x", None, "z"]}, index=[5, 6, 7])
    shown = reader_frame(frame, missing="not measured")
    assert list(shown.index) == [0, 1, 2]
    assert list(shown["gamma_a"]) == ["0.123", "not measured", "12,346"]
    assert list(shown["label"]) == ["x", "not measured", "z"]
    assert missing_value_problems(_html(frame)) == [], "html_table itself never writes NaN"
    assert "NaN" not in _html(frame) and reader_problems(_html(shown)) == []
