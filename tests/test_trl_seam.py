"""The TRL seam (rlagent/train/trl_seam.py): the installed TRL has every internal rlagent overrides, with the
parameters it expects; a TRL that renamed or changed one is refused in one line naming the method."""

from __future__ import annotations

from typing import ClassVar

import pytest
import trl

from rlagent.errors import UserError
from rlagent.train.trainer import AgentGRPOTrainer
from rlagent.train.trl_seam import METHODS, check_trl


def test_the_installed_trl_matches_the_seam():
    check_trl()
    for name in METHODS:  # every coupling listed is one AgentGRPOTrainer really overrides or calls
        assert name in AgentGRPOTrainer.__dict__ or name == "_save_checkpoint" or hasattr(trl.GRPOTrainer, name)
    overridden = {n for n in AgentGRPOTrainer.__dict__ if n.startswith("_") and not n.startswith("__")}
    private_overrides = {n for n in overridden if hasattr(trl.GRPOTrainer, n)}
    assert private_overrides <= set(METHODS), (
        f"overridden but not listed in the seam: {private_overrides - set(METHODS)}"
    )


def test_a_changed_trl_is_refused_naming_the_method():
    class Removed(trl.GRPOTrainer):
        _generate_and_score_completions = None  # as if a TRL release removed it

    with pytest.raises(
        UserError, match=r"has no GRPOTrainer\._generate_and_score_completions, which rlagent overrides"
    ):
        check_trl(trainer_class=Removed)

    class Changed(trl.GRPOTrainer):
        def _compute_loss(self, model, batch):  # a parameter renamed
            return None

    with pytest.raises(UserError, match=r"changed GRPOTrainer\._compute_loss\('self', 'model', 'batch'\)"):
        check_trl(trainer_class=Changed)

    class NoField:
        __dataclass_fields__: ClassVar[dict] = {"num_iterations": None}

    with pytest.raises(UserError, match=r"has no GRPOConfig\.steps_per_generation"):
        check_trl(config_class=NoField)
