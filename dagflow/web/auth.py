"""Who is calling: a bearer token (scripts, the Airflow client) or a Flask-Login session (the UI).

``before_request`` (installed by ``install``) finds the caller, then checks the route's
permission (``dagflow.web.permissions``). A request that authenticates with a session
cookie and changes something must carry a CSRF token (Flask-WTF); a bearer request is
CSRF-exempt (a browser never adds that header by itself). ``POST /auth/token`` trades a
username and password for a token, as Airflow 3 does, and is rate-limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from apiflask import APIBlueprint, APIFlask
from flask import g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user
from flask_wtf.csrf import CSRFProtect
from pydantic import BaseModel, Field

from dagflow.exceptions import NotAuthenticated, PermissionDenied
from dagflow.services import users
from dagflow.services.actor import reset_actor, set_actor
from dagflow.services.dag_access import CAN_READ, check_dag_access, hidden_dag_ids
from dagflow.services.users import UserInfo
from dagflow.web.context import EXTENSION, WebContext, web_context
from dagflow.web.permissions import DAG_ACTIONS, PUBLIC, allowed, route_permission

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Name of the API tokens that ``POST /auth/token`` issues.
LOGIN_TOKEN_NAME = "auth/token"


class SessionUser(UserMixin):  # type: ignore[misc]
    """A Flask-Login user; its id carries the ``auth_epoch``, so a password change ends the session."""

    def __init__(self, info: UserInfo) -> None:
        self.info = info

    def get_id(self) -> str:
        """``"<user id>:<auth epoch>"``."""
        return f"{self.info.id}:{self.info.auth_epoch}"


def log_in(info: UserInfo, *, remember: bool = False) -> None:
    """Open a web session for ``info`` (the UI's login form calls this)."""
    login_user(SessionUser(info), remember=remember)


def current_identity() -> UserInfo | None:
    """The authenticated caller of this request, or None."""
    identity: UserInfo | None = g.get("dagflow_user")
    return identity


@dataclass(frozen=True)
class AuthExtensions:
    """The Flask extensions auth uses, kept for the UI's blueprint."""

    login_manager: LoginManager
    csrf: CSRFProtect
    limiter: Limiter


class TokenRequest(BaseModel):
    """``POST /auth/token`` body."""

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    """A new access token (send it as ``Authorization: Bearer <access_token>``)."""

    access_token: str


auth_blueprint = APIBlueprint("auth", __name__, url_prefix="/auth", tag="Login")


@auth_blueprint.post("/token")
@auth_blueprint.input(TokenRequest, arg_name="body")
@auth_blueprint.output(TokenResponse, status_code=201)
@auth_blueprint.doc(summary="Create a token", security=[], responses={401: "Invalid credentials", 429: "Too many"})
def create_token(body: TokenRequest) -> TokenResponse:
    """Trade a username and password for a bearer token that expires (``api.access_token_expiration_time``)."""
    context = web_context()
    user = users.authenticate(context.db, body.username, body.password)
    ttl = timedelta(seconds=context.settings.api.access_token_expiration_time)
    issued = users.issue_token(context.db, user.username, name=LOGIN_TOKEN_NAME, ttl=ttl)
    return TokenResponse(access_token=issued.token)


def install(app: APIFlask) -> AuthExtensions:
    """Set up sessions, CSRF, the rate limiter, ``/auth/token`` and the per-request check."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked below, for cookie sessions only
    login_manager = LoginManager(app)
    csrf = CSRFProtect(app)
    context: WebContext = app.extensions[EXTENSION]
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", default_limits=[])
    limiter.limit(context.settings.api.login_rate_limit, methods=["POST"])(auth_blueprint)

    @login_manager.user_loader  # type: ignore[untyped-decorator]  # flask-login ships no types
    def _load(user_id: str) -> SessionUser | None:
        pk, _, epoch = user_id.partition(":")
        if not (pk.isdigit() and epoch.isdigit()):
            return None
        info = users.user_for_session(web_context().db, int(pk), int(epoch))
        return None if info is None else SessionUser(info)

    @app.before_request
    def _authenticate_and_authorize() -> None:
        if request.endpoint is None:  # no such route: let it 404
            return
        permission = route_permission(request.endpoint)
        if permission is None:
            raise PermissionDenied(f"the route {request.endpoint!r} declares no permission: nobody may use it")
        if permission == PUBLIC:
            return
        user = _identify(csrf)
        g.dagflow_user = user
        if user is None:
            raise NotAuthenticated("not authenticated: send 'Authorization: Bearer <token>' (see POST /auth/token)")
        if not allowed(user.role, permission):
            raise PermissionDenied(f"user {user.username!r} (role {user.role}) may not do this ({permission})")
        _check_dag_in_path(user, permission)
        g.dagflow_actor = set_actor(user.username)  # the audit event log names this user

    @app.teardown_request
    def _forget_actor(_exc: BaseException | None) -> None:
        token = g.pop("dagflow_actor", None)
        if token is not None:
            reset_actor(token)

    app.register_blueprint(auth_blueprint)
    return AuthExtensions(login_manager, csrf, limiter)


def hidden_dags(action: str = CAN_READ) -> frozenset[str]:
    """DAGs whose ``access_control`` refuses the caller ``action``: lists (API and UI) leave them out."""
    user = current_identity()
    return hidden_dag_ids(web_context().db, None if user is None else user.role, action)


def _check_dag_in_path(user: UserInfo, permission: str) -> None:
    """A route that names a DAG in its path also needs the DAG's ``access_control`` to allow the action."""
    dag_id = (request.view_args or {}).get("dag_id")
    action = DAG_ACTIONS.get(permission)
    if action is not None and isinstance(dag_id, str) and dag_id != "~":
        check_dag_access(web_context().db, user.role, dag_id, action)


def _identify(csrf: CSRFProtect) -> UserInfo | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("unsupported Authorization header: use 'Bearer <token>'")
        return users.user_for_token(web_context().db, token.strip())
    if current_user.is_authenticated:
        if request.method not in SAFE_METHODS:
            csrf.protect()  # a cookie session changing something must prove it came from our pages
        info: UserInfo = current_user.info
        return info
    return None
