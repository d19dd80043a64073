"""Everything one command needs: configuration, store, audit log, connectors.

Built once per command from a `Config`; tests and the demo may hand in
connectors they built themselves (e.g. over ldap3's in-memory server).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from iam import registry
from iam.audit import AuditLog, Rotation
from iam.config import Config
from iam.contract import Connector
from iam.errors import ConfigError
from iam.forward import Forwarder
from iam.policy import Policy, load_policy
from iam.retry import Outages
from iam.secrets import UnavailableSecret
from iam.signing import Signer
from iam.store import Store


class Runtime:
    def __init__(
        self,
        config: Config,
        connectors: Mapping[str, Connector] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        if "://" not in config.store:
            Path(config.store).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.store)
        key = config.audit.signing_key
        signer = Signer(key) if key is not None and not isinstance(key, UnavailableSecret) else None
        forwarder = Forwarder(config.audit.syslog) if config.audit.syslog else None
        rotation = Rotation(config.audit.rotate_bytes, config.audit.rotate_days)
        self.audit = AuditLog(config.audit_log, self.store, signer, forwarder, rotation)
        self.audit.flush()  # what a crashed command left waiting, appended before anything new
        self.sleep = sleep
        #: Systems found unreachable during this command (reads fail fast after the first).
        self.outages = Outages()
        self._connectors = dict(connectors) if connectors is not None else None
        self._loading = threading.RLock()
        self._tried_policy = False  # whether `connectors` read the policy to tell them its spellings
        self._policy: Policy | None = None
        self.system_types = {s.name: s.type for s in config.systems}
        #: Told what a long command is doing (a person's run, a system's read): the CLI draws it.
        self.progress: Callable[[str], None] = lambda _what: None

    @property
    def policy(self) -> Policy | None:
        """The configured policy, read once per command; None when none is configured.

        Raises `ConfigError` when it is invalid, or when a connector finds it
        names one entitlement two ways (`Connector.use_spellings`).
        """
        with self._loading:
            if self._policy is None and self.config.policy:
                policy = load_policy(Path(self.config.policy))
                for name, connector in self._built().items():
                    connector.use_spellings(policy.named(name))
                self._policy = policy
            return self._policy

    @property
    def connectors(self) -> dict[str, Connector]:
        """Connectors for every configured system, created on first use, told the policy's
        spellings before their first read."""
        with self._loading:  # the web console's threads share one runtime: one set, told once
            built = self._built()
            if not self._tried_policy:
                self._tried_policy = True
                # an offboarding needs no policy: a broken one is reported by the command that needs it
                with contextlib.suppress(ConfigError):
                    self.policy  # noqa: B018
            return built

    def _built(self) -> dict[str, Connector]:
        if self._connectors is None:
            self._connectors = {
                s.name: registry.load_connector_class(s.type)(s.name, s.settings) for s in self.config.systems
            }
        return self._connectors

    def close(self) -> None:
        for connector in (self._connectors or {}).values():
            connector.close()
        self.audit.close()
        self.store.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
