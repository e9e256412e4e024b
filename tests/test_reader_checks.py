"""The reader checks of the browser test (tests/reader_checks.py) on small pages that must fail, and pass."""
import pytest
from reader_checks import (
    claim_title_problems,
    landing_height_problems,
    missing_value_problems,
    raw_frame_problems,
    reader_problems,
)


def _box(title, classes):
    return (f'<main><div class="admonition {classes}"><p class="admonition-title">{title}</p>'
            '<p>Result.</p></div></main>')


GOOD = ('<main>' + _box("Claim: f_b alone recovers Acc* — undecided", "verdict claim claim-undecided")
        + '<table><thead><tr><th>f<sub>a</sub> layers</th><th>largest &gamma;<sub>a</sub></th></tr></thead>'
          '<tbody><tr><td>4</td><td>not defined: a = n - 1</td></tr><tr><td>8</td><td>0.25</td></tr></tbody></table>'
          '</main>')


def test_a_clean_page_passes():
    assert reader_problems(GOOD) == []
    assert landing_height_problems(5400) == []


@pytest.mark.parametrize("page", [
    _box("Verdict: training f_b alone recovers Acc*", "important verdict"),
    _box("Claim: f_b alone recovers Acc* — confirmed", "verdict claim claim-undecided"),
    _box("Claim: f_b alone recovers Acc*", "verdict claim claim-undecided"),
    _box("Claim: f_b alone recovers Acc* — undecided", "verdict claim"),
])
def test_a_verdict_title_or_one_that_contradicts_its_status_fails(page):
    assert claim_title_problems(page)


@pytest.mark.parametrize("table", [
    '<table><thead><tr><th></th><th>acc</th></tr></thead><tbody><tr><th>0</th><td>1</td></tr>'
    '<tr><th>1</th><td>2</td></tr><tr><th>2</th><td>3</td></tr></tbody></table>',
    '<table><thead><tr><th>fa_layers</th><th>gamma_a_max_possible</th></tr></thead>'
    '<tbody><tr><td>4</td><td>0.2</td></tr></tbody></table>',
])
def test_a_raw_frame_fails(table):
    assert raw_frame_problems(f"<main>{table}</main>")


@pytest.mark.parametrize("cell", ["NaN", "nan", "None", "<NA>"])
def test_a_missing_value_shown_raw_fails(cell):
    page = f"<main><table><tbody><tr><td>1.0</td><td>{cell.replace('<', '&lt;').replace('>', '&gt;')}</td></tr></tbody></table></main>"
    assert missing_value_problems(page)


def test_a_landing_page_over_the_target_fails():
    assert landing_height_problems(14600)


def test_a_named_column_counting_from_zero_is_data_not_an_index():
    table = ("<table><thead><tr><th>x</th><th>f b = 4</th></tr></thead><tbody><tr><td>0</td><td>1.2</td></tr>"
             "<tr><td>1</td><td>1.1</td></tr><tr><td>2</td><td>0.9</td></tr></tbody></table>")
    assert raw_frame_problems(f"<main>{table}</main>") == []
