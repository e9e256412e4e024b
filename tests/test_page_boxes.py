"""Claim boxes, the "Rerun this page" box and the page-level glue the presentation step writes (issue 38)."""
import nbformat
import pytest

from semirobust.experiments.report import verdicts
from semirobust.pipeline import page_boxes
from semirobust.pipeline.notebook_outputs import glued_values, present_notebook

BOX = ("Intro.\n\n```{admonition} Claim: training $f_b$ alone recovers $\\mathrm{Acc}^*$ — "
       "{glue:text}`claim_table1_recovery_status`\n:class: important verdict\n**Result.** {glue:text}`table1_result`\n```\n")
PROVENANCE = {"profile": "offline", "dataset": "fashion-mnist", "device": "cpu (x86_64)", "commit": "0123456789",
              "executed_at": "2026-12-02T10:00:00+00:00", "seconds": 6.6, "notebook": "notebooks/figure1.ipynb",
              "key": {"parameters": {"datasets": ["fashion-mnist", "digits"], "profile": "offline", "device": "auto"}}}


def _glue(name, value):
    return nbformat.from_dict({"output_type": "display_data", "data": {"application/papermill.record/text/plain": repr(value)},
                               "metadata": {"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}}})


@pytest.mark.parametrize("status", verdicts.STATUSES)
def test_claim_box_title_states_the_claim_and_its_glued_status_and_takes_its_colour(status):
    shown = page_boxes.claim_boxes(BOX, {"claim_table1_recovery_status": repr(status)})
    title, classes = shown.split("\n")[2:4]
    assert title == ("```{admonition} Claim: training $f_b$ alone recovers $\\mathrm{Acc}^*$ — " + status)
    assert classes == f":class: verdict claim {verdicts.STATUS_CLASSES[status]}"
    assert "{glue:text}`table1_result`" in shown, "the rest of the box is left as written"


def test_claim_box_without_its_status_or_with_another_word_is_refused():
    with pytest.raises(ValueError, match="did not glue"):
        page_boxes.claim_boxes(BOX, {})
    with pytest.raises(ValueError, match="not one of"):
        page_boxes.claim_boxes(BOX, {"claim_table1_recovery_status": "'supported'"})


def test_the_four_statuses_have_four_classes_titles_and_badges():
    assert len(set(verdicts.STATUS_CLASSES.values())) == 4
    assert verdicts.claim_title("x", "undecided") == "Claim: x — undecided"
    assert verdicts.status_badge("not confirmed") == '<span class="claim-badge claim-not-confirmed">not confirmed</span>'
    with pytest.raises(ValueError):
        verdicts.claim_title("x", "verdict")


def test_rerun_command_passes_lists_as_yaml_and_scalars_as_parameters():
    command = page_boxes.rerun_command(PROVENANCE)
    assert command == ("papermill notebooks/figure1.ipynb book/results/figure1.ipynb --cwd book/results "
                       "-y '{\"datasets\": [\"fashion-mnist\", \"digits\"]}' -p device auto -p profile offline")
    box = page_boxes.rerun_box(PROVENANCE, ["trained vgg16"])
    assert box.startswith("````{admonition} Rerun this page") and box.endswith("````")
    assert "7 s on cpu (x86_64) in the last build" in box and "cold run" in box and "data_files" not in box


def test_present_notebook_rewrites_claim_boxes_and_glues_the_page_status_and_command():
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = None")
    params.metadata["tags"] = ["parameters"]
    glue = nbformat.v4.new_code_cell("glue(...)")
    glue.outputs = [_glue("claim_rho_predicts_success_status", "undecided"), _glue("claim_rho_by_dataset_status",
                                                                                  "not testable at this scale")]
    nb.cells = [nbformat.v4.new_markdown_cell(BOX.replace("table1_recovery", "rho_by_dataset")), params, glue]
    present_notebook(nb, PROVENANCE)
    assert "— not testable at this scale\n:class: verdict claim claim-not-testable" in nb.cells[0].source
    assert nb.cells[2].source.startswith("````{admonition} Rerun this page")
    glued = glued_values(nb)
    assert glued["claim_status"] == "undecided", "the page's first claim"
    assert glued["rerun_command"] == page_boxes.rerun_command(PROVENANCE)
    assert nb.cells[-1].metadata["tags"] == ["remove-input"]
    nbformat.validate(nbformat.reads(nbformat.writes(nb), as_version=4))


def test_a_page_without_claims_glues_no_claim_status():
    assert page_boxes.page_claim_status({"table1_result": "x"}) is None
    assert page_boxes.page_claim_status({"claim_a_text": "x", "claim_a_status": "'confirmed'"}) == "confirmed"
