"""``supporterflow identity-hash map``: the table an identity-hash key rotation needs.

The hashes handed out are references kept by upstream services, the user service and ERPNext
(docs/identity-hash.md), so a new key means re-keying every stored hash. supporterflow keeps no
identities, but the user service does: it exports them (``kind,content`` per line), this command
prints ``kind,old_hash,new_hash`` for each, and each holder replaces old by new. Then the new key
is configured. The contents never leave this process: only hashes are written."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from supporterflow.bootstrap import identity_key
from supporterflow.domain.supporters.fields import normalise_uk_phone_number
from supporterflow.domain.supporters.identity_hash import identity_hash
from supporterflow.entrypoints.cli_common import err, settings_or_exit

identity_app = typer.Typer(no_args_is_help=True, help="The identity hash: what a key rotation needs.")

KINDS = ("email", "mobile")


def _normalised(kind: str, content: str) -> str:
    """As validation hands the content to the hash (spec §2.3 for mobiles)."""
    if kind == "mobile":
        return str(normalise_uk_phone_number(None, content.strip(), None))  # type: ignore[arg-type]
    return content


def write_map(rows: TextIO, out: TextIO, old_key: bytes, new_key: bytes) -> int:
    """``kind,old_hash,new_hash`` for every ``kind,content`` row; returns how many. A row that is
    not an email or a mobile stops the run with its line number (nothing is guessed)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "old_hash", "new_hash"])
    count = 0
    for line, row in enumerate(csv.reader(rows), start=1):
        if not row or (line == 1 and row[:2] == ["kind", "content"]):
            continue
        if len(row) != 2 or row[0] not in KINDS or not row[1].strip():
            raise ValueError(f"line {line}: expected kind,content with kind email or mobile")
        kind, content = row[0], _normalised(row[0], row[1])
        writer.writerow([kind, identity_hash(old_key, kind, content), identity_hash(new_key, kind, content)])
        count += 1
    return count


@identity_app.command("map")
def map_command(
    new_key_file: Annotated[
        Path, typer.Option(help="a file holding the new key (as SF_IDENTITY_HASH_KEY would)", exists=True)
    ],
    identities: Annotated[
        Path | None, typer.Argument(help="CSV of kind,content (the user service's export); - or none: stdin")
    ] = None,
) -> None:
    """Print kind,old_hash,new_hash for each identity, the old hash under the configured key."""
    settings = settings_or_exit()
    new_key = new_key_file.read_text().strip().encode()
    old_key = identity_key(settings)
    if not new_key:
        err.print(f"[red]{new_key_file} is empty[/red]")
        raise typer.Exit(2)
    if new_key == old_key:
        err.print("[red]the new key is the configured key[/red]: nothing would change")
        raise typer.Exit(2)
    source = sys.stdin if identities is None or str(identities) == "-" else identities.open(newline="")
    try:
        count = write_map(source, sys.stdout, old_key, new_key)
    except ValueError as error:
        err.print(f"[red]{error}[/red]; nothing to use: fix the input and run again")
        raise typer.Exit(2) from None
    finally:
        if source is not sys.stdin:
            source.close()
    err.print(f"{count} identities mapped")
