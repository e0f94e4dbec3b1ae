"""Administration services: users and their roles, and the deployment of definitions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from workflow.errors import InvalidDefinition, InvalidInput, NotFound
from workflow.model import DeployedDefinition, User
from workflow.ports import AbstractUnitOfWork
from workflow.services import AUDITORS_CHANGE_NOTHING, resolve_actor
from workflow.spec import ROLES, SYSTEM_ACTOR, DefinitionSpec, ServiceRating, WorkflowSpec

_MAX_NAME = 64


@dataclass(frozen=True)
class UserView:
    """A user as listed."""

    name: str
    roles: tuple[str, ...]
    branch: str | None
    active: bool


@dataclass(frozen=True)
class ParsedDefinition:
    """A definition file checked by the loader, ready to deploy."""

    file: str
    source: str
    spec: DefinitionSpec
    compiled: str  # the definition's data as JSON, read back without YAML


@dataclass(frozen=True)
class DeployReport:
    """What deploying one definition did: `deployed` or `unchanged`."""

    name: str
    version: int
    kind: str
    outcome: str


@dataclass(frozen=True)
class DefinitionView:
    """A deployed definition, its text and, for workflows, its parsed spec."""

    name: str
    version: int
    kind: str
    tier: str | None
    sha256: str
    deployed_at: datetime
    source: str
    spec: DefinitionSpec


def add_user(
    uow: AbstractUnitOfWork,
    actor_name: str | None,
    name: str,
    roles: Iterable[str],
    branch: str | None,
    now: datetime,
) -> UserView:
    """Add a user. Open while no admin exists (so a branch can bootstrap), admin-only after.

    Raises:
        InvalidInput: a bad name, role or branch, or a name already taken.
    """
    with uow:
        _require_admin(uow, actor_name, "add users")
        name, branch = _check_name("user name", name), _check_branch(branch)
        wanted = tuple(sorted(set(roles)))
        unknown = [r for r in wanted if r not in ROLES]
        if unknown or not wanted:
            problem = f"unknown role {unknown[0]!r}" if unknown else "at least one --role is needed"
            raise InvalidInput(
                "role", ",".join(unknown), f"{problem} (known: {', '.join(sorted(ROLES))})"
            )
        if "auditor" in wanted and len(wanted) > 1:
            raise InvalidInput("role", ",".join(wanted), "the auditor role is held alone")
        if uow.users.get(name) is not None:
            raise InvalidInput("user name", name, "a user with this name exists already")
        user = User(name=name, roles=wanted, branch=branch, created_at=now)
        uow.users.add(user)
        uow.commit()
        return _user_view(user)


def list_users(uow: AbstractUnitOfWork) -> list[UserView]:
    """Every user, by name."""
    with uow:
        return [_user_view(u) for u in uow.users.list()]


def disable_user(uow: AbstractUnitOfWork, actor_name: str | None, name: str) -> UserView:
    """Stop a user from acting; their past events keep their name."""
    with uow:
        admin = _require_admin(uow, actor_name, "disable users")
        user = uow.users.get(name)
        if user is None:
            raise NotFound("user", name)
        if admin is not None and admin.name == name:
            raise InvalidInput("user name", name, "an admin cannot disable themselves")
        user.active = False
        uow.commit()
        return _user_view(user)


def deploy_definitions(
    uow: AbstractUnitOfWork, parsed: Iterable[ParsedDefinition], now: datetime
) -> list[DeployReport]:
    """Deploy checked definitions; a deployed (name, version) never changes.

    Raises:
        InvalidDefinition: a version already deployed with other content.
    """
    reports = []
    with uow:
        for item in parsed:
            digest = hashlib.sha256(item.source.encode()).hexdigest()
            spec = item.spec
            kind = definition_kind(spec)
            existing = uow.definitions.get(spec.name, spec.version)
            if existing is not None and existing.sha256 != digest:
                raise InvalidDefinition(
                    item.file,
                    "version",
                    f"{spec.name} version {spec.version} is deployed with other content; "
                    "give the changed definition a new version",
                )
            if existing is None:
                tier = spec.tier if isinstance(spec, WorkflowSpec) else None
                uow.definitions.add(
                    DeployedDefinition(
                        spec.name, spec.version, kind, tier, item.source, digest, now, item.compiled
                    )
                )
            reports.append(
                DeployReport(spec.name, spec.version, kind, "unchanged" if existing else "deployed")
            )
        uow.commit()
    return reports


def definition_kind(spec: DefinitionSpec) -> str:
    """The kind a definition is deployed as: `workflow`, `tier_policy` or `service_rating`."""
    if isinstance(spec, WorkflowSpec):
        return "workflow"
    return "service_rating" if isinstance(spec, ServiceRating) else "tier_policy"


def list_definitions(uow: AbstractUnitOfWork) -> list[DefinitionView]:
    """Every deployed definition version."""
    with uow:
        return [_definition_view(uow, d) for d in uow.definitions.list()]


def show_definition(
    uow: AbstractUnitOfWork, name: str, version: int | None = None
) -> DefinitionView:
    """One deployed definition, its latest version unless `version` is given."""
    with uow:
        deployed = uow.definitions.get(name, version) if version else uow.definitions.latest(name)
        if deployed is None:
            raise NotFound("definition", name if version is None else f"{name} v{version}")
        return _definition_view(uow, deployed)


def _definition_view(uow: AbstractUnitOfWork, d: DeployedDefinition) -> DefinitionView:
    spec = uow.definitions.parsed(d.name, d.version)
    return DefinitionView(
        d.name, d.version, d.kind, d.tier, d.sha256, d.deployed_at, d.source, spec
    )


def _require_admin(uow: AbstractUnitOfWork, actor_name: str | None, doing: str) -> User | None:
    if not uow.users.admin_exists():
        if actor_name and (actor := uow.users.get(actor_name)) and actor.holds("auditor"):
            raise InvalidInput("actor", actor_name, AUDITORS_CHANGE_NOTHING)
        return None
    return resolve_actor(uow, actor_name, "admin", doing, changing=True)


def _check_name(field: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > _MAX_NAME or not value.isprintable() or value == SYSTEM_ACTOR:
        raise InvalidInput(
            field, value, f"1 to {_MAX_NAME} printable characters, not {SYSTEM_ACTOR!r}"
        )
    return value


def _check_branch(branch: str | None) -> str | None:
    return None if branch is None else _check_name("branch", branch)


def _user_view(user: User) -> UserView:
    return UserView(user.name, tuple(user.roles), user.branch, user.active)
