"""Reader-facing tables: the paper's symbols in headers, cells escaped."""
import pandas as pd
import pytest

from semirobust.experiments.report.markup import column_label, html_table


@pytest.mark.parametrize("name, label", [
    ("rho_n", "&rho;<sub>n</sub>"), ("rho_{n-3}", "&rho;<sub>n&minus;3</sub>"),
    ("rho_{n-3} null", "&rho;<sub>n&minus;3</sub> null"), ("acc_sr", "Acc<sub>sr</sub>"),
    ("acc_star", "Acc*"), ("gamma_a", "&gamma;<sub>a</sub>"), ("wall_time_s", "wall time s"), ("a<b", "a&lt;b"),
])
def test_column_label(name, label):
    assert column_label(name) == label


def test_html_table_escapes_cells_and_keeps_values():
    frame = pd.DataFrame({"rho_{n-3}": [1.25], "model": ["<vgg16>"]})
    text = html_table(frame, caption="Table 1").data
    assert "&rho;<sub>n&minus;3</sub>" in text and "1.25" in text and "&lt;vgg16&gt;" in text
    assert "<caption>Table 1</caption>" in text and 'class="semirobust-table-wrap"' in text


def test_computed_sentences_show_as_written():
    from semirobust.experiments.report.markup import plain_markdown, sentences

    assert plain_markdown("Acc* - Acc~ on f_b [x]") == r"Acc\* - Acc\~ on f\_b \[x\]"
    block = sentences(["Theorem 3, a = 4: gamma_a <= 0", "  detail with Acc*"]).data
    assert block == "- Theorem 3, a = 4: gamma\\_a \\<= 0\n  - detail with Acc\\*"
    assert sentences("Acc* held.", bold_first=True).data == "**Acc\\* held.**"


def test_as_sentence_capitalizes_and_closes():
    from semirobust.experiments.report.markup import as_sentence

    assert as_sentence("over 12 trials, r = -0.3") == "Over 12 trials, r = -0.3."
