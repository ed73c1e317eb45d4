"""`flask --app bot registry load [--participants PATH] [--decrees PATH] [--facilities PATH] [--update-existing]`:
seed the local registry. Participants already there are kept as they are (approvals changed them) unless
``--update-existing`` is given."""
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
@click.option("--update-existing", is_flag=True, default=False,
              help="Give participants already in the registry the file's values, undoing what approved cases "
                   "changed (deaths, facility changes). Without it they are kept as they are.")
def load(participants_csv: str | None, decrees_csv: str | None, facilities_csv: str | None,
         update_existing: bool) -> None:
    """Insert participants (by card number), insert or update decrees (by number) and facilities (by code) from CSV."""
    try:
        with transaction() as session:
            loaded = load_csv(session, participants_csv, decrees_csv, facilities_csv, update_existing=update_existing)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"loaded {loaded.participants} participants, {loaded.decrees} decrees, {loaded.facilities} facilities")
    if loaded.kept:
        click.echo(f"{loaded.kept} participants already in the registry kept as they are "
                   "(--update-existing gives them the file's values)")
