#!/bin/sh
# Installs the real-music corpus (Debian game soundtracks, one album of songs with vocals) and the
# tools the query generator uses (sox for the broadcast chain and speed, espeak-ng for a presenter).
# Benchmark set-up only: tests never install anything. Needs root (or sudo) and apt.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES="drascula-music colobot-common-sounds hyperrogue-music asc-music fretsonfire-songs-muldjord"
# Never catalogued: the larger negative set (make_queries.py --negatives-only), 41 recordings,
# and a third, fresh one (SuperTux, FreedroidRPG, LinCity-NG music; docs/fingerprint.md).
PACKAGES="$PACKAGES wesnoth-1.16-music supertux-data freedroidrpg-data lincity-ng-data"
# Never queried: the padding source of bench_catalog_scale.py (corpus/padding_source.py).
PADDING="naev-data widelands-data megaglest-data hedgewars-data supertuxkart-data warzone2100-music"
PADDING="$PADDING frozen-bubble-data xmoto-data openclonk-data fillets-ng-data flare-game"
PADDING="$PADDING extremetuxracer-data endless-sky-data nexuiz-music"
TOOLS="sox libsox-fmt-mp3 espeak-ng"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $PACKAGES $PADDING $TOOLS
for package in $PACKAGES; do
    echo "$package: $(dpkg -L "$package" | grep -ciE '\.(ogg|mp3|flac|wav)$') audio files"
done
