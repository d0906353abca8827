"""The series-name extractor that the alert and dashboard checks rely on."""

from __future__ import annotations

import pytest

from .promql import series_names


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('fingerv7_streams{status="unassigned"} > 0', {"fingerv7_streams"}),
        (
            'up{job="fingerv7-orchestrator"} == 0 or absent(up{job="fingerv7-orchestrator"})',
            {"up"},
        ),
        (
            'sum(rate(a_total{status=~"5.."}[5m])) / sum(rate(a_total[5m])) > 0.05',
            {"a_total"},
        ),
        ("sum by (instance_id) (increase(changes_total[30m])) > 4", {"changes_total"}),
        (
            "histogram_quantile(0.95, sum by (le) (rate(lat_seconds_bucket[$__rate_interval])))",
            {"lat_seconds_bucket"},
        ),
        ("sum(x) without (pod) / on (instance) group_left y offset 5m", {"x", "y"}),
        ("1e3 * ratio", {"ratio"}),
    ],
)
def test_finds_exactly_the_series_an_expression_reads(expression: str, expected: set[str]) -> None:
    assert series_names(expression) == expected
