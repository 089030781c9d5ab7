"""`trainmedic diagnose PATH`: name the culprit card, fault and action of a failed job from its logs."""

from __future__ import annotations

import gc
from pathlib import Path

import click

from trainmedic.catalog import CatalogLoadError
from trainmedic.cli.output import emit_json, ends_after_command, exit_without_teardown, fail, is_terminal
from trainmedic.diagnose import DiagnoseError
from trainmedic.diagnose import diagnose as run_diagnosis
from trainmedic.diagnose.catalog_cache import cached_catalog
from trainmedic.diagnose.result import Diagnosis
from trainmedic.model import Incident, KnownFault, Symptom


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict, timeline and stats as JSON.")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), help="Write an incident report (Markdown) with the timeline to FILE.md.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Reader processes, this one included (default: one per core, at most 4).")
@click.option("--record", is_flag=True, help="Record the incident (and a second fault) in the fleet store.")
@click.option("--db", "db_url", default=None, help="Fleet store URL for --record [default: TRAINMEDIC_DB_URL or the SQLite file].")
def diagnose(path: Path, as_json: bool, report: Path | None, workers: int | None, record: bool, db_url: str | None) -> None:
    """Diagnose the job whose logs are at PATH (a directory or a .tar/.tar.gz archive).

    Reads the end of every rank log, node kernel logs and card inventories in parallel, aligns the
    nodes' clocks, and names the culprit rank -> node -> card, the fault, the action and the evidence.
    """
    # A process that ends with this command does without what only a long-lived one needs: the
    # cyclic collector (one pass over the millions of objects of the scan costs 0.45 s) and freeing
    # the scan object by object when the diagnosis returns (0.2 s); it is held until the exit.
    ending = ends_after_command() and not record
    keep = _HELD if ending else None
    if ending:
        gc.disable()
    try:
        catalog = cached_catalog()
    except CatalogLoadError as e:
        fail(f"the fault catalog does not load: {e}", "run `trainmedic catalog check`")
    try:
        if is_terminal() and not as_json:
            d = _with_progress(path, catalog, workers, keep)
        else:
            d = run_diagnosis(path, catalog, workers, keep=keep)
    except DiagnoseError as e:
        fail(str(e), e.hint or None)
    if report is not None:
        from trainmedic.diagnose.report import markdown

        try:
            report.write_text(markdown(d, str(path)), encoding="utf-8")
        except OSError as e:
            fail(f"cannot write the report to {report}: {e.strerror or e}", "pick a writable path")
    recorded = _record(d, path, db_url) if record else []
    if as_json:
        out = d.to_dict()
        if record:
            out["recorded"] = recorded
        emit_json(out)
    else:
        from trainmedic.diagnose.report import summary  # text output only: `--json` does without it

        click.echo(summary(d))
        if report is not None:
            click.echo(f"report      {report}")
        for incident_id in recorded:
            click.echo(f"recorded    incident {incident_id} (trainmedic incidents show {incident_id})")
    if ending:  # all written, nothing open
        exit_without_teardown()


_SYMPTOMS: dict[str, Symptom] = {
    KnownFault.HANG: Symptom.HANG,
    KnownFault.NODE_LOST: Symptom.HANG,
    KnownFault.STRAGGLER: Symptom.STRAGGLER,
    KnownFault.NAN: Symptom.NAN,
    KnownFault.USER_EXCEPTION: Symptom.EXCEPTION,
    KnownFault.CRASH: Symptom.CRASH,
}


def _record(d: Diagnosis, path: Path, db_url: str | None) -> list[str]:
    """Store the verdict (and a second fault) as incidents; the id is stable for the same logs."""
    import hashlib

    from trainmedic.cli.fleet import fail_store, store_or_fail
    from trainmedic.store import StoreError

    key = hashlib.sha1(f"{path.resolve()}|{d.first_error_at}".encode()).hexdigest()[:12]
    timeline = {"fault": d.first_error_at} if d.first_error_at is not None else {}
    incidents = [
        Incident(
            id=f"diagnose-{key}-{i}",
            job=path.resolve().name,
            source="diagnose",
            symptom=_SYMPTOMS.get(v.fault, Symptom.LOG_ERROR),
            verdict=v,
            timeline=timeline,
            outcome=f"diagnosed offline from {path}",
        )
        for i, v in enumerate(x for x in (d.verdict, d.second) if x is not None)
    ]
    with store_or_fail(db_url) as store:
        try:
            return [store.record_incident(inc) for inc in incidents]
        except StoreError as e:
            fail_store(e)


_HELD: list[object] = []
"""The diagnosis's raw scan, held until the process exits rather than freed object by object."""


def _with_progress(path: Path, catalog, workers, keep):  # type: ignore[no-untyped-def]
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("reading logs", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run_diagnosis(path, catalog, workers, step, keep=keep)
