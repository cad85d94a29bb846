"""Who is acting, and what they may do: the one home of identity and roles.

An :class:`Actor` is a person (``name``: an e-mail or a login), their :class:`Role` and how they
came (``via``: app, cli, api). Locally (no sign-in) the actor is the OS user (:func:`os_actor`),
an admin unless the roles file says otherwise; on a shared server the app signs people in
(Streamlit's ``st.login``) and builds the actor from the identity provider's claims.

The roles file is ``<data dir>/roles.toml``::

    default = "viewer"                 # the role of identities not listed (signed-in mode)
    [users]
    "ana@example.com" = "analyst"
    "rev@example.com" = "reviewer"
    [imports]
    roots = ["/srv/catalogues"]        # "import from path" only under these
    [uploads]
    max_count = 50                      # per user; older uploads are cleaned first
    max_bytes = 2_147_483_648          # default 2 GB: one catalogue zip (1 GB) and room to replace it

Every engine write calls :func:`acting` (or :func:`require`) where the action is performed:
a refused action raises :class:`Forbidden` with the reason and changes nothing.
"""
from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

ROLES_FILE = "roles.toml"


class Role(StrEnum):
    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Action(StrEnum):
    VIEW = "view"                    # pages, dashboard, downloads
    JUDGE = "judge"                  # reviewer judgements on products
    LABEL_VIEWS = "label views"      # view labels on products
    DESCRIBE = "describe"            # centroid descriptions, reviewed marks, unplaced labels
    GROUPS = "edit groups"           # pose-group marks (merge, split, exclude, desirable, proposals)
    HINTS = "edit hints"             # seller hints
    TRAIN = "train"
    EVALUATE = "evaluate"
    TUNE = "tune"                    # Tune K, cohort settings
    UPLOAD = "upload"                # photos to judge (bounded per user)
    IMPORT = "import"                # catalogues, models, demo install
    ACTIVATE = "activate run"
    DELETE = "delete"
    ROLES = "manage roles"           # roles file, audit log
    RESTORE = "restore"


# the least role that may perform each action (roles are ordered: each has every right of those below)
NEEDS: dict[Action, Role] = {
    Action.VIEW: Role.VIEWER,
    Action.JUDGE: Role.REVIEWER, Action.LABEL_VIEWS: Role.REVIEWER, Action.UPLOAD: Role.REVIEWER,
    Action.DESCRIBE: Role.ANALYST, Action.GROUPS: Role.ANALYST, Action.HINTS: Role.ANALYST,
    Action.TRAIN: Role.ANALYST, Action.EVALUATE: Role.ANALYST, Action.TUNE: Role.ANALYST,
    Action.IMPORT: Role.ADMIN, Action.ACTIVATE: Role.ADMIN, Action.DELETE: Role.ADMIN,
    Action.ROLES: Role.ADMIN, Action.RESTORE: Role.ADMIN,
}


class Forbidden(PermissionError):
    """An action the actor's role does not allow (or outside the bounds an admin set); nothing
    was changed. ``str()`` says who, what and why."""

    def __init__(self, actor: Actor, action: Action | str, why: str):
        self.actor, self.action, self.why = actor, action, why
        super().__init__(f"{actor.name} ({actor.role.value}) may not {getattr(action, 'value', action)}: {why}")


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role = Role.VIEWER
    via: str = "api"
    signed_in: bool = False   # through the identity provider (a shared server), not the local OS user

    @property
    def source(self) -> str:
        """What the store records as the author of an edit: 'NAME (via)'."""
        return f"{self.name} ({self.via})"

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role.value, "via": self.via}


@dataclass(frozen=True)
class Roles:
    """The parsed roles file (defaults when there is none)."""

    users: dict[str, Role] = field(default_factory=dict)
    default: Role = Role.VIEWER
    import_roots: tuple[Path, ...] = ()
    upload_max_count: int = 50
    upload_max_bytes: int = 2 * 1024 ** 3   # one catalogue zip (1 GB) and room to replace it
    path: Path | None = None

    def role_of(self, name: str, local: bool = False) -> Role:
        """The listed role of ``name`` (matched without case); else admin for the local OS user,
        the file's default for anyone else."""
        listed = {k.lower(): v for k, v in self.users.items()}
        if name.lower() in listed:
            return listed[name.lower()]
        return Role.ADMIN if local else self.default


