"""Sign-in is an ordered list of stages (as in django-allauth). Each stage decides whether
it applies to the interaction at hand; the pages run the first one that does. Adding a
factor (WebAuthn, an enrolment-required stage) is adding a stage here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..models import Interaction, User
from ..services.factors import has_second_factor


@dataclass(frozen=True)
class Stage(ABC):
    name: str
    #: endpoint of the page that runs the stage
    endpoint: str

    @abstractmethod
    def applies(self, db: Session, interaction: Interaction, user: User | None) -> bool:
        """Whether this stage still has to run for this interaction and user."""


class PasswordStage(Stage):
    def applies(self, db: Session, interaction: Interaction, user: User | None) -> bool:
        return "pwd" not in (interaction.amr or [])


class SecondFactorStage(Stage):
    """TOTP security code, or a backup code instead (SPEC L1, L3)."""

    def applies(self, db: Session, interaction: Interaction, user: User | None) -> bool:
        if user is None:
            return False
        return "mfa" not in (interaction.amr or []) and has_second_factor(db, user)


STAGES: list[Stage] = [
    PasswordStage("password", "login.password"),
    SecondFactorStage("second_factor", "login.totp"),
]


def next_stage(db: Session, interaction: Interaction, user: User | None) -> Stage | None:
    for stage in STAGES:
        if stage.applies(db, interaction, user):
            return stage
    return None
