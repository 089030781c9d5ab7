"""`trainmedic diagnose PATH`: name the culprit card, fault and action of a failed job from its logs."""

from __future__ import annotations

from pathlib import Path

import click

from trainmedic.catalog import CatalogLoadError
from trainmedic.cli.output import emit_json, fail, is_terminal
from trainmedic.diagnose import DiagnoseError
from trainmedic.diagnose import diagnose as run_diagnosis
from trainmedic.diagnose.catalog_cache import cached_catalog
from trainmedic.diagnose.report import markdown, summary


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict, timeline and stats as JSON.")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), help="Write an incident report (Markdown) with the timeline to FILE.md.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Reader processes (default: one per core, at most 4).")
def diagnose(path: Path, as_json: bool, report: Path | None, workers: int | None) -> None:
    """Diagnose the job whose logs are at PATH (a directory or a .tar/.tar.gz archive).

    Reads the end of every rank log, node kernel logs and card inventories in parallel, aligns the
    nodes' clocks, and names the culprit rank -> node -> card, the fault, the action and the evidence.
    """
    try:
        catalog = cached_catalog()
    except CatalogLoadError as e:
        fail(f"the fault catalog does not load: {e}", "run `trainmedic catalog check`")
    try:
        if is_terminal() and not as_json:
            d = _with_progress(path, catalog, workers)
        else:
            d = run_diagnosis(path, catalog, workers)
    except DiagnoseError as e:
        fail(str(e), e.hint or None)
    if report is not None:
        try:
            report.write_text(markdown(d, str(path)), encoding="utf-8")
        except OSError as e:
            fail(f"cannot write the report to {report}: {e.strerror or e}", "pick a writable path")
    if as_json:
        emit_json(d.to_dict())
        return
    click.echo(summary(d))
    if report is not None:
        click.echo(f"report      {report}")


def _with_progress(path: Path, catalog, workers):  # type: ignore[no-untyped-def]
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("reading logs", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run_diagnosis(path, catalog, workers, step)
