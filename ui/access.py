"""Who is using the app: the one gate every page passes first (``ui.frame.page`` calls :func:`gate`).

- Local mode (the default of ``make run``, bound to 127.0.0.1): no sign-in, the OS user acts
  (``identity.os_actor``: admin unless the roles file says otherwise).
- Shared server: when ``.streamlit/secrets.toml`` has an ``[auth]`` section, Streamlit's own
  OpenID Connect sign-in (``st.login``) is required and an anonymous visitor sees only the sign-in
  page; the signed-in person's role comes from the roles file (``<data dir>/roles.toml``).

Hiding a button is only a courtesy: every action is checked again by the engine call it makes
(``identity.Forbidden``), which the page shows as one error line.
"""
from __future__ import annotations

import streamlit as st

from unpose_core.identity import Action, Actor, can, os_actor, signed_in_actor

_KEY = "unposed_actor"


def auth_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` configures sign-in (an ``[auth]`` section)."""
    try:
        return "auth" in st.secrets
    except Exception:   # no secrets file at all (StreamlitSecretNotFoundError): local mode
        return False


def _claim_name() -> str | None:
    for claim in ("email", "preferred_username", "name", "sub"):
        value = st.user.get(claim)
        if value:
            return str(value)
    return None


def gate(data_dir) -> Actor:
    """The actor of this session; with sign-in configured and nobody signed in, the sign-in page
    and nothing else (the script stops here)."""
    if not auth_configured():
        actor = os_actor(data_dir, via="app")
    elif not st.user.get("is_logged_in", False):   # AppTest and anonymous sessions may lack the key
        sign_in_page()
        st.stop()
    else:
        name = _claim_name()
        if not name:
            st.error("The identity provider sent no e-mail, name or subject for you: ask an admin.")
            st.stop()
        actor = signed_in_actor(data_dir, name, via="app")
    st.session_state[_KEY] = actor
    return actor


def sign_in_page() -> None:
    st.title("Unposed")
    st.markdown("This Unposed server is shared by a team: sign in with your company account to continue.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, key="unposed_sign_in")


def current() -> Actor:
    """The actor the gate found for this session (the OS user when a page runs outside the frame)."""
    actor = st.session_state.get(_KEY)
    return actor if isinstance(actor, Actor) else os_actor(None, via="app")


def allowed(action: Action | str) -> bool:
    """Whether the current actor may ``action`` (to disable a button; the engine checks again)."""
    return can(current(), action)


def who_caption(actor: Actor) -> None:
    """'Signed in as NAME (role)' and Sign out, or the local user, in the sidebar."""
    if actor.signed_in:
        st.caption(f"Signed in as **{actor.name}** ({actor.role.value})")
        st.button("Sign out", on_click=st.logout, icon=":material/logout:", key="unposed_sign_out")
    else:
        st.caption(f"Local user **{actor.name}** ({actor.role.value}); no sign-in")
