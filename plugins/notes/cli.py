"""`zhongcao notes publish-due|moderation-check` (registered by register_cli_commands)."""

from __future__ import annotations

import asyncio

import click


@click.group("notes")
def notes() -> None:
    """Notes: scheduled publishing and moderation."""


@notes.command("publish-due")
def publish_due_cmd() -> None:
    """Publish the scheduled notes whose time has come (what the `notes.publish_due` job
    does every tick; safe to run at any time, and twice)."""
    from core.cli import _runtime, _with_dispose
    from plugins.notes.notes import publish_due

    runtime = _runtime()
    count = asyncio.run(_with_dispose(runtime, publish_due(runtime)))
    click.echo(f"published {count} note(s)")


@notes.command("moderation-check")
@click.argument("text")
@click.option("--kind", type=click.Choice(["note", "comment"]), default="note", show_default=True)
def moderation_check(text: str, kind: str) -> None:
    """Show the verdict every `moderate_content` implementation reaches on TEXT (try
    your ZHONGCAO_NOTES_BLOCKLIST / ZHONGCAO_NOTES_HOLDLIST)."""
    from core.cli import _runtime, _with_dispose
    from plugins.notes.moderation import moderate

    runtime = _runtime()
    verdict = asyncio.run(_with_dispose(runtime, moderate(runtime, kind, text, None)))
    click.echo(verdict.verdict + ("" if not verdict.reasons else ": " + "; ".join(verdict.reasons)))
