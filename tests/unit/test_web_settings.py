"""The configuration's web section: a console nobody can sign in to, or with a weak key, is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from iam.config import load_config
from iam.errors import ConfigError
from iam.web.settings import WebSettings, directory_group_keys, idp_group_keys
from iam.web.signin import oidc_user

BASE = """\
systems:
  directory:
    type: ldap
    url: ldaps://ldap.example.org
    base_dn: dc=example,dc=org
    bind_dn: cn=iam,dc=example,dc=org
    bind_password: {env: LDAP_PW}
web:
"""
ENV = {"LDAP_PW": "pw", "SESSION": "s" * 40, "SHORT": "too-short", "OIDC": "client-secret"}


def load(tmp_path: Path, web: str):
    path = tmp_path / "iam.yaml"
    path.write_text(BASE + web)
    return load_config(path, environ=ENV)


def test_a_console_with_oidc_and_roles_is_read_with_its_secrets(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "  oidc: {issuer: 'https://sso.example.org/realms/acme', client_id: iam,\n"
        "         client_secret: {env: OIDC}}\n"
        "  roles: {auditor: {groups: [auditors]}, operator: {roles: [iam-operator]}}\n"
        "  session_secret: {env: SESSION}\n",
    )
    web = config.web
    assert web is not None and web.oidc is not None and web.oidc.client_secret.reveal() == "client-secret"
    assert "client-secret" not in repr(config)
    roles = web.roles_of("cal", idp_group_keys(["/staff/auditors"]), frozenset())
    assert roles == {"auditor", "reviewer"}
    assert web.roles_of("ops", frozenset(), frozenset({"iam-operator"})) == {"operator", "reviewer"}
    auditors = directory_group_keys(["cn=auditors,ou=groups,dc=example,dc=org"])
    assert web.roles_of("x", auditors, frozenset()) == {"auditor", "reviewer"}


@pytest.mark.parametrize(
    "web,message",
    [
        ("  session_secret: {env: SESSION}\n", "give web.oidc (single sign-on) or web.ldap (bind)"),
        (
            "  ldap: {url: 'ldaps://l', user_dn: 'uid={username},dc=x'}\n  session_secret: {env: SHORT}\n",
            "at least 32 characters",
        ),
        (
            "  ldap: {url: 'ldaps://l', user_dn: 'uid=fixed,dc=x'}\n  session_secret: {env: SESSION}\n",
            "web.ldap.user_dn",
        ),
        (
            "  ldap: {url: 'ldaps://l', user_dn: 'uid={username},dc=x'}\n  session_secret: {env: SESSION}\n"
            "  roles: {admin: {users: [root]}}\n",
            "web.roles.admin: unknown key 'admin'",
        ),
        *[
            (
                "  ldap: {url: 'ldaps://l', user_dn: 'uid={username},dc=x'}\n"
                f"  session_secret: {{env: SESSION}}\n  roles: {{operator: {{groups: ['{rule}']}}}}\n",
                f"web.roles.operator.groups: {rule!r} names no group",
            )
            for rule in ("", " ", "/", "/staff//ops", "cn=ops,,dc=example,dc=org", "cn=ops,dc=", "cn=ops,=x")
        ],
    ],
)
def test_a_console_config_that_cannot_work_is_refused_by_name(tmp_path: Path, web: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, web)
    assert message in str(caught.value)
    assert "s" * 40 not in str(caught.value) and "too-short" not in str(caught.value)


def test_only_a_path_of_this_site_is_followed_after_sign_in() -> None:
    from iam.web.console import _safe_next

    assert _safe_next("/reviews/1") == "/reviews/1"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None):
        assert _safe_next(hostile) == "/"


OPERATORS = "cn=iam-operators,ou=groups,dc=example,dc=org"


@pytest.mark.parametrize(
    "groups,roles",
    [
        (["/staff/iam-auditors"], {"auditor"}),
        (["/Staff/IAM-Auditors"], {"auditor"}),  # Keycloak's paths, compared without case as before
        (["/partners/acme/iam-auditors"], set()),  # the same name elsewhere is another group
        (["/staff/iam-auditors/interns"], set()),
        (["iam-auditors"], set()),  # a bare name (mapper without full path) cannot say which group
        ([OPERATORS, "cn=iam-operators"], set()),  # an identity provider's groups are names or paths
        (["/anywhere/it-ops"], {"operator"}),  # a rule given as a bare name: any group of that name
    ],
)
def test_a_path_rule_holds_only_for_that_group_of_the_identity_provider(
    groups: list[str], roles: set[str]
) -> None:
    web = WebSettings.model_validate(
        {
            "session_secret": "s" * 40,
            "oidc": {
                "issuer": "https://sso.example.org/realms/acme",
                "client_id": "iam",
                "client_secret": "c" * 8,
            },
            "roles": {
                "auditor": {"groups": ["/staff/iam-auditors"]},
                "operator": {"groups": [OPERATORS, "it-ops"]},
            },
        }
    )
    assert web.oidc is not None

    user = oidc_user(web, web.oidc, {"preferred_username": "mallory", "groups": groups})

    assert user.roles == {"reviewer", *roles}
