"""Plans of one execution: bringing the environment up to date with the run's models, restating.

SQLMesh evaluates only what an environment has deployed, so an execution
first applies the run's new or changed models to the environment (a plan
limited to them). Two failures are retried, each with a rule of its own:

- :data:`RETRY_WITHOUT_BACKFILL`: a model failed while the plan evaluated
  it. SQLMesh recorded what was completed but left the environment as it
  was; the plan is applied again without backfill, so the environment
  exists and the next run retries only what failed.
- :data:`RETRY_WITHOUT_UNCREATABLE`: a model's table could not be created (a
  missing table or column). It and what the run has below it are left out,
  each recorded as failed or skipped, and the plan is applied to the others.
"""

from collections.abc import Collection
from dataclasses import dataclass

from sqlmesh import Context
from sqlmesh.core import constants as c
from sqlmesh.core.environment import Environment
from sqlmesh.core.model import Model
from sqlmesh.utils.errors import PlanError

from ..vocabulary.diagnostics import creation_failures
from ..vocabulary.model_graph import downstream_of, unbuilt_ancestors
from .coordination import Coordination
from .event_capture import ExecutionRecorder
from .selectors import plan_selection

RETRY_WITHOUT_BACKFILL = "a model failed while the plan evaluated it: apply it again, evaluating nothing"
RETRY_WITHOUT_UNCREATABLE = "a table could not be created: apply the plan to the other models"


@dataclass(frozen=True)
class Planner:
    """Applies plans to one environment for one execution, recording what fails."""

    context: Context
    environment: str
    auto_plan: bool
    recorder: ExecutionRecorder
    coordination: Coordination
    """Plans are built and applied one at a time per SQLMesh state (see :mod:`.coordination`)."""

    def environment_or_origin(self) -> Environment | None:
        """The run's environment; for one that does not exist yet, prod, which SQLMesh creates it from."""
        state = self.context.state_reader
        environment = state.get_environment(self.environment)
        if environment is None and self.environment != c.PROD:
            environment = state.get_environment(c.PROD)
        return environment

    def bring_up_to_date(self, models: dict[str, Model], backfill: bool) -> bool:
        """Apply the run's new or changed models to the environment; return whether a plan was applied.

        Only the models of this run are planned (``select_models``): a changed
        model outside the selection keeps its deployed version, and its data,
        until a run selects it. With ``backfill`` the plan also evaluates them,
        in one pass as ``sqlmesh plan`` does (creating every table up front
        without filling it costs SQLMesh a rendering against every other model,
        which grows with the square of the project's size). Failures are
        retried as the module says. Every model the plan failed or skipped is
        in ``recorder.settled()``. The plan is built and applied under the
        state's plan lock, against what the plan before it applied (which may
        have applied these very changes: then there is nothing left to plan).
        """
        changed = self._changed(models)
        if not changed:
            return False
        if not self.auto_plan:
            return self._keep_deployed(changed)
        with self.coordination.plan(models):
            return self._apply_changed(self._changed(models), models, backfill)

    def _apply_changed(self, changed: dict[str, str], models: dict[str, Model], backfill: bool) -> bool:
        """Apply ``changed``, retrying without what fails as the module says."""
        while changed:
            self.recorder.message(
                f"SQLMesh: applying {len(changed)} new or changed model(s) to '{self.environment}'"
                f"{'' if backfill else ' (creating their new versions, evaluating nothing)'}: "
                f"{', '.join(sorted(changed.values()))}"
            )
            try:
                self._apply(changed, backfill)
                return True
            except Exception as error:
                failures = creation_failures(error)
                if not failures:
                    if self._retries_without_backfill(error, backfill):
                        backfill = False
                        continue
                    raise
            changed = self._without_uncreatable(changed, failures, models)
        return False

    def restate(self, names: list[str], about: Collection[str] = ()) -> None:
        """Evaluate ``names`` again over their whole history, as ``sqlmesh plan --restate-model`` does.

        A restatement is a plan: it waits for the plan lock (``about``: the models waiting).
        """
        try:
            with self.coordination.plan(about):
                self.context.plan(
                    self.environment,
                    restate_models=names,
                    backfill_models=names,
                    no_prompts=True,
                    auto_apply=True,
                    skip_tests=True,
                    skip_linter=True,
                )
        except PlanError:
            pass  # per-model failures were recorded by the console; they are reported per asset

    def _changed(self, models: dict[str, Model]) -> dict[str, str]:
        """The run's models whose version differs from the environment's, by fqn, with their names."""
        environment = self.context.state_reader.get_environment(self.environment)
        deployed = {s.name: s.snapshot_id for s in environment.snapshots} if environment else {}
        # Outside prod, SQLMesh gives views only to the models a plan selected: one the
        # environment holds without a view of its own is planned too, so the run's models
        # all have a view there (prod has every model's).
        promoted = environment.promoted_snapshot_ids if environment else None
        viewed = None if promoted is None else {snapshot_id.name for snapshot_id in promoted}
        local = self.context.snapshots
        return {
            fqn: model.name
            for fqn, model in models.items()
            if deployed.get(fqn) != local[fqn].snapshot_id or (viewed is not None and fqn not in viewed)
        }

    def _keep_deployed(self, changed: dict[str, str]) -> bool:
        """With auto_plan off, the deployed versions run: say so, or fail if nothing is deployed."""
        if self.context.state_reader.get_environment(self.environment) is None:
            raise RuntimeError(
                f"SQLMesh environment '{self.environment}' does not exist and auto_plan is off: "
                "apply a plan first (sqlmesh plan)."
            )
        self.recorder.message(
            f"SQLMesh: {len(changed)} model(s) differ from what '{self.environment}' has deployed; "
            "auto_plan is off, so the deployed versions run."
        )
        return False

    def _apply(self, changed: dict[str, str], backfill: bool) -> None:
        planned = changed | unbuilt_ancestors(self.context, changed)
        state = self.context.state_reader
        self.context.plan(
            self.environment,
            select_models=plan_selection(
                self.context,
                planned,
                (state.get_environment(self.environment), state.get_environment(c.PROD)),
            ),
            skip_backfill=not backfill,
            no_prompts=True,
            auto_apply=True,
            skip_tests=True,
            skip_linter=True,
        )

    def _retries_without_backfill(self, error: Exception, backfill: bool) -> bool:
        """:data:`RETRY_WITHOUT_BACKFILL` applies: models failed while the plan evaluated them."""
        return backfill and isinstance(error, PlanError) and bool(self.recorder.settled())

    def _without_uncreatable(
        self, changed: dict[str, str], failures: dict[str, str], models: dict[str, Model]
    ) -> dict[str, str]:
        """:data:`RETRY_WITHOUT_UNCREATABLE`: record the failures and what is below them; plan the rest."""
        for fqn, message in failures.items():
            self.recorder.model_not_created(fqn, message)
        below = downstream_of(self.context, set(failures)) & set(models)
        self.recorder.models_skipped(below - set(failures))
        return {fqn: name for fqn, name in changed.items() if fqn not in failures and fqn not in below}
