"""`flask --app bot registry load [--participants PATH] [--decrees PATH] [--facilities PATH]`: seed the local
registry."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from handlers.registry import load_csv
from storage.db import transaction

registry_cli = AppGroup("registry", help="The local membership registry (demo participants, decrees, facilities).")


@registry_cli.command("load")
@click.option("--participants", "participants_csv", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Participants CSV (default: storage/seed/participants.csv).")
@click.option("--decrees", "decrees_csv", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Decrees CSV (default: storage/seed/decrees.csv).")
@click.option("--facilities", "facilities_csv", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Primary care facilities CSV (default: storage/seed/facilities.csv).")
def load(participants_csv: str | None, decrees_csv: str | None, facilities_csv: str | None) -> None:
    """Insert or update participants (by card number), decrees (by number) and facilities (by code) from CSV."""
    try:
        with transaction() as session:
            n_participants, n_decrees, n_facilities = load_csv(session, participants_csv, decrees_csv, facilities_csv)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"loaded {n_participants} participants, {n_decrees} decrees, {n_facilities} facilities")
