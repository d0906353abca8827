"""`fingerv7 env`: one environment file per worker instance, as the manual's deploy script made.

The manual deploys each instance as its own EasyPanel app whose variables differ only by
`INSTANCE_ID`/`SERVER_ID`; this command writes `fingerv7-001.env` ... `fingerv7-NNN.env` with
those set and every secret as a `<placeholder>` (or taken from `--base`, a filled-in copy of
`deploy/worker.env.example`). It never overwrites a file unless told to with `--force`.

Each file's ORCHESTRATOR_API_KEY is that instance's own key, derived from
ORCHESTRATOR_INSTANCE_SECRET when the environment (or `.env`) has it, else a placeholder naming
the command that prints it. Never the secret, never another instance's key, never a key from
`--base`: a file leaked from one worker lets its holder act as that worker only.

`SERVER_ID` is the 1-based shard number that static sharding (`USE_ORCHESTRATOR=false`) needs;
the orchestrator identifies instances by `INSTANCE_ID`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from fingerv7.cli.keys import instance_secret
from fingerv7.core.credentials import instance_key

# The worker's variables in sections, with defaults or placeholders; deploy/worker.env.example is
# the same list (a unit test keeps them equal).
WORKER_ENV_TEMPLATE: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "VPN: read by the gluetun container beside the worker, not by the worker",
        (
            ("VPN_SERVICE_PROVIDER", "protonvpn"),
            ("VPN_TYPE", "wireguard"),
            ("WIREGUARD_PRIVATE_KEY", "<wireguard-private-key>"),
            ("SERVER_COUNTRIES", "Netherlands"),
        ),
    ),
    (
        "Orchestrator",
        (
            ("USE_ORCHESTRATOR", "true"),
            ("ORCHESTRATOR_URL", "https://<orchestrator-host>"),
            ("ORCHESTRATOR_API_KEY", "<instance-key>"),
            ("INSTANCE_ID", "fingerv7-001"),
            ("SERVER_ID", "1"),
            ("MAX_STREAMS", "50"),
            ("HEARTBEAT_INTERVAL", "30"),
            ("WORKER_HTTP_PORT", "8081"),
        ),
    ),
    (
        "External PostgreSQL where identifications are written",
        (
            ("POSTGRES_HOST", "<external-postgres-host>"),
            ("POSTGRES_PORT", "5432"),
            ("POSTGRES_DB", "music_log"),
            ("POSTGRES_USER", "<postgres-user>"),
            ("POSTGRES_PASSWORD", "<postgres-password>"),
            ("MUSIC_LOG_TABLE", "music_log"),
        ),
    ),
    (
        "Redis presence (what the original dashboard reads)",
        (
            ("REDIS_URL", "redis://default:<redis-password>@<redis-host>:6379/0"),
            ("REDIS_CHANNEL", "smf:server_heartbeats"),
            ("REDIS_KEY_PREFIX", "smf:server"),
            ("REDIS_HEARTBEAT_TTL_SECS", "120"),
        ),
    ),
    (
        "Processing: identify songs against the catalog (fill it with `fingerv7 catalog add`)",
        (
            ("PROCESSOR", "fingerprint"),
            (
                "CATALOG_DATABASE_URL",
                "postgresql://<catalog-user>:<catalog-password>@<catalog-host>:5432/fingerv7",
            ),
            ("IDENTIFICATION_DURATION", "15"),
            ("DUPLICATE_PREVENTION_WINDOW_SECONDS", "900"),
        ),
    ),
    (
        "Static sharding, used only when USE_ORCHESTRATOR=false",
        (
            ("DISTRIBUTE_LOAD", "true"),
            ("TOTAL_SERVERS", "8"),
            ("ENABLE_ROTATION", "false"),
            ("ROTATION_HOURS", "24"),
        ),
    ),
    ("General", (("LOG_LEVEL", "INFO"), ("TZ", "America/Sao_Paulo"))),
)

# A worker reads the manual's DB_TABLE_NAME as its music_log table, but to the orchestrator the
# same name is the streams table: generated files carry only the unambiguous name.
_MANUAL_NAMES = {"DB_TABLE_NAME": "MUSIC_LOG_TABLE"}
_PER_INSTANCE = frozenset(
    {"INSTANCE_ID", "SERVER_ID", "TOTAL_SERVERS", "ORCHESTRATOR_API_KEY", "WORKER_HTTP_PORT"}
)
# Orchestrator-side secrets: never written into a worker's file, even if the base has them.
_NEVER_COPIED = frozenset({"ORCHESTRATOR_INSTANCE_SECRET", "ORCHESTRATOR_ADMIN_KEY"})
DEFAULT_WORKER_HTTP_PORT = 8081
_INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_INSTANCES = 999  # three-digit numbering, as the manual's fingerv7-001 ... fingerv7-008


def instance_id(prefix: str, number: int) -> str:
    """`fingerv7-001`: the manual's naming, valid as a protocol `instance_id`."""
    candidate = f"{prefix}-{number:03d}"
    if not _INSTANCE_ID_PATTERN.fullmatch(candidate):
        raise ValueError(
            f"instance id {candidate!r} is invalid: use 1-64 characters of [A-Za-z0-9._-]"
        )
    return candidate


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines (optionally `export`ed or quoted); comments and blank lines are skipped."""
    values: dict[str, str] = {}
    for line_number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"line {line_number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _base_port(overrides: Mapping[str, str]) -> int:
    value = overrides.get("WORKER_HTTP_PORT", str(DEFAULT_WORKER_HTTP_PORT))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORKER_HTTP_PORT in the base file is not a number: {value!r}") from None


def _documented_names(base: Mapping[str, str]) -> dict[str, str]:
    """The base file's values under the documented names; a documented name set beside the
    manual's wins, as it does in the worker."""
    values = dict(base)
    for manual_name, documented in _MANUAL_NAMES.items():
        if manual_name in values:
            values.setdefault(documented, values.pop(manual_name))
    return values


