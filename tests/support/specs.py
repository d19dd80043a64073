"""Where the vendors' API descriptions live: the team's shared/specs beside the checkout.

CI clones the repository with shared/ next to it, as on a developer's
machine; an environment variable can point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def find_spec(name: str, env_var: str) -> Path:
    """The description file ``name``; fails loudly (never skips) when it cannot be found."""
    candidates = [
        os.environ.get(env_var, ""),
        str(REPO.parent / "shared" / "specs" / name),
        str(REPO / "specs" / name),
        f"/work/shared/specs/{name}",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError(f"{name} not found beside the checkout (../shared/specs/); set {env_var}")
