"""Users, roles, API tokens and the audit log of a shared mlops server.

Permission model (enforced by ``mlops server --auth``; off by default for local use):

* Roles are ordered ``viewer < editor < admin``; each includes the ones below it. A role is
  granted globally, on one experiment (by id) or on one registered model (by name). The role a
  user holds on a resource is the stronger of their global role and their grant on it.
* **viewer** reads: experiments, runs, metrics, artifacts, models, versions, history, requests.
  Listings show only what the user can read; a request naming something unreadable is a 403.
* **editor** writes: creates runs in an experiment, logs params, metrics, tags, inputs and
  artifacts (and deletes artifact files: a refused registration removes its upload), updates
  runs, registers model versions, moves stages other than production and archived, sets
  unprotected aliases, and asks for approval (requests). Marking other processes' dead runs
  KILLED needs the global editor role (clients without it skip that housekeeping).
* **admin** deletes and restores, decides (approves or rejects) requests, moves a version into
  or out of production (stage production or archived, rollback), moves or removes protected
  aliases (``model_registry.protected_aliases``), and manages users, tokens and grants.
* Creating a new experiment or registered model needs the *global* editor role (there is
  nothing to hold a scoped grant on yet). The creator gets no automatic grant on it: deleting it
  stays with admins, and a global editor can already write to it.
* With authentication on, the server records the authenticated user as the actor of every
  registry change, whatever ``user`` a request body names (it is overridden, not refused), and
  an approval must come from a different authenticated user than the request's.

Every write request to the server (auth on or off) is appended to a hash-chained audit log;
``AccessControl.verify_audit()`` (``mlops audit verify``) checks the chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.auth.access import AccessControl
from mlops.auth.entities import (
    ANONYMOUS,
    ApiToken,
    AuditEntry,
    ChainReport,
    Grant,
    IssuedToken,
    NewAuditEntry,
    Principal,
    Role,
    Scope,
    User,
)

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig


def access_control(uri: str | None = None, *, config: MLOpsConfig | None = None) -> AccessControl:
    """``AccessControl`` on the configured metadata store (a database, not a server's URL).

    Users and grants are managed where the server's database is, as ``mlops db`` is.
    """
    # Imported here: the store layer imports this domain's entities.
    from mlops.config import with_locations
    from mlops.store.open import open_stores
    from mlops.store.sql.auth import SqlAuditStore, SqlAuthStore

    stores = open_stores(with_locations(config, uri))
    return AccessControl(
        SqlAuthStore(stores.db), SqlAuditStore(stores.db), stores.tracking, stores.registry
    )


__all__ = [
    "ANONYMOUS",
    "AccessControl",
    "ApiToken",
    "AuditEntry",
    "ChainReport",
    "Grant",
    "IssuedToken",
    "NewAuditEntry",
    "Principal",
    "Role",
    "Scope",
    "User",
    "access_control",
]