def _role(value, where: str) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"{where}: unknown role {value!r} (one of {', '.join(r.value for r in Role)})") from None


def read_roles(data_dir: str | os.PathLike | None) -> Roles:
    """``<data_dir>/roles.toml`` (or the file ``UNPOSED_ROLES`` names); defaults when absent.
    A malformed file is an error naming the file, never silently 'everyone is admin'."""
    env = os.environ.get("UNPOSED_ROLES")
    path = Path(env) if env else (Path(data_dir) / ROLES_FILE if data_dir is not None else None)
    if path is None or not path.is_file():
        return Roles()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    users = {str(k): _role(v, f"{path} [users] {k}") for k, v in (raw.get("users") or {}).items()}
    imports, uploads = raw.get("imports") or {}, raw.get("uploads") or {}
    return Roles(users=users, default=_role(raw.get("default", "viewer"), f"{path} default"),
                 import_roots=tuple(Path(r).expanduser().resolve() for r in imports.get("roots", [])),
                 upload_max_count=int(uploads.get("max_count", Roles.upload_max_count)),
                 upload_max_bytes=int(uploads.get("max_bytes", Roles.upload_max_bytes)), path=path)


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:   # no login name (some containers): the uid
        return f"uid{os.getuid()}"


def os_actor(data_dir: str | os.PathLike | None = None, via: str = "cli") -> Actor:
    """The local user (single-user mode, the CLI): admin unless the roles file lists them."""
    name = os_user()
    return Actor(name, read_roles(data_dir).role_of(name, local=True), via)


def signed_in_actor(data_dir: str | os.PathLike | None, name: str, via: str = "app") -> Actor:
    """A person signed in through the identity provider: their listed role, else the default."""
    return Actor(name, read_roles(data_dir).role_of(name, local=False), via, signed_in=True)


def can(actor: Actor, action: Action | str) -> bool:
    return actor.role.rank >= NEEDS[Action(action)].rank


def require(actor: Actor, action: Action | str) -> Actor:
    """``actor`` when their role allows ``action``; else :class:`Forbidden` with the reason."""
    action = Action(action)
    if not can(actor, action):
        raise Forbidden(actor, action, f"{action.value} needs the {NEEDS[action].value} role or above")
    return actor


def acting(data_dir: str | os.PathLike | None, by: Actor | str | None, action: Action | str) -> Actor:
    """The actor of an engine write, checked for ``action``. ``by`` is an :class:`Actor` (the app
    passes the signed-in one), or a plain string naming how a local call came ('cli', 'app'): then
    the OS user via that."""
    actor = by if isinstance(by, Actor) else os_actor(data_dir, via=by or "api")
    return require(actor, action)


def check_import_path(data_dir, actor: Actor, path: str | os.PathLike) -> Path:
    """``path`` resolved, when a catalogue may be imported from it: inside the data dir (uploads,
    the demo) or under a root of ``[imports] roots`` in the roles file; :class:`Forbidden`
    otherwise. With no roots configured the local user (not a signed-in one) may import from anywhere."""
    roles = read_roles(data_dir)
    p = Path(path).expanduser().resolve()
    roots = (*roles.import_roots, *([Path(data_dir).resolve()] if data_dir is not None else []))
    if any(p == r or r in p.parents for r in roots):
        return p
    if not roles.import_roots and not actor.signed_in:
        return p
    allowed = ", ".join(map(str, roles.import_roots)) or "none configured: [imports] roots in the roles file"
    raise Forbidden(actor, Action.IMPORT,
                    f"{p} is not inside the data dir nor under an allowed import root ({allowed})")


def record(store, actor: Actor, action: Action | str, obj: str | None = None, details: dict | None = None) -> int:
    """Append one audit row for ``actor`` (the store's append-only ``audit`` table)."""
    return store.record_audit(actor.name, actor.role.value, actor.via, getattr(action, "value", str(action)), obj,
                              details)


@contextmanager
def performing(store, by: Actor | str | None, action: Action | str, obj: str | None = None,
               details: dict | None = None, label: str | None = None) -> Iterator[Actor]:
    """Check ``by`` may do ``action`` on ``store`` (:class:`Forbidden` before anything is written),
    run the body, then append the audit row (only when the body succeeded; ``label``: what the
    row calls the action, e.g. 'undo', default the action's name)."""
    actor = acting(store.data_dir, by, action)
    yield actor
    record(store, actor, label or action, obj, details)
