"""Wiring the recognizer chain from the worker's settings: RECOGNIZERS=catalog,shazam,http,icy.

The catalog is always first. With fallbacks configured and CATALOG_LEARNING on, the catalog is
wrapped so that what the fallbacks name is learned and reported as one song; the fallbacks share
one budget per service (RECOGNIZER_REQUESTS_PER_MINUTE) across the worker's streams.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from fingerv7.audio.egress_budget import EgressBudget
from fingerv7.audio.fallback import (
    FallbackPolicy,
    FallbackService,
    LearningCatalogRecognizer,
)
from fingerv7.audio.recognition import CatalogRecognizer, Recognizer
from fingerv7.audio.remote import (
    HttpRecognizer,
    HttpRecognizerConfig,
    RemoteRecognizer,
    parse_field_mapping,
)
from fingerv7.catalog.learning import LearningCatalog
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig
from fingerv7.worker.settings import WorkerSettings


def remote_recognizers(settings: WorkerSettings) -> list[RemoteRecognizer]:
    """The external recognizers RECOGNIZERS names, in order (ICY is not one: no calls)."""
    remotes: list[RemoteRecognizer] = []
    for name in settings.recognizer_list[1:]:
        if name == "shazam":
            from fingerv7.audio.shazam import ShazamRecognizer  # optional extra

            remotes.append(ShazamRecognizer())
        elif name == "http":
            key = settings.recognizer_http_key
            remotes.append(
                HttpRecognizer(
                    HttpRecognizerConfig(
                        url=settings.recognizer_http_url or "",
                        api_key=key.get_secret_value() if key else None,
                        fields=parse_field_mapping(settings.recognizer_http_fields),
                        timeout_s=settings.recognizer_http_timeout_seconds,
                    )
                )
            )
    return remotes


def has_fallbacks(settings: WorkerSettings) -> bool:
    return len(settings.recognizer_list) > 1


def catalog_loader(
    settings: WorkerSettings,
    catalog_url: str,
    fingerprint_config: FingerprintConfig,
    match_config: MatchConfig,
) -> Callable[[], Recognizer]:
    """Opens the catalog; with CATALOG_LEARNING (the default) one that reports learned songs
    and reloads when any worker learned or forgot one, whether or not this worker has fallbacks."""
    learning = settings.catalog_learning

    def load() -> Recognizer:
        catalog = CatalogRecognizer.open(catalog_url, fingerprint_config, match_config)
        if not learning:
            return catalog
        learned = LearningCatalog(catalog.identifier.store, fingerprint_config)
        learned.create_schema()
        learned.forget_orphans()
        catalog.refresh()
        return LearningCatalogRecognizer(catalog, learned)

    return load


def fallback_loader(
    settings: WorkerSettings, window_s: float, sample_rate_hz: int
) -> Callable[[Recognizer], FallbackService] | None:
    """Builds the fallback service once the catalog is loaded (None without fallbacks)."""
    if not has_fallbacks(settings):
        return None
    if "shazam" in settings.recognizer_list and importlib.util.find_spec("shazamio") is None:
        from fingerv7.worker.processors import ProcessorUnavailable

        raise ProcessorUnavailable(  # at start-up, not when the first stream runs
            "RECOGNIZERS includes shazam but shazamio is not installed: "
            "pip install 'fingerv7[shazam]'"
        )
    policy = FallbackPolicy(
        window_s=window_s,
        sample_rate_hz=sample_rate_hz,
        hold_s=settings.recognizer_hold_seconds,
        requests_per_minute=settings.recognizer_requests_per_minute,
        cost_per_call=settings.recognizer_cost_per_call,
    )

    def build(catalog: Recognizer) -> FallbackService:
        learner = catalog if isinstance(catalog, LearningCatalogRecognizer) else None
        egress = None
        if settings.recognizer_egress and settings.redis_url:
            egress = EgressBudget(
                settings.redis_url.get_secret_value(),
                egress=settings.recognizer_egress,
                requests_per_minute=settings.recognizer_egress_requests_per_minute,
                key_prefix=settings.redis_key_prefix,
            )
        return FallbackService(
            settings.recognizer_list[1:],
            remote_recognizers(settings),
            policy,
            learner=learner,
            egress=egress,
        )

    return build
