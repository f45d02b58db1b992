"""`curate prompts`: the prompt templates (prompts/<task>/<version>.j2), as files and as rendered messages."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from curators.errors import CurateError
from flows.cli.console import err, out
from flows.cli.options import context

app = typer.Typer(help="Prompt templates (prompts/<task>/<version>.j2).", no_args_is_help=True)


@app.command("list")
def prompts_list() -> None:
    """Every prompt version with its id, output model and description."""
    from curators.llm.prompts import list_prompts

    table = Table("prompt id", "output", "params", "description")
    for p in list_prompts():
        table.add_row(p.prompt_id, p.output or "text", json.dumps(p.params), p.description)
    out.print(table)


@app.command("show")
def prompts_show(task: str = typer.Argument(..., help="task or task@version")) -> None:
    """Print a template file as it is."""
    from curators.llm.prompts import load_prompt

    prompt = load_prompt(task)
    err.print(f"{prompt.prompt_id}  ({prompt.path})")
    out.print(prompt.text, markup=False, highlight=False)


@app.command("render")
def prompts_render(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task or task@version"),
    doc: str | None = typer.Option(None, "--doc", help="Document id from the warehouse."),
    text: str | None = typer.Option(None, "--text", help="Literal text instead of a document."),
    max_doc_tokens: int = typer.Option(1024, "--max-doc-tokens", help="Cut the document as labelling does."),
) -> None:
    """Show exactly the messages a model will receive for a document."""
    from curators.filter.label import truncate
    from curators.llm.prompts import load_prompt
    from warehouse.catalog import query as run_query

    prompt = load_prompt(task)
    language = None
    if doc:
        _, rows = run_query(
            context(ctx).config().settings.data_root,
            "SELECT text, json_extract_string(meta, '$.language') FROM docs WHERE id = ?",
            [doc],
        )
        if not rows:
            raise CurateError(
                f"no document with id {doc}", hint='find ids with `curate sql "SELECT id, locator FROM docs"`'
            )
        text, language = rows[0]
    if text is None:
        raise CurateError("give --doc ID or --text TEXT")
    body, truncated = truncate(text, max_doc_tokens)
    for message in prompt.render(text=body, truncated=truncated, language=language):
        out.print(f"--- {message['role']} ---", style="bold")
        out.print(message["content"], markup=False, highlight=False)
    err.print(
        f"{prompt.prompt_id} · params {json.dumps(prompt.params)}" + (" · document truncated" if truncated else "")
    )
