"""``dagflow rotate-fernet-key``: re-encrypt the stored secrets with the newest fernet key."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state


@click.command("rotate-fernet-key")
@click.option(
    "--generate-key",
    is_flag=True,
    help="First put a freshly generated key at the top of $DAGFLOW_HOME/fernet.key (not with core.fernet_key set).",
)
@pass_state
def rotate_fernet_key(state: CliState, generate_key: bool) -> None:
    """Re-encrypt connection passwords/extras and variables with the first key; encrypt plain ones.

    The keys are core.fernet_key (comma-separated, newest first) or, when it is empty,
    the lines of $DAGFLOW_HOME/fernet.key (newest first). Afterwards the older keys can
    be removed.
    """
    from dagflow.services.secrets import rotate_fernet_key as service

    done = service(state.db, generate_key=generate_key)
    click.echo(
        f"Re-encrypted {done.reencrypted} value(s) and encrypted {done.encrypted} plain value(s) "
        f"with the first of {done.keys} key(s) in {done.key_source}."
    )
    if done.keys > 1:
        click.echo(
            "The older keys are no longer needed: remove them (keep the first) once every worker has the new one."
        )
