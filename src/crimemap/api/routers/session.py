"""Browser sessions: exchange an API token for a signed, HttpOnly session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from crimemap.api._access import ACTION_KEY, AUTH_ACTION, Who, audit, get_guard
from crimemap.errors import AuthenticationError
from crimemap.safeguards import ANONYMOUS, COOKIE_NAME, Principal, Role

__all__ = ["router", "WhoAmI"]

router = APIRouter(prefix="/api", tags=["session"])
_AUTH = {ACTION_KEY: AUTH_ACTION}


class WhoAmI(BaseModel):
    """The principal of the request (no token, no secret)."""

    user: str
    role: str = Field(description="public, analyst or admin.")
    forces: list[str] = Field(description="Forces of the user ('*' = every force).")
    signed_in: bool


def _out(p: Principal) -> WhoAmI:
    return WhoAmI(
        user=p.user, role=p.role.value, forces=sorted(p.forces), signed_in=p.role is not Role.PUBLIC
    )


@router.post(
    "/session",
    response_model=WhoAmI,
    summary="Sign in: exchange a bearer token for a session cookie",
    openapi_extra=_AUTH,
)
async def open_session(request: Request, response: Response, who: Who) -> WhoAmI:
    """Send ``Authorization: Bearer <token>``; the answer sets the ``crimemap_session``
    cookie (HttpOnly, SameSite=Strict, Secure unless ``cookie_secure`` is off)."""
    if who.role is Role.PUBLIC or "authorization" not in request.headers:
        await audit(
            request,
            who,
            "auth.failed",
            detail={"path": request.url.path, "via": "session", "reason": "no bearer token"},
        )
        raise AuthenticationError("sign in with an API token (Authorization: Bearer <token>)")
    guard = get_guard(request)
    response.set_cookie(COOKIE_NAME, guard.open_session(who), **guard.cookie_attributes)
    return _out(who)


@router.get("/session", response_model=WhoAmI, summary="Who am I", openapi_extra=_AUTH)
async def whoami(who: Who) -> WhoAmI:
    """The role and forces of the request's principal (``public`` without sign-in)."""
    return _out(who)


@router.delete(
    "/session", response_model=WhoAmI, summary="Sign out (end the session)", openapi_extra=_AUTH
)
async def close_session(request: Request, response: Response) -> WhoAmI:
    """End the session and clear the cookie (always succeeds)."""
    guard = get_guard(request)
    guard.close_session(request.cookies.get(COOKIE_NAME))
    attrs = guard.cookie_attributes
    response.delete_cookie(
        COOKIE_NAME,
        path=attrs["path"],
        secure=attrs["secure"],
        httponly=attrs["httponly"],
        samesite=attrs["samesite"],
    )
    return _out(ANONYMOUS)
