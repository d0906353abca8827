"""Per-play accuracy: a station's playlist against the rows a worker logged for it.

What users pay for is plays, not snippets. Given what aired (`Airing`: when, and which catalog
track, or none for talk, jingles and songs not in the catalog) and what was logged
(`LoggedRow`: when the row landed, and which catalog tracks its artist and title name), each row
is credited to the catalogued airing it names that was on air at most `late_s` before the row
landed (the window, the crossfade and the write lie between a song's start and its row). A
catalogued airing with one row is found, with none missed, with more logged twice; a row credited
to no airing is wrong, and counted apart when a song not in the catalog was on air when it landed.
Pure: the benchmark reads the database and the clock, this only compares.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Airing:
    """One item of the programme, in seconds from the start of the broadcast."""

    start_s: float
    end_s: float
    track: str | None  # the catalog track (any stable key), None when not in the catalog
    label: str
    kind: str = "song"  # "song", "jingle"; a song with track None is not in the catalog

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class LoggedRow:
    """One music_log row: when it landed (seconds from the start) and the tracks it names.

    `tracks` holds every catalog track with the row's artist and title (usually one).
    """

    at_s: float
    tracks: frozenset[str]
    label: str


@dataclass(frozen=True, slots=True)
class PlayOutcome:
    airing: Airing
    rows: int
    delay_s: float | None  # first row's landing minus the airing's start


@dataclass(frozen=True, slots=True)
class AirplayScore:
    plays: list[PlayOutcome]
    wrong: list[LoggedRow]
    wrong_during_uncatalogued: list[LoggedRow]
    min_play_s: float
    counted: list[PlayOutcome] = field(init=False)

    def __post_init__(self) -> None:
        long_enough = [p for p in self.plays if p.airing.duration_s > self.min_play_s]
        object.__setattr__(self, "counted", long_enough)

    @property
    def found_once(self) -> int:
        return sum(outcome.rows == 1 for outcome in self.counted)

    @property
    def missed(self) -> int:
        return sum(outcome.rows == 0 for outcome in self.counted)

    @property
    def logged_twice(self) -> int:
        """Catalogued plays with more than one row (every play, short ones included)."""
        return sum(outcome.rows > 1 for outcome in self.plays)

    @property
    def found_share(self) -> float:
        return self.found_once / len(self.counted) if self.counted else 1.0

    @property
    def median_delay_s(self) -> float | None:
        delays = [o.delay_s for o in self.counted if o.delay_s is not None]
        return statistics.median(delays) if delays else None

    def summary(self) -> dict[str, object]:
        short = [o for o in self.plays if o.airing.duration_s <= self.min_play_s]
        delays = sorted(o.delay_s for o in self.counted if o.delay_s is not None)
        return {
            f"catalogued plays longer than {self.min_play_s:g} s": len(self.counted),
            "logged once": self.found_once,
            "logged once, share": round(self.found_share, 4),
            "missed": self.missed,
            "logged more than once": self.logged_twice,
            "wrong rows": len(self.wrong),
            "of which while a song not in the catalog played": len(self.wrong_during_uncatalogued),
            "delay from song start to row, median s": self.median_delay_s,
            "delay p90 / max s": ([_quantile(delays, 0.9), delays[-1]] if delays else None),
            "shorter catalogued plays, found": f"{sum(o.rows >= 1 for o in short)} / {len(short)}",
        }


def score_airplay(
    airings: Sequence[Airing],
    rows: Sequence[LoggedRow],
    *,
    late_s: float = 45.0,
    min_play_s: float = 60.0,
) -> AirplayScore:
    """Credit each row to an airing it names and compare; see the module's docstring."""
    credited: dict[int, list[LoggedRow]] = {index: [] for index in range(len(airings))}
    wrong: list[LoggedRow] = []
    for row in sorted(rows, key=lambda r: r.at_s):
        index = _airing_for(airings, row, late_s)
        if index is None:
            wrong.append(row)
        else:
            credited[index].append(row)
    plays = [
        PlayOutcome(
            airing,
            len(credited[index]),
            credited[index][0].at_s - airing.start_s if credited[index] else None,
        )
        for index, airing in enumerate(airings)
        if airing.track is not None
    ]
    during_uncatalogued = [row for row in wrong if _uncatalogued_song_at(airings, row.at_s, late_s)]
    return AirplayScore(plays, wrong, during_uncatalogued, min_play_s)


def _airing_for(airings: Sequence[Airing], row: LoggedRow, late_s: float) -> int | None:
    """The latest airing the row names that was on air within `late_s` before it landed."""
    best: int | None = None
    for index, airing in enumerate(airings):
        if airing.track in row.tracks and airing.start_s <= row.at_s <= airing.end_s + late_s:
            best = index
    return best


def _uncatalogued_song_at(airings: Sequence[Airing], at_s: float, late_s: float) -> bool:
    return any(
        airing.track is None
        and airing.kind == "song"
        and airing.start_s <= at_s <= airing.end_s + late_s
        for airing in airings
    )


def _quantile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
