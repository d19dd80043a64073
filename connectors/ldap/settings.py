"""The LDAP system's settings: one model, with each flavor's defaults defined once.

OpenLDAP and Active Directory differ in how accounts are named, which class
they have, how a disable is written, where HR's fields go and which
attribute records the last login. `FLAVORS` holds those defaults; a setting
left out takes its flavor's, and the generated JSON Schema says them per
flavor (so what the documentation promises is what the code does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from iam.connectors.ldap.attributes import DEFAULT_MAPS, HR_FIELDS
from iam.connectors.ldap.primary_group import DOMAIN_USERS_RID
from pydantic import Field, StringConstraints, model_validator

from iam.documents import Document, required
from iam.secrets import SecretSetting
from iam.settings import ConnectorSettings

Flavor = Literal["openldap", "ad"]
HrField = Literal[HR_FIELDS]  # type: ignore[valid-type]  # the fields an attribute map may name
AttributeName = Annotated[str, StringConstraints(pattern="^[A-Za-z][A-Za-z0-9-]*$")]


#: What the ``attribute`` method needs to know.
ATTRIBUTE_NEEDS = ("attribute", "value")


class DisableSettings(Document):
    """How a disable is written; it counts only where the server enforces it (`disabling`)."""

    model_config = {
        "json_schema_extra": {
            "if": {"properties": {"method": {"const": "attribute"}}},
            "then": {"required": list(ATTRIBUTE_NEEDS)},
        }
    }

    method: Literal["ppolicy", "ad", "attribute"] = Field(
        description="ppolicy: pwdAccountLockedTime (needs pwdLockout: TRUE on the policy that applies); "
        "ad: userAccountControl ACCOUNTDISABLE; attribute: write `value` into `attribute`"
    )
    attribute: str | None = Field(default=None, min_length=1, description="attribute: the attribute written")
    value: str | None = Field(default=None, min_length=1, description="attribute: the value that disables")
    policy_dn: str | None = Field(
        default=None,
        min_length=1,
        description="ppolicy: the overlay's ppolicy_default, if cn=config is unreadable",
    )

    @model_validator(mode="after")
    def _attribute_needs_both(self) -> DisableSettings:
        if self.method == "attribute":
            for key in ATTRIBUTE_NEEDS:
                if getattr(self, key) is None:
                    raise required(key, " with method attribute")
        return self


@dataclass(frozen=True)
class FlavorDefaults:
    """What a setting left out means for one flavor of directory."""

    user_attribute: str
    user_object_class: str
    last_login_attribute: str
    disable: DisableSettings
    attributes: dict[str, str]


FLAVORS: dict[str, FlavorDefaults] = {
    "openldap": FlavorDefaults(
        "uid", "inetOrgPerson", "authTimestamp", DisableSettings(method="ppolicy"), DEFAULT_MAPS["openldap"]
    ),
    "ad": FlavorDefaults(
        "sAMAccountName", "user", "lastLogonTimestamp", DisableSettings(method="ad"), DEFAULT_MAPS["ad"]
    ),
}


def _flavor(data: dict[str, Any]) -> FlavorDefaults:
    return FLAVORS[data.get("flavor", "openldap")]


def _per_flavor(key: str) -> str:
    """The description of a default that depends on the flavor, made from `FLAVORS` itself."""
    shown = []
    for name, defaults in FLAVORS.items():
        value = getattr(defaults, key)
        shown.append(f"{value.method if isinstance(value, DisableSettings) else value} ({name})")
    return f"default per flavor: {', '.join(shown)}"


def _flavor_schema(schema: dict[str, Any]) -> None:
    """Each flavor's defaults, as ``if flavor is X then default is Y`` (an absent flavor is openldap)."""
    branches = []
    for name, d in FLAVORS.items():
        defaults = {
            "user_attribute": {"default": d.user_attribute},
            "user_object_class": {"default": d.user_object_class},
            "last_login_attribute": {"default": d.last_login_attribute},
            "disable": {"default": d.disable.model_dump(exclude_none=True)},
            "attributes": {"default": d.attributes},
        }
        branches.append({"if": {"properties": {"flavor": {"const": name}}}, "then": {"properties": defaults}})
    schema["allOf"] = branches


class LdapSettings(ConnectorSettings):
    """An OpenLDAP directory or an Active Directory domain, reached with ldap3."""

    model_config = {"json_schema_extra": _flavor_schema}

    flavor: Flavor = Field(default="openldap", description="decides the defaults below that say 'per flavor'")
    url: str = Field(pattern="^ldaps?://", description="ldap://host (StartTLS) or ldaps://host")
    start_tls: bool = Field(
        default_factory=lambda d: urlparse(d.get("url", "")).scheme == "ldap",
        description="default: true for ldap://, false for ldaps://",
    )
    tls_verify: bool = True
    ca_file: str | None = Field(default=None, description="CA certificates to trust (PEM)")
    bind_dn: str | None = Field(default=None, description="the account iam binds as; anonymous if absent")
    bind_password: SecretSetting | None = None
    base_dn: str = Field(min_length=1, description="where accounts are searched")
    users_dn: str = Field(
        default_factory=lambda d: d.get("base_dn", ""),
        description="where new accounts are created (default: base_dn)",
    )
    groups_dn: str = Field(
        default_factory=lambda d: d.get("base_dn", ""),
        description="where groups are searched (default: base_dn)",
    )
    leavers_dn: str | None = Field(default=None, description="terminated accounts are moved here")
    archive_dn: str | None = Field(
        default=None,
        description="a retention delete (`retention.delete_after_days`) moves the entry here instead of "
        "deleting it, for sites that never delete entries; an entry here counts as deleted",
    )
    user_attribute: str = Field(
        default_factory=lambda d: _flavor(d).user_attribute, description=_per_flavor("user_attribute")
    )
    user_object_class: str = Field(
        default_factory=lambda d: _flavor(d).user_object_class, description=_per_flavor("user_object_class")
    )
    disable: DisableSettings = Field(
        default_factory=lambda d: _flavor(d).disable, description=_per_flavor("disable")
    )
    attributes: dict[HrField, AttributeName] = Field(
        default_factory=lambda d: dict(_flavor(d).attributes),
        description="HR field -> directory attribute, followed on joiner, mover and rehire "
        "(replaces the flavor's map whole; default per flavor: see allOf)",
    )
    primary_group_rid: int = Field(
        default=DOMAIN_USERS_RID,
        ge=1,
        description="AD: the primary group every account keeps (513, Domain Users); "
        "any other is access, revoked on termination",
    )
    empty_group_member: str = Field(
        default="cn=empty-group-placeholder", description="placeholder when a group would be empty"
    )
    last_login_attribute: str = Field(
        default_factory=lambda d: _flavor(d).last_login_attribute,
        description=_per_flavor("last_login_attribute") + " (authTimestamp needs the lastbind overlay)",
    )
    ignore_references: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list,
        description="DNs of parts of the tree another server holds (a search meets a continuation "
        "reference there) where no account or group iam manages is: a reference to one of them, or "
        "below, is passed over; any other fails the read. With flavor ad the forest's naming contexts "
        "that are not domains (Configuration, Schema, DomainDnsZones, ForestDnsZones) are passed over "
        "without being listed: Active Directory keeps users and groups in domains only",
    )
    page_size: int = Field(default=500, ge=1, le=5000)
    timeout: int = Field(
        default=10,
        ge=1,
        description="seconds to connect and to wait for each answer (whole: ldap3 packs them as an integer)",
    )
