"""The console's pages: sign-in and out, and a reviewer's campaigns (``/reviews``).

Server-rendered (Jinja2 with autoescape: a hostile display name is shown as
text), no script, every form carrying the session's CSRF token. Every
decision is made as the signed-in person (`iam.actor.acting`), so the audit
log names them and `iam.certify` checks that they may decide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from iam import certify
from iam.actor import acting
from iam.errors import IamError
from iam.runtime import Runtime
from iam.web import reviews
from iam.web.insight import Insight
from iam.web.operate import Operations
from iam.web.session import WebUser, csrf_ok, csrf_token, current_user, sign_in
from iam.web.settings import WebSettings
from iam.web.signin import SignInRefused, ldap_sign_in, oidc_user

HERE = Path(__file__).parent


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to another."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


class Console:
    """The console bound to one runtime; ``routes`` are mounted by `iam.web.app.create_app`."""

    def __init__(
        self, rt: Runtime, web: WebSettings, clock: Callable[[], datetime], work_lock: threading.Lock
    ) -> None:
        self.rt = rt
        self.web = web
        self.clock = clock
        self.work_lock = work_lock
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates = Jinja2Templates(env=env)
        self.oauth: Any = None
        if web.oidc is not None:
            from authlib.integrations.starlette_client import OAuth

            oidc = web.oidc
            self.oauth = OAuth()
            self.oauth.register(
                name="idp",
                server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_id=oidc.client_id,
                client_secret=oidc.client_secret.reveal(),
                client_kwargs={"scope": " ".join(oidc.scopes), "verify": oidc.verify_tls},
            )

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login_ldap, methods=["POST"]),
            Route("/login/sso", self.login_sso, methods=["GET"]),
            Route("/auth/callback", self.sso_callback, methods=["GET"], name="sso_callback"),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/reviews", self.review_list, methods=["GET"]),
            Route("/reviews/{campaign_id}", self.review_page, methods=["GET"]),
            Route("/reviews/{campaign_id}", self.review_submit, methods=["POST"]),
            *(operations := Operations(self)).routes,
            *Insight(self, operations).routes,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    # rendering --------------------------------------------------------------

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("user", current_user(request))
        context.setdefault("error", None)
        context["csrf"] = csrf_token(request)
        context["sso"] = self.web.oidc is not None
        context["ldap"] = self.web.ldap is not None
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def forbidden(self, request: Request, why: str) -> Response:
        return self.page(request, "error.html", 403, title="Not yours", message=why)

    def signed_in(self, request: Request) -> WebUser | Response:
        user = current_user(request)
        if user is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return user

    def audit(self, user: WebUser | None, event: str, **fields: Any) -> None:
        with acting(actor=user.actor if user else None):
            self.rt.audit.record(event, **fields)

    # sign-in ----------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        user = self.signed_in(request)
        if isinstance(user, Response):
            return user
        return self.page(request, "home.html", title="iam")

    async def login_form(self, request: Request) -> Response:
        return self.page(
            request, "login.html", title="Sign in", next=_safe_next(request.query_params.get("next"))
        )

    async def login_ldap(self, request: Request) -> Response:
        form = await request.form()
        target = _safe_next(str(form.get("next") or "/"))
        if not csrf_ok(request, form):
            return self.page(
                request, "login.html", 403, title="Sign in", next=target, error="The form expired; try again."
            )
        if self.web.ldap is None:
            return self.page(
                request, "login.html", 404, title="Sign in", next=target, error="Sign in with single sign-on."
            )
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        try:
            user = await run_in_threadpool(ldap_sign_in, self.web, self.web.ldap, username, password)
        except SignInRefused as exc:
            await run_in_threadpool(self.audit, None, "web.signin_refused", username=username, method="ldap")
            return self.page(request, "login.html", 401, title="Sign in", next=target, error=str(exc))
        return await self._start(request, user, "ldap", target)

    async def _start(
        self, request: Request, user: WebUser, method: str, target: str, id_token: str | None = None
    ) -> Response:
        sign_in(request, user, self.clock())
        if id_token:  # kept to end the provider's session at sign-out (`iam.web.idp_logout`)
            request.session["id_token"] = id_token
        await run_in_threadpool(self.audit, user, "web.signin", method=method, roles=sorted(user.roles))
        return RedirectResponse(target, status_code=303)

    async def login_sso(self, request: Request) -> Response:
        if self.oauth is None:
            return self.page(
                request,
                "login.html",
                404,
                title="Sign in",
                next="/",
                error="Single sign-on is not configured.",
            )
        request.session["next"] = _safe_next(request.query_params.get("next"))
        base = self.web.public_url.rstrip("/") if self.web.public_url else str(request.base_url).rstrip("/")
        response: Response = await self.oauth.idp.authorize_redirect(request, base + "/auth/callback")
        return response

    async def sso_callback(self, request: Request) -> Response:
        if self.oauth is None or self.web.oidc is None:
            return self.page(
                request,
                "login.html",
                404,
                title="Sign in",
                next="/",
                error="Single sign-on is not configured.",
            )
        from authlib.integrations.base_client.errors import OAuthError

        try:
            token = await self.oauth.idp.authorize_access_token(request)
            claims = dict(token.get("userinfo") or {})
            claims.update(await self.oauth.idp.userinfo(token=token))
            user = oidc_user(self.web, self.web.oidc, claims)
        except (OAuthError, SignInRefused) as exc:
            await run_in_threadpool(self.audit, None, "web.signin_refused", method="oidc")
            message = (
                str(exc) if isinstance(exc, SignInRefused) else "the identity provider refused the sign-in"
            )
            return self.page(request, "login.html", 401, title="Sign in", next="/", error=message)
        target = _safe_next(request.session.get("next"))
        id_token = token.get("id_token")
        return await self._start(
            request, user, "oidc", target, id_token if isinstance(id_token, str) else None
        )

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        user = current_user(request)
        if not csrf_ok(request, form):
            return self.forbidden(request, "The form expired; sign out again.")
        id_token = request.session.get("id_token")
        request.session.clear()
        if user:
            await run_in_threadpool(self.audit, user, "web.signout")
        if self.oauth is None or not isinstance(id_token, str):
            return RedirectResponse("/login", status_code=303)
        from iam.web.idp_logout import ProviderUnreachable, end_session_url

        base = self.web.public_url.rstrip("/") if self.web.public_url else str(request.base_url).rstrip("/")
        try:
            url = await end_session_url(self.oauth.idp, id_token, base + "/login")
        except ProviderUnreachable:
            url = None
        if url is None:  # signed out here only: say so, the provider may sign them straight back in
            message = "Signed out of the console, but the identity provider could not end its own session."
            return self.page(request, "login.html", 200, title="Sign in", next="/", error=message)
        return RedirectResponse(url, status_code=303)

    # reviews ----------------------------------------------------------------

    async def review_list(self, request: Request) -> Response:
        user = self.signed_in(request)
        if isinstance(user, Response):
            return user
        if "reviewer" not in user.roles:
            return self.forbidden(request, "Reviewing access is not among your roles.")
        campaigns = await run_in_threadpool(reviews.campaigns_for, self.rt, user.username)
        return self.page(request, "reviews.html", title="My reviews", campaigns=campaigns, now=self.clock())

    async def _campaign(self, request: Request) -> tuple[WebUser, reviews.CampaignView] | Response:
        user = self.signed_in(request)
        if isinstance(user, Response):
            return user
        found = await run_in_threadpool(reviews.campaign, self.rt, request.path_params["campaign_id"])
        if found is None:
            return self.page(request, "error.html", 404, title="Not found", message="No such campaign.")
        if "reviewer" not in user.roles or not reviews.may_decide_for(self.rt, user.username, found.manager):
            await run_in_threadpool(
                self.audit, user, "web.forbidden", campaign=found.id, manager=found.manager
            )
            return self.forbidden(request, "This campaign is another manager's: you may not open it.")
        return user, found

    async def review_page(self, request: Request) -> Response:
        got = await self._campaign(request)
        if isinstance(got, Response):
            return got
        _user, campaign = got
        return await self._review(request, campaign, None)

    async def _review(self, request: Request, campaign: reviews.CampaignView, result: Any) -> Response:
        now = self.clock()
        why = await run_in_threadpool(reviews.grounds_of, self.rt, campaign, now.date())
        return self.page(
            request, "review.html", title="Review", campaign=campaign, now=now, result=result, why=why
        )

    async def review_submit(self, request: Request) -> Response:
        got = await self._campaign(request)
        if isinstance(got, Response):
            return got
        user, campaign = got
        form = await request.form()
        if not csrf_ok(request, form):
            return self.forbidden(request, "The form expired; reload the page and decide again.")
        bulk = str(form.get("bulk") or "")
        rows = []
        for n, item in enumerate(campaign.items):
            decision = str(form.get(f"d{n}") or "") or bulk
            if decision:
                rows.append(
                    {"item": item["item"], "decision": decision, "comment": str(form.get(f"c{n}") or "")}
                )

        def decide() -> Any:
            with self.work_lock, acting(actor=user.actor):
                return certify.apply_decisions(self.rt, campaign.id, rows, self.clock(), "console")

        try:
            result = await run_in_threadpool(decide)
        except IamError as exc:
            return self.page(request, "error.html", 400, title="Not decided", message=str(exc))
        fresh = await run_in_threadpool(reviews.campaign, self.rt, campaign.id)
        return await self._review(request, fresh or campaign, result)
