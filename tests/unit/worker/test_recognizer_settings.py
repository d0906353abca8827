"""RECOGNIZERS and the fallback settings: what is accepted, and the errors for what is not."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fingerv7.audio.shazam import recognition_from_shazam
from fingerv7.core.fingerprint.config import MatchConfig
from fingerv7.worker.processors.fingerprint import match_config_from
from fingerv7.worker.settings import WorkerSettings

BASE: dict[str, Any] = {"INSTANCE_ID": "w-1", "USE_ORCHESTRATOR": False, "DISTRIBUTE_LOAD": False}


def settings(**values: Any) -> WorkerSettings:
    return WorkerSettings(**(BASE | values))


def test_the_default_is_the_catalog_alone_with_learning_on() -> None:
    default = settings()
    assert default.recognizer_list == ("catalog",)
    assert default.catalog_learning and default.recognizer_requests_per_minute == 4.0


def test_a_chain_is_normalised() -> None:
    chain = settings(
        RECOGNIZERS=" Catalog, SHAZAM ,http,icy",
        RECOGNIZER_HTTP_URL="http://127.0.0.1:9/recognize",
        RECOGNIZER_HTTP_KEY="s3cret-value",
    )
    assert chain.recognizer_list == ("catalog", "shazam", "http", "icy")
    assert "s3cret-value" not in repr(chain)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"RECOGNIZERS": "shazam,catalog"}, "must start with catalog"),
        ({"RECOGNIZERS": "catalog,catalog"}, "each recognizer once"),
        ({"RECOGNIZERS": "catalog,acrcloud"}, "unknown acrcloud"),
        ({"RECOGNIZERS": "catalog,http"}, "set RECOGNIZER_HTTP_URL"),
        ({"RECOGNIZER_HTTP_FIELDS": "name=x"}, "bad field mapping"),
        ({"RECOGNIZER_REQUESTS_PER_MINUTE": 0}, "greater than 0"),
        ({"RECOGNIZER_EGRESS": "vpn-nl-1"}, "set REDIS_URL"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as failure:
        settings(**values)
    assert message in str(failure.value)


def test_a_shazam_answer_is_read_like_the_original_system_did() -> None:
    answer = {
        "matches": [{"id": "1", "offset": 42.5}],
        "track": {
            "title": "Evidências",
            "subtitle": "Chitãozinho & Xororó",
            "isrc": "BRSME9000123",
            "genres": {"primary": "Sertanejo"},
            "sections": [
                {"type": "SONG", "metadata": [{"title": "Album", "text": "X"},
                                              {"title": "Label", "text": "Som Livre"}]}
            ],
        },
    }  # fmt: skip
    named = recognition_from_shazam(answer)
    assert named is not None
    assert (named.title, named.artist, named.isrc, named.label, named.genre) == (
        "Evidências", "Chitãozinho & Xororó", "BRSME9000123", "Som Livre", "Sertanejo"
    )  # fmt: skip
    assert named.offset_s == 42.5 and named.recognizer == "shazam"
    assert recognition_from_shazam({"matches": []}) is None


def test_shazam_without_shazamio_is_refused_at_start_up() -> None:
    import importlib.util

    from fingerv7.worker.processors import ProcessorUnavailable
    from fingerv7.worker.processors.recognizers import fallback_loader

    if importlib.util.find_spec("shazamio") is not None:
        return  # installed here: nothing to refuse
    with pytest.raises(ProcessorUnavailable, match=r"fingerv7\[shazam\]"):
        fallback_loader(settings(RECOGNIZERS="catalog,shazam"), 10.0, 8000)


def test_the_decision_settings_reach_the_matcher_and_unset_ones_keep_its_defaults() -> None:
    defaults = MatchConfig()
    tuned = match_config_from(settings(MATCH_MIN_SCORE=20.5, MATCH_MIN_RUNNER_UP_RATIO=2))
    assert (tuned.min_score, tuned.min_runner_up_ratio) == (20.5, 2.0)
    assert tuned.min_aligned_hashes == defaults.min_aligned_hashes
    assert match_config_from(settings()) == defaults


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("MATCH_MAX_SEARCH_POSTINGS", "max_search_postings"),
        ("MATCH_NOMINATE_ABOVE_POSTINGS", "nominate_above_postings"),
    ],
)
def test_a_search_size_is_set_or_lifted_by_its_setting(variable: str, field: str) -> None:
    assert getattr(match_config_from(settings(**{variable: 3_000_000})), field) == 3_000_000
    assert getattr(match_config_from(settings(**{variable: 0})), field) is None
    with pytest.raises(ValidationError) as failure:
        settings(**{variable: -1})
    assert variable.lower() in str(failure.value).lower()


def test_nominating_is_on_by_default() -> None:
    assert MatchConfig().nominate_above_postings is not None


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("MATCH_VERIFIED_CANDIDATES", "verified_candidates"),
        ("MATCH_SECOND_LOOK_TRACKS", "second_look_tracks"),
    ],
)
def test_a_count_of_tracks_to_look_at_again_is_widened_or_turned_off_by_its_setting(
    variable: str, field: str
) -> None:
    assert getattr(match_config_from(settings()), field) == getattr(MatchConfig(), field) > 0
    assert getattr(match_config_from(settings(**{variable: 8})), field) == 8
    assert getattr(match_config_from(settings(**{variable: 0})), field) == 0
    with pytest.raises(ValidationError) as failure:
        settings(**{variable: -1})
    assert variable.lower() in str(failure.value).lower()


def test_the_low_band_is_searched_by_default_and_turned_off_by_its_setting() -> None:
    assert match_config_from(settings()).low_band_look is MatchConfig().low_band_look is True
    assert match_config_from(settings(MATCH_LOW_BAND="false")).low_band_look is False
    assert match_config_from(settings(MATCH_LOW_BAND="1")).low_band_look is True
    with pytest.raises(ValidationError) as failure:
        settings(MATCH_LOW_BAND="sometimes")
    assert "match_low_band" in str(failure.value).lower()


def test_a_negative_score_bar_is_refused() -> None:
    with pytest.raises(ValidationError) as failure:
        settings(MATCH_MIN_SCORE=-1)
    assert "MATCH_MIN_SCORE" in str(failure.value) or "match_min_score" in str(failure.value)
