"""Is a window worth an external recognizer's call? Not when it is silence or a voice alone.

Speech stops between syllables and words, many times a second; music (even with a presenter
talking over it) keeps sounding. So the share of 20 ms frames that are near-silent *relative to
the window's own median level* tells a presenter alone from music, whatever the loudness. The
thresholds were set on the test music and speech generators (music: ≤ 0.06 of frames quiet,
speech alone: about 0.33) and leave a wide margin on both sides.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt

SILENCE_DBFS = -50.0
FRAME_S = 0.02
QUIET_FRAME_FRACTION_OF_MEDIAN = 0.05
SPEECH_QUIET_FRAMES = 0.2


class AudioKind(StrEnum):
    SILENCE = "silence"
    SPEECH = "speech"
    MUSIC = "music"


def classify_audio(samples: npt.ArrayLike, sample_rate_hz: int) -> AudioKind:
    """Silence, a voice alone, or (anything else) music worth naming."""
    pcm = np.asarray(samples, dtype=np.float64).reshape(-1)
    if pcm.size == 0:
        return AudioKind.SILENCE
    rms = float(np.sqrt(np.mean(pcm**2)))
    if 20.0 * np.log10(rms + 1e-12) < SILENCE_DBFS:
        return AudioKind.SILENCE
    frame = max(1, int(FRAME_S * sample_rate_hz))
    count = pcm.size // frame
    if count < 10:
        return AudioKind.MUSIC  # too short to judge: let the recognizer decide
    energy = np.mean(pcm[: count * frame].reshape(count, frame) ** 2, axis=1)
    quiet = float(np.mean(energy < QUIET_FRAME_FRACTION_OF_MEDIAN * float(np.median(energy))))
    return AudioKind.SPEECH if quiet > SPEECH_QUIET_FRAMES else AudioKind.MUSIC
