"""What a sign-in stage is (``Stage``: Keycloak's authenticator, allauth's stage) and the
facts the stages look at (``StageContext``), built once per request: each is
read from the database when a stage first asks for it, the browser's trust included (SPEC
P8), so one request reads each at most once however many stages ask. Also the names of the
progress flags the stages record in ``interaction.progress``: they are spelt here and in
``stages`` only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ..models import Interaction, Realm, TrustedBrowser, User
from ..services import backup_codes, security_keys, trusted_browsers
from ..services.factors import has_second_factor
from . import policy
from .context import policy_context
from .policy import Context as PolicyContext
from .policy import Requirement
from .steps import Posted, Show, Step

T = TypeVar("T")

# Progress flags (``interaction.progress``) the stages record and read.
POSTPONED = "postponed"  # enrolment put off in the grace period (SPEC P2)
CODES_PENDING = "codes_pending"  # backup codes issued in this sign-in, not yet shown
CODES_ISSUED = "codes_issued"  # a set was issued in this sign-in: no offer of another
NOTICE_SEEN = "notice_seen"  # the notice after a backup-code sign-in (SPEC B6)
OFFER_SEEN = "offer_seen"  # the few-codes-left offer (SPEC P6)


@dataclass
class StageContext:
    """What the stages look at: the interaction, its user and realm, and whether this
    browser holds a valid trust for the user (SPEC P8). Built once per request; each fact
    is read from the database once, when a stage first asks for it. ``trusted`` may be
    given (unit tests); otherwise it is looked up from ``trust_token``."""

    db: Session
    realm: Realm
    interaction: Interaction
    user: User | None
    trusted: bool | None = None
    trust_token: str | None = None
    #: The sign-in's language (mail sent during a stage is written in it).
    locale: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def amr(self) -> list[str]:
        return list(self.interaction.amr or [])

    @property
    def progress(self) -> dict[str, object]:
        return dict(self.interaction.progress or {})

    def record(self, **flags: object) -> None:
        """Record what a stage settled in the interaction's progress."""
        progress = dict(self.interaction.progress or {})
        progress.update(flags)
        self.interaction.progress = progress

    # Cached by hand: functools.cached_property holds a class-wide lock on Python 3.11,
    # which deadlocks against the database's write lock across request threads.
    def _once(self, name: str, compute: Callable[[], T]) -> T:
        if name not in self._cache:
            self._cache[name] = compute()
        found: T = self._cache[name]
        return found

    def identify(self, user: User) -> None:
        """The stage that identifies the user (the password) names them: nothing read so
        far holds for them."""
        self.user = user
        self._cache.clear()

    def refresh(self) -> None:
        """Forget what was read of the user's factors (a stage just changed them). The
        browser's trust is kept: it does not change within a request."""
        for name in [name for name in self._cache if name != "trust"]:
            del self._cache[name]

    @property
    def trust(self) -> TrustedBrowser | None:
        """The trust this browser's cookie holds for the user, looked up once."""
        user = self.user
        return self._once(
            "trust",
            lambda: (
                None
                if user is None
                else trusted_browsers.find_trust(self.db, self.realm, user, self.trust_token)
            ),
        )

    @property
    def is_trusted(self) -> bool:
        return self.trusted if self.trusted is not None else self.trust is not None

    @property
    def has_second_factor(self) -> bool:
        user = self.user
        return bool(
            self._once(
                "has_second_factor",
                lambda: user is not None and has_second_factor(self.db, user),
            )
        )

    @property
    def has_security_key(self) -> bool:
        user = self.user
        return bool(
            self._once(
                "has_security_key",
                lambda: user is not None and bool(security_keys.count_keys(self.db, [user.id])),
            )
        )

    @property
    def policy(self) -> PolicyContext:
        ctx: PolicyContext = self._once(
            "policy", lambda: policy_context(self.db, self.realm, self.interaction, self.user)
        )
        return ctx

    @property
    def requirement(self) -> Requirement:
        found: Requirement = self._once("requirement", lambda: policy.requirement(self.policy))
        return found

    @property
    def unused_codes(self) -> int:
        assert self.user is not None
        user_id = self.user.id
        return int(self._once("unused", lambda: backup_codes.count_unused(self.db, user_id)))

    @property
    def known_user(self) -> User:
        """The user a stage's page is for (the walk shows no stage page before one is)."""
        assert self.user is not None, "a stage page needs the user"
        return self.user


@dataclass(frozen=True)
class Stage(ABC):
    name: str
    #: endpoint of the page that runs the stage
    endpoint: str
    #: Pages of this stage besides ``endpoint`` (the backup code beside the code).
    also: tuple[str, ...] = ()
    #: Stages whose place these pages may take (the authenticator app in place of a
    #: security key): a page runs when the next stage is this one or one of these.
    alternative_to: tuple[str, ...] = ()

    @property
    def pages(self) -> tuple[str, ...]:
        return (self.endpoint, *self.also)

    def stands_for(self, stage: Stage) -> bool:
        return stage.name == self.name or stage.name in self.alternative_to

    def runs_now(self, ctx: StageContext, due: Stage | None) -> bool:
        """Whether this stage's page runs for the interaction at hand (else the browser goes
        on to the stage that is due): by default once the user is known (Keycloak's
        ``requiresUser``) and when the stage due is this one or one it stands in for."""
        return ctx.user is not None and due is not None and self.stands_for(due)

    @abstractmethod
    def applies(self, ctx: StageContext) -> bool:
        """Whether this stage still has to run for this interaction and user."""

    @abstractmethod
    def show(self, ctx: StageContext, page: str) -> Step:
        """What the stage's ``page`` shows (a stage without a page acts here)."""

    def act(self, ctx: StageContext, page: str, posted: Posted) -> Step:
        """Check what was posted to ``page``: the stage is done, or its page again. A stage
        that takes no form shows its page again."""
        return self.show(ctx, page)


def actor(ctx: StageContext) -> str:
    return f"user:{ctx.known_user.email}"


def codes_page(codes: list[str], *, enabled_now: bool) -> Show:
    """The backup codes issued in this sign-in, shown once (SPEC B1, B6, P6)."""
    return Show(
        "login/codes.html",
        {
            "codes": codes,
            "formatted": [backup_codes.format_code(code) for code in codes],
            "enabled_now": enabled_now,
        },
    )
