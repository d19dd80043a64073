"""Signing out at the identity provider too (OpenID Connect RP-initiated logout).

Clearing the console's cookie alone leaves the provider's own session open,
so the next visit would sign the person straight back in without a password.
The console therefore sends the browser to the provider's
``end_session_endpoint`` (from its discovery document) with the ID token it
was given (``id_token_hint``: the provider ends that session without asking)
and where to come back (``post_logout_redirect_uri``, which the provider must
know for the client).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


class ProviderUnreachable(Exception):
    """The provider's discovery document could not be read: its session may still be open."""


async def end_session_url(client: Any, id_token: str, back_to: str) -> str | None:
    """Where to send the browser to end the provider's session; None if it offers no such endpoint."""
    try:
        metadata = await client.load_server_metadata()
    except Exception as exc:  # httpx errors, bad JSON: the provider could not be asked
        raise ProviderUnreachable(type(exc).__name__) from None
    endpoint = metadata.get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return None
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": back_to})
    return endpoint + ("&" if "?" in endpoint else "?") + query
