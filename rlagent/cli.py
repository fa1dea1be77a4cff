"""The `rlagent` command line: train, eval, compare-runs, runs, new-task, recipes, models."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from rlagent.ui import err_console, friendly, out_console

app = typer.Typer(
    help="Customize multi-turn, tool-using LLM agents with online reinforcement learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
recipes_app = typer.Typer(help="List, show and explain recipes.", no_args_is_help=True)
models_app = typer.Typer(help="List models and prepare the embedded ones offline.", no_args_is_help=True)
runs_app = typer.Typer(help="List run directories and show one run.", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")


def _appsim_app() -> typer.Typer:
    from rlagent.worlds.appsim.cli import appsim_app

    return appsim_app


app.add_typer(_appsim_app(), name="appsim")

OVERRIDES_HELP = "recipe=NAME followed by Hydra overrides, e.g. trainer.max_steps=50 model=smollm2-135m."
DRY_RUN_HELP = (
    "Validate the recipe, data and model path, print the resolved recipe, the example counts and a token estimate, "
    "and exit without creating a run directory or loading the model."
)
DRY_RUN = "--dry-run"


def _split_dry_run(overrides: list[str] | None, flag: bool) -> tuple[list[str], bool]:
    """Hydra overrides without --dry-run (wherever it stood), and whether it was given."""
    rest = [item for item in overrides or [] if item != DRY_RUN]
    return rest, flag or len(rest) != len(overrides or [])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly
def train(
    overrides: list[str] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    dry_run: bool = typer.Option(False, DRY_RUN, help=DRY_RUN_HELP),
    multirun: bool = typer.Option(
        False,
        "--multirun",
        "-m",
        help="Sweep: seed=0,1 trainer.prompts_per_step=2,4 (or range(a,b)) run every combination, one run "
        "directory each under --sweep-dir; `rlagent compare-runs SWEEP_DIR` compares them.",
    ),
    sweep_dir: Path = typer.Option(
        None, "--sweep-dir", help="Where a sweep's runs go (default RUN_ROOT/NAME-sweep-TIME).", show_default=False
    ),
    sweep_launcher: str = typer.Option(
        "local", "--sweep-launcher", help="local: one job after another here; slurm: one Slurm job array."
    ),
    slurm_option: list[str] = typer.Option(
        None,
        "--slurm-option",
        help="An #SBATCH option for the array, e.g. --gres=gpu:8 (repeatable).",
        show_default=False,
    ),
) -> None:
    """Train a policy with online GRPO: vLLM rollouts, verifier rewards, TRL updates. Library output goes to
    RUN/logs/libraries.log; -v keeps it on the terminal."""
    rest, dry = _split_dry_run(overrides, dry_run)
    from rlagent.launch.sweep import is_sweep

    if multirun:
        from rlagent.launch.sweep import sweep_command

        def say(line: str) -> None:
            err_console.print(line, highlight=False, soft_wrap=True, markup=False)

        raise typer.Exit(sweep_command(rest, sweep_dir, sweep_launcher, list(slurm_option or []), dry, say))
    if is_sweep(rest):
        from rlagent.errors import UserError

        raise UserError("the overrides sweep over several values (a,b or range()); add -m (--multirun) to run each")
    from rlagent.train.run import train_command

    train_command(rest, dry)


@app.command(name="eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly
def eval_(
    overrides: list[str] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    dry_run: bool = typer.Option(False, DRY_RUN, help=DRY_RUN_HELP),
) -> None:
    """Evaluate a model or checkpoint: task.split, eval.num_samples (pass@k), task.limit, checkpoint=DIR. Library
    output goes to RUN/logs/libraries.log; -v keeps it on the terminal."""
    from rlagent.evaluate.command import eval_command

    eval_command(*_split_dry_run(overrides, dry_run))


@app.command(name="compare-runs")
@friendly
def compare_runs(
    runs: list[Path] = typer.Argument(
        ..., help="Run directories (training, eval-only or baseline runs), or folders of them (a sweep's)."
    ),
    split: str = typer.Option(None, "--split", help="Only this evaluation split (default: all)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write a self-contained HTML report here."),
) -> None:
    """Compare runs: final and best metrics, differing config keys, curves, per-task flips."""
    from rlagent.runs.compare_command import compare_command

    compare_command(runs, split=split, output=output)


@runs_app.command("list")
@friendly
def runs_list(
    directory: Path = typer.Argument(
        None, help="Folder searched for run directories; default: the default run.root (runs).", show_default=False
    ),
) -> None:
    """A table of the runs under a folder: recipe, status, steps, best and last evaluation, start and wall time."""
    from rlagent.config.schema import RunConfig
    from rlagent.runs.runs_command import list_command

    list_command(directory or Path(RunConfig().root))


@runs_app.command("show")
@friendly
def runs_show(
    run: Path = typer.Argument(..., help="A run directory."),
    episode: str = typer.Option(
        None,
        "--episode",
        help="Show one stored episode instead: SOURCE:EXAMPLE#SAMPLE (e.g. dev-step-8:kb-0ac93aa76e18#0, "
        "step-3:kb-5bc24cd9f36a#2); parts may be left out when the rest picks one episode.",
        show_default=False,
    ),
) -> None:
    """One run: status, configuration summary, every evaluation with its 95% interval, per-step curves; or one
    episode turn by turn (--episode): the task, the model's turns and tool calls, observations, reward, verdict."""
    from rlagent.runs.runs_command import show_command

    show_command(run, episode)


