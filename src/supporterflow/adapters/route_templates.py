"""Route templates: the name of an outbound call in metrics and logs, never its path.

A path carries identifiers (transaction ids, purchase tokens, order ids), and a metric label or a
log field must never hold one: each distinct value would be a new time series, and a token in a
label is a token in every dashboard. So a call is named by the template of its route, such as
``GET /inApps/v1/subscriptions/{transactionId}``; a path that matches no known template is named
``<method> <unknown>`` rather than passed through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

UNKNOWN: Final = "<unknown>"


class RouteTemplates:
    """Templates like ``/inApps/v1/transactions/{transactionId}``: a ``{name}`` segment matches any
    one segment, every other segment only itself. Where two templates match, the one with more
    literal segments wins (``/inApps/v1/subscriptions/extend/mass`` over
    ``/inApps/v1/subscriptions/extend/{originalTransactionId}``)."""

    def __init__(self, templates: Iterable[str]) -> None:
        self._by_length: dict[int, list[tuple[int, Sequence[str | None], str]]] = {}
        for template in templates:
            segments = template.strip("/").split("/")
            pattern = [None if s.startswith("{") and s.endswith("}") else s for s in segments]
            literals = sum(s is not None for s in pattern)
            self._by_length.setdefault(len(pattern), []).append((literals, pattern, template))
        for candidates in self._by_length.values():
            candidates.sort(key=lambda candidate: -candidate[0])

    def template(self, path: str) -> str | None:
        """The template ``path`` (query string ignored) matches, None when none does."""
        segments = path.split("?", 1)[0].strip("/").split("/")
        for _, pattern, template in self._by_length.get(len(segments), ()):
            if all(p is None or p == s for p, s in zip(pattern, segments, strict=True)):
                return template
        return None

    def endpoint(self, method: str, path: str) -> str:
        """``"<METHOD> <template>"``, the label value of one call."""
        return f"{method.upper()} {self.template(path) or UNKNOWN}"


#: The App Store Server API, as app-store-server-library calls it (names of Apple's documentation).
APP_STORE_SERVER_API: Final = RouteTemplates(
    [
        "/inApps/v1/subscriptions/{transactionId}",
        "/inApps/v1/subscriptions/extend/{originalTransactionId}",
        "/inApps/v1/subscriptions/extend/mass",
        "/inApps/v1/subscriptions/extend/mass/{productId}/{requestIdentifier}",
        "/inApps/v1/history/{transactionId}",
        "/inApps/v2/history/{transactionId}",
        "/inApps/v1/transactions/{transactionId}",
        "/inApps/v1/transactions/{transactionId}/finish",
        "/inApps/v1/transactions/{originalTransactionId}/appAccountToken",
        "/inApps/v1/transactions/appTransactions/{transactionId}",
        "/inApps/v1/transactions/consumption/{transactionId}",
        "/inApps/v2/transactions/consumption/{transactionId}",
        "/inApps/v2/refund/lookup/{transactionId}",
        "/inApps/v1/lookup/{orderId}",
        "/inApps/v1/notifications/test",
        "/inApps/v1/notifications/test/{testNotificationToken}",
        "/inApps/v1/notifications/history",
        "/inApps/v1/messaging/default/{productId}/{locale}",
        "/inApps/v1/messaging/image/list",
        "/inApps/v1/messaging/image/{imageIdentifier}",
        "/inApps/v1/messaging/message/list",
        "/inApps/v1/messaging/message/{messageIdentifier}",
        "/inApps/v1/messaging/performanceTest",
        "/inApps/v1/messaging/performanceTest/result/{requestId}",
        "/inApps/v1/messaging/realtime/url",
    ]
)
