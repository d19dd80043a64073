"""The console's pages for auditors and operators: runs with their evidence, and offboarding.

Auditors (and operators) read every run, its steps, and the evidence pack of
a termination (`iam.runs.evidence`, the page `iam evidence --format html`
writes). Operators offboard: a person, a reason and a ticket; the plan is
shown; the username must be typed again to apply; the run then goes on in a
thread of the server and its page refreshes itself (no script needed) until
it is complete or partial. The run is ordered in the operator's name and
holds the person against HR like `iam offboard` (`iam.holds.terminate`).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from iam import holds, runs
from iam.actor import acting
from iam.errors import IamError
from iam.export import PRINT_STYLE, evidence_html
from iam.store import StepRow
from iam.web.jobs import JobBook, OffboardJob
from iam.web.session import WebUser, csrf_ok

if TYPE_CHECKING:
    from iam.web.console import Console


#: The evidence pack is a self-contained page with an inline style: that style (by its hash), nothing else.
EVIDENCE_CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(PRINT_STYLE.encode()).digest()).decode()
    + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class Operations:
    """Runs, evidence and offboarding pages, sharing the console's rendering and session."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rt = console.rt
        self.jobs = JobBook(console.clock)

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/runs", self.run_list, methods=["GET"]),
            Route("/runs/{run_id}", self.run_page, methods=["GET"]),
            Route("/runs/{run_id}/evidence", self.evidence, methods=["GET"]),
            Route("/offboard", self.offboard_form, methods=["GET"]),
            Route("/offboard/plan", self.offboard_plan, methods=["POST"]),
            Route("/offboard/apply", self.offboard_apply, methods=["POST"]),
            Route("/offboard/jobs/{job_id}", self.offboard_progress, methods=["GET"]),
            Route("/offboard/runs/{run_id}", self.offboard_run, methods=["GET"]),
        ]

    def _allowed(self, request: Request, *roles: str) -> WebUser | Response:
        user = self.console.signed_in(request)
        if isinstance(user, Response):
            return user
        if not user.roles & set(roles):
            return self.console.forbidden(request, f"This page is for the {' or '.join(roles)} role.")
        return user

    # runs and evidence --------------------------------------------------------

    async def run_list(self, request: Request) -> Response:
        user = self._allowed(request, "auditor", "operator")
        if isinstance(user, Response):
            return user
        username = request.query_params.get("user") or None
        found = await run_in_threadpool(self.rt.store.list_runs, username, 200)
        return self.console.page(request, "runs.html", title="Runs", runs=found, who=username or "")

    async def run_page(self, request: Request) -> Response:
        user = self._allowed(request, "auditor", "operator")
        if isinstance(user, Response):
            return user
        run_id = request.path_params["run_id"]
        run = await run_in_threadpool(self.rt.store.get_run, run_id)
        if run is None:
            return self.console.page(request, "error.html", 404, title="Not found", message="No such run.")
        steps = await run_in_threadpool(self.rt.store.run_steps, run_id)
        return self.console.page(request, "run.html", title="Run", run=run, steps=steps)

    async def evidence(self, request: Request) -> Response:
        user = self._allowed(request, "auditor", "operator")
        if isinstance(user, Response):
            return user
        try:
            pack = await run_in_threadpool(runs.evidence, self.rt, request.path_params["run_id"])
        except IamError as exc:
            return self.console.page(request, "error.html", 404, title="No evidence", message=str(exc))
        await run_in_threadpool(self.console.audit, user, "web.evidence_read", run_id=pack.run_id)
        return HTMLResponse(evidence_html(pack), headers={"Content-Security-Policy": EVIDENCE_CSP})

    # offboarding --------------------------------------------------------------

    async def offboard_form(self, request: Request) -> Response:
        user = self._allowed(request, "operator")
        if isinstance(user, Response):
            return user
        return self.console.page(request, "offboard.html", title="Offboard", plan=None, form={})

    async def _form(self, request: Request) -> tuple[WebUser, dict[str, str]] | Response:
        user = self._allowed(request, "operator")
        if isinstance(user, Response):
            return user
        form = await request.form()
        if not csrf_ok(request, form):
            return self.console.forbidden(request, "The form expired; start again.")
        fields = {k: str(form.get(k) or "").strip() for k in ("username", "reason", "ticket", "again")}
        return user, fields

    async def offboard_plan(self, request: Request) -> Response:
        got = await self._form(request)
        if isinstance(got, Response):
            return got
        _user, form = got
        error = None if form["username"] and form["reason"] else "Give the person's username and a reason."
        plan = None
        if error is None:
            try:
                runs.check_username(form["username"])
                plan = await run_in_threadpool(runs.plan_offboard, self.rt, form["username"])
            except IamError as exc:
                error = str(exc)
        status = 400 if error else 200
        return self.console.page(
            request, "offboard.html", status, title="Offboard", plan=plan, form=form, error=error
        )

    async def offboard_apply(self, request: Request) -> Response:
        got = await self._form(request)
        if isinstance(got, Response):
            return got
        user, form = got
        if not form["username"] or not form["reason"] or form["again"] != form["username"]:
            message = "Type the username again, exactly, to apply: nothing was changed."
            return self.console.page(
                request, "offboard.html", 400, title="Offboard", plan=None, form=form, error=message
            )
        job = OffboardJob(uuid.uuid4().hex, form["username"], user.username)
        self.jobs.add(job)
        threading.Thread(
            target=self._run, args=(job, user, form["reason"], form["ticket"] or None), daemon=True
        ).start()
        return RedirectResponse(f"/offboard/jobs/{job.id}", status_code=303)

    def _run(self, job: OffboardJob, user: WebUser, reason: str, ticket: str | None) -> None:
        def seen(_system: str, row: StepRow) -> None:
            job.run_id = row.run_id

        try:
            with self.console.work_lock, acting(actor=user.actor, ticket=ticket):
                job.report = holds.terminate(
                    self.rt,
                    job.username,
                    reason,
                    by=user.actor,
                    source="web",
                    confirm=lambda plan: True,
                    on_step=seen,
                )
                job.run_id = job.report.run_id or job.run_id
        except IamError as exc:
            job.error = str(exc)
        except Exception as exc:  # the thread must say it failed, whatever happened
            job.error = f"the run stopped: {type(exc).__name__}"
        finally:
            self.jobs.finish(job)

    async def offboard_progress(self, request: Request) -> Response:
        """The job until its run is journaled, then the run's own page (which outlives this server)."""
        user = self._allowed(request, "operator")
        if isinstance(user, Response):
            return user
        job = self.jobs.get(request.path_params["job_id"])
        if job is None or job.by != user.username:
            message = "No such offboarding here (a server restarted forgets it): see its run under Runs."
            return self.console.page(request, "error.html", 404, title="Not found", message=message)
        if job.run_id:
            return RedirectResponse(f"/offboard/runs/{job.run_id}", status_code=303)
        return self.console.page(
            request,
            "progress.html",
            title="Offboarding",
            username=job.username,
            verdict=job.report.status if job.report else None,
            abandoned=False,
            error=job.error,
            run_id=None,
            finished=job.done.is_set(),
            steps=[],
        )

    async def offboard_run(self, request: Request) -> Response:
        """An offboarding's progress read from the journal: it survives a restart of the server."""
        user = self._allowed(request, "operator")
        if isinstance(user, Response):
            return user
        run_id = request.path_params["run_id"]
        run = await run_in_threadpool(self.rt.store.get_run, run_id)
        if run is None or run["kind"] != "offboard":
            return self.console.page(
                request, "error.html", 404, title="Not found", message="No such offboarding."
            )
        steps = await run_in_threadpool(self.rt.store.run_steps, run_id)
        job = self.jobs.running_run(run_id)
        live = job is not None and not job.done.is_set()
        ended = run["status"] != "running"
        return self.console.page(
            request,
            "progress.html",
            title="Offboarding",
            username=run["username"],
            verdict=run["status"] if ended else None,
            error=job.error if job is not None and job.error else None,
            run_id=run_id,
            finished=not live,
            abandoned=not ended and not live and not (job and job.error),
            steps=steps,
        )
