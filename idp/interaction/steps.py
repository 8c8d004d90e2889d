"""What crosses between the hosted pages and the stages, as plain data (Keycloak's
``AuthenticationFlowContext`` split in two): ``Posted`` is the request a page hands down, a
stage answers a ``Show`` (draw this page) or a ``Done`` (the stage is over), and the walk
answers the page one ``Result``. The web layer never reads a stage's progress flags or
``amr`` values, and the stages never read ``flask.request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..models import Interaction, User
from ..services.errors import ServiceError
from .finish import FinishedSignIn


class RepeatedField(ServiceError):
    """A form field a stage reads was sent more than once: refused, never "any of"."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The field {name!r} was sent more than once.")
        self.name = name


@dataclass(frozen=True)
class Posted:
    """The request as a stage sees it: method, form fields, and what the browser carries."""

    method: str = "GET"
    #: Every value of every form field, in order.
    form: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    binding: str | None = None
    client_address: str | None = None
    user_agent: str = ""
    #: The browser's trusted-browser cookie (SPEC P8) and SSO session cookie.
    trust_token: str | None = None
    sso_token: str | None = None
    #: The language switched to on this request (``?lang=``), and the page's language
    #: without the sign-in's own (cookie, ``Accept-Language``, the realm's default).
    switched_locale: str | None = None
    fallback_locale: str = "en"

    @property
    def is_post(self) -> bool:
        return self.method == "POST"

    def value(self, name: str) -> str | None:
        """One value of a form field (None when absent); a repeated field raises."""
        values = self.form.get(name, ())
        if len(values) > 1:
            raise RepeatedField(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Show:
    """A stage's page: its template and the data it needs. ``error`` names a message the
    web layer words (or is a service's own message). ``wait`` is a throttle's wait in
    seconds: the page then counts it down in the form ``form_id``; a ``second_factor``
    wait offers the ways out when it is long (SPEC V9)."""

    template: str
    data: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    error: str | None = None
    wait: int | None = None
    form_id: str = ""
    second_factor: bool = False
    #: The page names the account being signed in ("Not you? Start over").
    signing_in_as: bool = True
    #: The page shows the authenticator app's pending key (drawn by the web layer: which
    #: key this browser was shown is kept in its signed cookie).
    totp_enrolment: bool = False


@dataclass(frozen=True)
class TrustGiven:
    """A new trusted-browser cookie to set (SPEC P8)."""

    token: str
    max_age: int


@dataclass(frozen=True)
class Done:
    """The stage is over: ``amr`` gains what it proved (the interaction is re-bound to a new
    browser value), then ``then`` is shown (the backup codes just issued) or the walk goes
    on. ``advance`` False goes on without recording anything (a stage with nothing left to
    do). ``refresh`` says the stage changed what the other stages look at (a factor set up)."""

    amr: tuple[str, ...] = ()
    #: The user the stage identified (the password stage), when none was known.
    user: User | None = None
    then: Show | None = None
    trust: TrustGiven | None = None
    advance: bool = True
    refresh: bool = False


Step = Show | Done


@dataclass
class Result:
    """What a page does with a request, decided below the web layer. Exactly one of
    ``stale``, ``resume``, ``show``, ``goto`` and ``finished`` is set."""

    interaction: Interaction | None = None
    user: User | None = None
    #: The sign-in's own language to render in (None: the request's).
    language: str | None = None
    #: ``expired`` or ``unknown``: the sign-in cannot go on.
    stale: str | None = None
    #: Every stage ran already: resume what asked for the sign-in.
    resume: bool = False
    show: Show | None = None
    #: The endpoint of the next stage's page.
    goto: str | None = None
    finished: FinishedSignIn | None = None
    #: A new browser binding value for the interaction (after a stage).
    binding: str | None = None
    trust: TrustGiven | None = None
