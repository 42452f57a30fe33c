"""``phusong models``: the path-loss models, their sources and validity ranges."""
from __future__ import annotations

import click

from .options import cli_command, verbosity_options


@cli_command("models")
@verbosity_options
def command():
    """List the path-loss models with their validity ranges and sources."""
    from ..propagation.models import MODELS

    for m in MODELS.values():
        click.echo(f"{m.name}\n  {m.description}\n  source:   {m.source}\n  validity: {m.validity}"
                   f"\n  terrain:  {'profile' if m.terrain else 'distance only'}")
