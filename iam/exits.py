"""The `iam` command's exit codes (the table in `iam.cli`'s docstring), and the one a result calls for.

Kept apart from the CLI so that its start-up (``iam --help``) loads no
document model: they are imported when there is a result to judge.
"""

from __future__ import annotations

from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_FINDINGS = 0, 1, 2, 3, 4


def exit_code(document: Any) -> int:
    """The exit code a result calls for; a document with no rule of its own is 0."""
    from iam import report as r

    if isinstance(document, r.RunReport):
        if document.status == "not_found":
            return EXIT_USAGE
        if document.status == "cancelled":  # answered "no": like `terraform apply`, not a success
            return EXIT_ERROR
        return EXIT_PARTIAL if document.status == "partial" or document.unplannable else EXIT_OK
    if isinstance(document, r.StatusReport):
        return EXIT_PARTIAL if any(s.result == "error" for s in document.systems) else EXIT_OK
    if isinstance(document, r.LifecycleReport):
        if document.partial:
            return EXIT_PARTIAL
        if document.needs_a_look:
            return EXIT_USAGE
        return EXIT_FINDINGS if document.held else EXIT_OK
    if isinstance(document, r.ConnectorChecks):
        return EXIT_OK if all(c.ok for c in document.root) else EXIT_USAGE
    if isinstance(document, r.SweepResult):
        if document.summary.errors:  # a system could not be read: what it grants is unknown
            return EXIT_PARTIAL
        return EXIT_FINDINGS if document.findings else EXIT_OK
    if isinstance(document, r.Remediation):
        return EXIT_PARTIAL if document.partial else EXIT_OK
    if isinstance(document, r.CertificationResult):
        if any(run.status != "complete" for run in document.revoked):
            return EXIT_PARTIAL
        if document.rejected:
            return EXIT_USAGE
        return EXIT_FINDINGS if document.overdue else EXIT_OK
    if isinstance(document, r.BatchReport):  # the worst of the runs
        if any(exit_code(run) == EXIT_PARTIAL for run in document.runs):
            return EXIT_PARTIAL
        if document.failed or any(exit_code(run) != EXIT_OK for run in document.runs):
            return EXIT_USAGE
        return EXIT_OK
    return EXIT_OK
