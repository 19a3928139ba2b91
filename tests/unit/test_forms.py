"""bot.ui.forms: custom ids within Discord's limit, submitted values read from any layout."""

from __future__ import annotations

import pytest

from bot.ui.forms import MAX_CUSTOM_ID, form_id, submitted_values


def test_form_id_joins_its_parts_and_refuses_what_discord_would() -> None:
    assert form_id("video", "extend-form", "k3f9x2ab", 0) == "video:extend-form:k3f9x2ab:0"
    assert len(form_id("x" * MAX_CUSTOM_ID)) == MAX_CUSTOM_ID
    with pytest.raises(ValueError, match="longer than 100"):
        form_id("x" * MAX_CUSTOM_ID, "y")


def test_submitted_values_reads_labels_and_action_rows() -> None:
    data = {
        "custom_id": "video:remix-form:k3f9x2ab",
        "components": [
            {"type": 18, "component": {"type": 4, "custom_id": "prompt", "value": "a fox"}},
            {"type": 1, "components": [{"type": 4, "custom_id": "camera", "value": ""}]},
            {"type": 10, "content": "no input here"},
        ],
    }
    assert submitted_values(data) == {"prompt": "a fox", "camera": ""}