def render_instance_env(
    number: int,
    *,
    prefix: str,
    total_servers: int,
    base: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> str:
    """The text of one instance's env file; `base` overrides defaults and adds extra variables.

    With `secret` (ORCHESTRATOR_INSTANCE_SECRET) the file gets the instance's own key.
    """
    overrides = _documented_names(base or {})
    name = instance_id(prefix, number)
    per_instance = {
        "INSTANCE_ID": name,
        "SERVER_ID": str(number),
        "TOTAL_SERVERS": str(total_servers),
        "ORCHESTRATOR_API_KEY": (
            instance_key(secret, name) if secret else f"<output of: fingerv7 instance-key {name}>"
        ),
        # Instance 1 gets the base port, the next one the port after: several workers on one
        # host (or one Prometheus target list) never collide.
        "WORKER_HTTP_PORT": str(_base_port(overrides) + number - 1),
    }
    lines = [f"# FingerV7 worker {per_instance['INSTANCE_ID']}: generated by `fingerv7 env`."]
    known: set[str] = set()
    for title, variables in WORKER_ENV_TEMPLATE:
        lines += ["", f"# {title}"]
        for key, default in variables:
            known.add(key)
            value = per_instance.get(key, overrides.get(key, default))
            lines.append(f"{key}={value}")
    skipped = known | _PER_INSTANCE | _NEVER_COPIED
    extra = {key: value for key, value in overrides.items() if key not in skipped}
    if extra:
        lines += ["", "# From the base file"]
        lines += [f"{key}={value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def write_instance_env_files(
    out_dir: Path,
    *,
    instances: int,
    start: int = 1,
    prefix: str = "fingerv7",
    force: bool = False,
    base: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> list[Path]:
    """Write `instances` files numbered from `start`: all of them, or none if any exists.

    Files are created readable by their owner only, since a filled-in base holds secrets.
    """
    last = start + instances - 1
    if instances < 1 or start < 1 or last > _MAX_INSTANCES:
        raise ValueError(f"instance numbers must lie within 1..{_MAX_INSTANCES}")
    paths = {
        number: out_dir / f"{instance_id(prefix, number)}.env" for number in range(start, last + 1)
    }
    existing = [path.name for path in paths.values() if path.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{len(existing)} file(s) already exist ({', '.join(existing[:3])}"
            f"{', ...' if len(existing) > 3 else ''}); pass --force to overwrite"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, path in paths.items():
        text = render_instance_env(
            number, prefix=prefix, total_servers=last, base=base, secret=secret
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    return list(paths.values())


def env_command(
    instances: Annotated[
        int, typer.Option("--instances", "-n", min=1, max=_MAX_INSTANCES, help="How many files.")
    ] = 8,
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Folder to write them to.")
    ] = Path("."),
    prefix: Annotated[str, typer.Option(help="Instance id prefix: PREFIX-001, ...")] = "fingerv7",
    start: Annotated[
        int, typer.Option(min=1, help="First instance number (to add instances later).")
    ] = 1,
    base: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Filled-in worker.env to take values from."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Write a worker env file per instance: its id and its own key; other secrets as placeholders.

    The keys are derived from ORCHESTRATOR_INSTANCE_SECRET (environment or .env) when it is set.
    """
    secret = instance_secret()
    try:
        base_values = parse_env_file(base.read_text(encoding="utf-8")) if base else None
        paths = write_instance_env_files(
            out,
            instances=instances,
            start=start,
            prefix=prefix,
            force=force,
            base=base_values,
            secret=secret,
        )
    except (ValueError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    for path in paths:
        typer.echo(f"wrote {path}")
    if secret is None:
        typer.echo(
            "ORCHESTRATOR_INSTANCE_SECRET is not set: each ORCHESTRATOR_API_KEY is a placeholder "
            "naming the command that prints it."
        )
    if base is None:
        typer.echo("Replace every <placeholder> before deploying (or pass --base FILE).")


def register(app: typer.Typer) -> None:
    """Add `fingerv7 env` to the command line."""
    app.command("env")(env_command)
