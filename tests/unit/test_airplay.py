"""Per-play scoring of a station's playlist against logged rows (fingerv7.testing.airplay)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fingerv7.testing.airplay import Airing, LoggedRow, score_airplay

PROGRAMME = [
    Airing(0, 180, "a", "A"),
    Airing(177, 190, None, "jingle", kind="jingle"),
    Airing(187, 400, "b", "B"),
    Airing(397, 600, None, "not catalogued"),
    Airing(597, 640, "c", "short C"),
    Airing(637, 900, "d", "D"),
]


def row(at_s: float, *tracks: str) -> LoggedRow:
    return LoggedRow(at_s, frozenset(tracks), "/".join(tracks))


def test_one_row_per_play_is_found_once_with_its_delay() -> None:
    score = score_airplay(PROGRAMME, [row(12, "a"), row(199, "b"), row(650, "c"), row(651, "d")])
    assert score.found_once == 3 and score.missed == 0 and score.logged_twice == 0
    assert [outcome.delay_s for outcome in score.counted] == [12, 12, 14]
    assert score.median_delay_s == 12
    assert score.summary()["shorter catalogued plays, found"] == "1 / 1"  # C lasts 43 s


def test_missed_twice_and_wrong_rows_are_told_apart() -> None:
    rows = [row(12, "a"), row(100, "a"), row(450, "b"), row(500, "d"), row(10, "d")]
    score = score_airplay(PROGRAMME, rows, late_s=30)
    assert score.logged_twice == 1  # A, two rows
    assert score.missed == 2  # B (its row came 50 s after it ended) and D (no row in time)
    assert [r.at_s for r in score.wrong] == [10, 450, 500]
    assert [r.at_s for r in score.wrong_during_uncatalogued] == [450, 500]


def test_a_row_naming_two_tracks_is_credited_to_the_one_on_air() -> None:
    score = score_airplay(PROGRAMME, [row(20, "a"), row(210, "b", "d")])
    assert [o.rows for o in score.plays] == [1, 1, 0, 0]


@given(st.lists(st.floats(0, 40), min_size=len(PROGRAMME), max_size=len(PROGRAMME)))
def test_any_timely_single_row_per_play_scores_perfectly(delays: list[float]) -> None:
    catalogued = [a for a in PROGRAMME if a.track is not None]
    rows = [
        row(min(a.start_s + d, a.end_s), a.track or "")
        for a, d in zip(catalogued, delays, strict=False)
    ]
    score = score_airplay(PROGRAMME, rows)
    assert score.found_share == 1.0 and not score.wrong and score.logged_twice == 0
