"""The few parts of SCIM's User and Group (RFC 7643) that iam reads and writes, and its filter literals.

iam reads a handful of attributes (id, the username attribute, ``active``,
``displayName``, ``members``, ``meta.version``) and keeps everything else
as the service sent it, so a PUT gives back what it read. Attribute names
are case-insensitive in SCIM; so are these look-ups.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

#: What a PUT never sends back: the server keeps these (RFC 7643 §3.1, §4.1.2: readOnly).
READ_ONLY = frozenset({"meta", "groups"})


def literal(value: str) -> str:
    """A filter's string literal (RFC 7644 §3.4.2.2: a JSON string): quotes and backslashes escaped."""
    return json.dumps(value, ensure_ascii=False)


def attribute(resource: Mapping[str, Any], name: str) -> Any:
    """A top-level attribute whatever case the service answered it in."""
    for key, value in resource.items():
        if key.casefold() == name.casefold():
            return value
    return None


def text(resource: Mapping[str, Any], name: str) -> str:
    value = attribute(resource, name)
    return "" if value is None else str(value)


def member_ids(group: Mapping[str, Any]) -> set[str]:
    """Who a group lists. A group without ``members`` lists no one (SCIM leaves empty attributes out)."""
    members = attribute(group, "members") or []
    return {str(m.get("value")) for m in members if isinstance(m, dict) and m.get("value") is not None}


def group_name(group: Mapping[str, Any]) -> str:
    """How policy names a group: its displayName, its id when it has none."""
    return text(group, "displayName") or text(group, "id")


def for_put(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The resource as a PUT replaces it: what was read, less what the server keeps itself."""
    return {k: v for k, v in resource.items() if k.casefold() not in READ_ONLY}


def patch(*operations: Mapping[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def new_user(username: str, username_attribute: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A User to POST: the username where the settings say, names, e-mail, active."""
    email = str(attributes.get("email") or "")
    user: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": username, "active": True}
    if username_attribute.casefold() != "username":
        user["userName"] = email or username
        user[username_attribute] = username
    name = {
        k: str(attributes[a])
        for k, a in (("givenName", "given_name"), ("familyName", "family_name"))
        if attributes.get(a)
    }
    if name:
        user["name"] = name
    if attributes.get("display_name"):
        user["displayName"] = str(attributes["display_name"])
    if email:
        user["emails"] = [{"value": email, "type": "work", "primary": True}]
    return user
