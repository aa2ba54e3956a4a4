"""The operator dashboard under ``/admin``: server-rendered pages (Jinja2, autoescaped) with a
little JavaScript (auto-refresh, confirmation dialogs). Pages:

- ``/admin``: queue and DLQ depths with trends, consumer rates, the newest notifications and
  supporter events, and the search box;
- ``/admin/queues/{queue}/dead-letters``: a DLQ's messages with their failure reasons; replay or
  delete them (all or the selected ones) after a confirmation;
- ``/admin/subscriptions/{ref}``: one subscription's timeline (``functions/subscription_timeline``);
- ``/admin/supporter-events/{id}``: one supporter event's path (validation, user service, each ERP
  document);
- ``/admin/users/{user_id}``: a user's linked subscriptions.

The search is a POST (a purchase token typed in never lands in a URL or an access log) that
redirects to the page of what it found. Every value shown goes through ``display.safe``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.admin.auth import AdminAuth
from supporterflow.entrypoints.http.admin.display import References, safe, safe_json, shown_id
from supporterflow.entrypoints.http.admin.oidc_login import (
    CALLBACK_PATH,
    START_PATH,
    SignInRefused,
    oidc_login_for,
)
from supporterflow.entrypoints.http.admin.trends import Trends, sparkline
from supporterflow.functions.gdpr_erase import user_hash
from supporterflow.functions.recent_activity import (
    notification_states,
    recent_notifications,
    recent_supporter_events,
)
from supporterflow.functions.subscription_activity import USER_REF_CHARS
from supporterflow.functions.subscription_timeline import subscription_timeline
from supporterflow.ports import Queue

__all__ = ["routes"]

HERE: Final = Path(__file__).parent
RECENT: Final = 20
DLQ_PAGE: Final = 100
_MAX_FORM_BYTES: Final = 256 * 1024

Page = Callable[[Request], Awaitable[Response]]

log = structlog.get_logger(__name__)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    environment.globals["shown_id"] = shown_id
    environment.globals["sparkline"] = sparkline
    environment.filters["safe_value"] = safe
    return environment


async def _form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (the dashboard's only kind of form)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", errors="replace"))


def _first(form: Mapping[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def routes(container: Container) -> list[Route | Mount]:
    oidc = oidc_login_for(container)
    auth = AdminAuth(container.admin_keys, oidc.secret if oidc else None)
    environment = _environment()
    trends = Trends(container)
    deps = container.dependencies()
    references = References(deps["identity_key"])

    def user_ref(user_id: str) -> str:
        """As the activity log names a linked user (a keyed hash, no user id)."""
        return user_hash(user_id, deps["identity_key"])[:USER_REF_CHARS]

    tables = container.tables
    dead_letter_queues = container.dead_letter_queue_names()

    def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = environment.get_template(template).render(
            request=request, ref=references.seal, user_ref=user_ref, queues_url="/admin", **values
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def page(handler: Page) -> Page:
        async def guarded(request: Request) -> Response:
            request.state.operator = auth.operator(request)
            if request.state.operator is None:
                return RedirectResponse("/admin/login", status_code=303)
            return await handler(request)

        return guarded

    def action(handler: Page) -> Page:
        async def guarded(request: Request) -> Response:
            request.state.operator = auth.operator(request)
            if request.state.operator is None:
                return render(request, "message.html", 401, title="Sign in first", text="Not signed in.")
            if not auth.same_origin(request):
                return render(
                    request, "message.html", 403, title="Refused", text="Cross-site request refused."
                )
            return await handler(request)

        return guarded

    # A topology of the service's own (tests, benchmarks) may leave the mobile tables out.
    subscriptions_served = all(
        name in tables
        for name in ("subscriptions", "subscription-events", "user-subscriptions", "subscription-activity")
    )

    # --- sign in ---------------------------------------------------------------------------

    oidc_host = urlsplit(oidc.issuer).netloc if oidc else None

    def login_page(request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        return render(request, "login.html", status, oidc_host=oidc_host, **values)

    async def login_form(request: Request) -> Response:
        return login_page(request)

    async def login(request: Request) -> Response:
        key = _first(await _form(request), "key")
        if not auth.key_is_valid(key):
            return login_page(request, 401, error="That is not an admin key.")
        response = RedirectResponse("/admin", status_code=303)
        auth.start_session(response, request, key)
        return response

    async def oidc_start(request: Request) -> Response:
        if oidc is None:
            return login_page(request, 404, error="Signing in with OIDC is not configured here.")
        try:
            return await oidc.start(request)
        except SignInRefused as refused:
            log.warning("dashboard sign-in refused", method="oidc", reason=refused.reason, **refused.details)
            return login_page(request, refused.status, error=refused.text)

    async def oidc_callback(request: Request) -> Response:
        if oidc is None:
            return login_page(request, 404, error="Signing in with OIDC is not configured here.")
        try:
            subject = await oidc.finish(request)
        except SignInRefused as refused:
            log.warning("dashboard sign-in refused", method="oidc", reason=refused.reason, **refused.details)
            response: Response = login_page(request, refused.status, error=refused.text)
        else:
            # Not a redirect: the browser came here from the provider's site, and a redirect
            # would keep the navigation cross-site, so the SameSite=Strict session cookie would
            # not be sent to /admin. A page that moves on by itself is a same-site navigation.
            response = login_page(request, signed_in=True)
            response.headers["refresh"] = "0; url=/admin"
            auth.start_oidc_session(response, request, subject)
        oidc.forget_flow(response)
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/admin/login", status_code=303)
        auth.end_session(response)
        return response

    # --- overview --------------------------------------------------------------------------

    async def overview(request: Request) -> Response:
        await trends.sample()
        summaries = await container.queue_summaries()
        notifications = (
            await recent_notifications(
                RECENT, subscription_events=tables["subscription-events"], clock=container.clock
            )
            if "subscription-events" in tables
            else []
        )
        states = (
            await notification_states(notifications, subscriptions=tables["subscriptions"])
            if "subscriptions" in tables
            else ["" for _ in notifications]
        )
        supporter_events = (
            await recent_supporter_events(RECENT, supporter_events=tables["supporter-events"])
            if "supporter-events" in tables
            else []
        )
        queues = [
            {
                "name": s.name,
                "depth": s.depth,
                "dead": s.dead_letters,
                "dlq": container.topology.queue(s.name).dlq_name,
                "trend": trends.series(s.name),
                "dlq_trend": trends.series(container.topology.queue(s.name).dlq_name or ""),
            }
            for s in summaries
        ]
        return render(
            request,
            "overview.html",
            queues=queues,
            rates=trends.rates(),
            notifications=list(zip(notifications, states, strict=True)),
            supporter_events=supporter_events,
        )

    # --- dead letters ----------------------------------------------------------------------

    def dead_letters_of(request: Request) -> tuple[str, Queue] | None:
        name = request.path_params["queue"]
        if name not in dead_letter_queues:
            return None
        return name, container.queues[name]

    async def dead_letters(request: Request) -> Response:
        found = dead_letters_of(request)
        if found is None:
            return render(request, "message.html", 404, title="No such DLQ", text="There is no such DLQ.")
        name, queue = found
        depth = (await queue.depth()).total
        try:
            messages = (await queue.list(limit=DLQ_PAGE)).messages
            listable = True
        except NotImplementedError:
            messages, listable = [], False
        shown = [
            {
                "id": m.message_id,
                "sent_at": m.sent_at.isoformat(timespec="seconds"),
                "receives": m.receive_count,
                "source": m.source_queue,
                "reason": safe(m.reason or ""),
                "body": safe_json(m.body),
            }
            for m in messages
        ]
        return render(
            request, "dead_letters.html", queue=name, depth=depth, messages=shown, listable=listable
        )

    async def dead_letter_action(request: Request) -> Response:
        found = dead_letters_of(request)
        if found is None:
            return render(request, "message.html", 404, title="No such DLQ", text="There is no such DLQ.")
        name, queue = found
        form = await _form(request)
        verb = request.path_params["verb"]
        ids = form.get("id", [])
        every = _first(form, "all") == "yes"
        if verb not in ("replay", "delete") or (verb == "delete" and not ids) or (not ids and not every):
            return render(request, "message.html", 400, title="Nothing chosen", text="Choose messages first.")
        if _first(form, "confirm") != "yes":
            return render(request, "confirm.html", queue=name, verb=verb, ids=ids, every=every)
        if verb == "replay":
            done = await queue.replay(message_ids=None if every else ids)
            text = f"{done} message(s) went back to their queue."
        else:
            done = await queue.remove(ids)
            text = f"{done} message(s) deleted for good."
        return render(request, "message.html", title=f"{verb.capitalize()}: done", text=text, back=name)

    # --- lookups ---------------------------------------------------------------------------

    async def search(request: Request) -> Response:
        query = _first(await _form(request), "q")
        if not query:
            return RedirectResponse("/admin", status_code=303)
        if "supporter-events" in tables and await tables["supporter-events"].get({"id": query}):
            return RedirectResponse(f"/admin/supporter-events/{query}", status_code=303)
        if subscriptions_served and (await _timeline(query)).found:
            return RedirectResponse(f"/admin/subscriptions/{references.seal(query)}", status_code=303)
        if subscriptions_served and (await tables["user-subscriptions"].query(query, limit=1)).items:
            return RedirectResponse(f"/admin/users/{references.seal(query)}", status_code=303)
        return render(
            request, "message.html", 404, title="Nothing found", text=f"Nothing found for {shown_id(query)}."
        )

    async def _timeline(subscription_id: str) -> Any:
        return await subscription_timeline(
            subscription_id,
            subscriptions=tables["subscriptions"],
            subscription_events=tables["subscription-events"],
            user_subscriptions=tables["user-subscriptions"],
            subscription_activity=tables["subscription-activity"],
        )

    async def subscription(request: Request) -> Response:
        subscription_id = references.open(request.path_params["ref"])
        if subscription_id is None or not subscriptions_served:
            return render(request, "message.html", 404, title="Unknown reference", text="Search again.")
        timeline = await _timeline(subscription_id)
        return render(request, "subscription.html", timeline=timeline, row=safe(timeline.row or {}))

    async def user(request: Request) -> Response:
        user_id = references.open(request.path_params["ref"])
        if user_id is None or not subscriptions_served:
            return render(request, "message.html", 404, title="Unknown reference", text="Search again.")
        links = (await tables["user-subscriptions"].query(user_id, limit=100)).items
        return render(request, "user.html", user_id=user_id, links=links)

    async def supporter_event(request: Request) -> Response:
        event = await tables["supporter-events"].get({"id": request.path_params["id"]})
        if event is None:
            return render(
                request, "message.html", 404, title="No such event", text="No such supporter event."
            )
        request_body = event.get("request") or {}
        actions = request_body.get("erp", []) if isinstance(request_body, dict) else []
        return render(
            request,
            "supporter_event.html",
            event=event,
            parts=sorted(request_body) if isinstance(request_body, dict) else [],
            actions=[a.get("type") for a in actions if isinstance(a, dict)],
            identities=event.get("answer", {}).get("data", {}).get("identities", []),
            responses=safe(event.get("responses", [])),
            reason=safe(event.get("reason") or ""),
        )

    static = StaticFiles(directory=HERE / "static")
    return [
        Route("/admin/login", login_form, methods=["GET"]),
        Route("/admin/login", login, methods=["POST"]),
        Route(START_PATH, oidc_start, methods=["GET"]),
        Route(CALLBACK_PATH, oidc_callback, methods=["GET"]),
        Route("/admin/logout", logout, methods=["POST"]),
        Route("/admin", page(overview), methods=["GET"]),
        Route("/admin/search", action(search), methods=["POST"]),
        Route("/admin/queues/{queue}/dead-letters", page(dead_letters), methods=["GET"]),
        Route("/admin/queues/{queue}/dead-letters/{verb}", action(dead_letter_action), methods=["POST"]),
        Route("/admin/subscriptions/{ref}", page(subscription), methods=["GET"]),
        Route("/admin/users/{ref}", page(user), methods=["GET"]),
        Route("/admin/supporter-events/{id}", page(supporter_event), methods=["GET"]),
        Mount("/admin/static", app=static, name="admin-static"),
    ]
