"""One refinement limit (issue 20): ``core.names.MAX_REFINE`` bounds the window's Refine controls,
the command line, the core and saved parameters alike (it was 100 in the core, 10 in the views)."""

from __future__ import annotations

import pytest

from ddim_studio.cli import build_parser
from ddim_studio.core.inversion import check_refine
from ddim_studio.core.names import MAX_REFINE
from ddim_studio.core.saved_params import validate_params
from ddim_studio.ui.edit.edit_view import EditView
from ddim_studio.ui.encode.encode_view import EncodeView
from ddim_studio.ui.interpolate.interpolate_view import InterpolateView


def test_the_window_offers_exactly_the_refinement_the_core_takes(qtbot) -> None:  # type: ignore[no-untyped-def]
    for view_class in (EncodeView, EditView, InterpolateView):
        view = view_class()
        qtbot.addWidget(view)
        assert (view.refine.minimum(), view.refine.maximum()) == (0, MAX_REFINE), view_class.__name__
    assert check_refine(MAX_REFINE) == MAX_REFINE
    with pytest.raises(
        ValueError, match=f"refine must be a whole number of iterations from 0 to {MAX_REFINE}"
    ):
        check_refine(MAX_REFINE + 1)


def test_the_command_line_and_saved_parameters_use_the_same_limit(capsys) -> None:  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(["encode", "a.png", "--refine", str(MAX_REFINE)])
    assert args.refine == MAX_REFINE
    with pytest.raises(SystemExit, match="^2$"):
        build_parser().parse_args(["encode", "a.png", "--refine", str(MAX_REFINE + 1)])
    assert f"refine must be a whole number from 0 to {MAX_REFINE}" in capsys.readouterr().err
    good, problems = validate_params({"refine": MAX_REFINE})
    assert good == {"refine": MAX_REFINE} and problems == []
    bad, problems = validate_params({"refine": MAX_REFINE + 1})
    assert "refine" not in bad and problems