@app.command(name="new-task")
@friendly
def new_task(
    name: str = typer.Argument(..., help="Package name of the task, a lowercase Python identifier (e.g. inventory)."),
    directory: Path = typer.Option(Path("."), "--dir", help="Folder to write the package into."),
) -> None:
    """Write a custom-task package: environment, reward, example rows, CPU/GPU recipes, a test (task=custom)."""
    from rlagent.scaffold.new_task import new_task_command

    new_task_command(name, directory)


@recipes_app.command("list")
@friendly
def recipes_list() -> None:
    """A table of the recipes: model, task, algorithm, engine."""
    from rlagent.config.compose import compose_recipe, recipe_names
    from rlagent.tasks.registry import NOT_BUILT

    table = Table(title="rlagent recipes")
    for column in ("recipe", "model", "task", "algorithm", "engine"):
        table.add_column(column, overflow="fold")
    for name in recipe_names():
        cfg, _ = compose_recipe([f"recipe={name}"])
        task = f"{cfg.task.suite}/{cfg.task.dataset}" + (" (not built)" if cfg.task.suite in NOT_BUILT else "")
        table.add_row(name, cfg.model.name_or_path, task, cfg.algorithm.name, cfg.rollout.engine)
    out_console.print(table)


@recipes_app.command("show")
@friendly
def recipes_show(
    name: str = typer.Argument(..., help="Recipe name."),
    overrides: list[str] = typer.Argument(None, help="Hydra overrides to apply first.", show_default=False),
) -> None:
    """Print a recipe's resolved configuration as YAML."""
    from rlagent.config.compose import compose_recipe, to_yaml
    from rlagent.config.steps import derived_comment

    cfg, _ = compose_recipe([f"recipe={name}", *(overrides or [])])
    sys.stdout.write(to_yaml(cfg))
    sys.stdout.write(derived_comment(cfg))


@recipes_app.command("keys")
@friendly
def recipes_keys(section: str = typer.Argument(None, help="Only keys under this section, e.g. trainer.")) -> None:
    """Every configurable key with its type, default and meaning."""
    from rlagent.config.describe import describe_keys

    table = Table(title="recipe keys")
    for column in ("key", "type", "default", "meaning"):
        table.add_column(column, overflow="fold")
    for row in describe_keys(section):
        table.add_row(*row)
    out_console.print(table)


@models_app.command("list")
@friendly
def models_list() -> None:
    """Known models, where they come from, and whether they are prepared."""
    from rlagent.models.registry import MODELS, is_prepared, prepared_dir

    table = Table(title="rlagent models")
    for column in ("name", "source", "from", "parameters", "status"):
        table.add_column(column, overflow="fold")
    for spec in MODELS.values():
        if spec.source == "hub":
            status = "downloaded from the Hub on first use"
        else:
            status = f"prepared: {prepared_dir(spec.name)}" if is_prepared(spec.name) else "not prepared"
        table.add_row(spec.name, spec.source, spec.reference, spec.parameters, status)
    out_console.print(table)


@models_app.command("prepare")
@friendly
def models_prepare(
    name: str = typer.Argument(..., help="Model to prepare offline (smollm2-135m, tiny)."),
    force: bool = typer.Option(False, "--force", help="Prepare again even if already prepared."),
) -> None:
    """Prepare an embedded model into $RLAGENT_HOME/models (no Hub access needed)."""
    from rlagent.models.prepare import prepare

    with err_console.status(f"preparing {name} ..."):
        path = prepare(name, force=force)
    out_console.print(f"prepared {name}: {path}", highlight=False, soft_wrap=True)


def quiet_libraries() -> None:
    """Keep vLLM, transformers and TRL chatter out of the terminal (users can still raise it)."""
    import os
    import warnings

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", message="TRL currently supports vLLM versions")
    warnings.filterwarnings("ignore", category=FutureWarning)


def main() -> None:
    from rlagent import quiet

    if quiet.take_verbose(sys.argv):  # -v/--verbose, anywhere: library output stays on the terminal
        import os

        os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")
    else:
        quiet.enabled = True
    quiet_libraries()
    app()


if __name__ == "__main__":
    main()
