"""Compose a recipe with Hydra, validate it against the structured configs, explain errors in one line."""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError

from rlagent.config.schema import CONFIG_GROUPS, RecipeConfig
from rlagent.config.steps import StepPlan
from rlagent.errors import UserError, allowed_list, did_you_mean
from rlagent.launch.commands import check_launcher

PRIMARY_CONFIG = "rlagent"
SCHEMA_NAME = "rlagent_schema"


def recipes_dir() -> Path:
    """The shipped recipes: `rlagent/recipes` in a wheel, `<repo>/recipes` in a checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "recipes", here.parent / "recipes"):
        if (candidate / f"{PRIMARY_CONFIG}.yaml").is_file():
            return candidate
    raise UserError(f"recipes folder not found next to {here}; reinstall rlagent")


def search_dirs() -> list[Path]:
    """Recipe folders: $RLAGENT_RECIPES_PATH (colon-separated, user recipes first), then the shipped ones."""
    extra = [Path(p).resolve() for p in os.environ.get("RLAGENT_RECIPES_PATH", "").split(os.pathsep) if p]
    return [*extra, recipes_dir()]


def group_options(group: str) -> list[str]:
    """Names of the YAML files of a config group (`recipe`, `model`, ...) across the search folders."""
    names: set[str] = set()
    for folder in search_dirs():
        names.update(p.stem for p in (folder / group).glob("*.yaml"))
    return sorted(names)


def recipe_names() -> list[str]:
    return group_options("recipe")


def _register_schema() -> None:
    ConfigStore.instance().store(name=SCHEMA_NAME, node=RecipeConfig)


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass inside `tp` (also through `X | None`), or None."""
    if dataclasses.is_dataclass(tp):
        return tp  # type: ignore[return-value]
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg  # type: ignore[return-value]
    return None


def _is_mapping(tp: Any) -> bool:
    """`dict[...]`, also through `dict[...] | None`."""
    return typing.get_origin(tp) is dict or any(typing.get_origin(a) is dict for a in typing.get_args(tp))


def check_key(key: str) -> bool:
    """Raise a UserError unless `key` (dotted) names a field of the schema; True if it is inside a mapping."""
    cls: type | None = RecipeConfig
    walked: list[str] = []
    for part in key.split("."):
        assert cls is not None
        types = _field_types(cls)
        if part not in types:
            where = ".".join(walked) or "the recipe"
            raise UserError(f"unknown key '{key}'{did_you_mean(part, types)}; {where} takes: {allowed_list(types)}")
        walked.append(part)
        if _is_mapping(types[part]):
            return len(walked) < len(key.split("."))  # free-form mapping: any sub-key is fine
        cls = _dataclass_of(types[part])
        if cls is None and len(walked) < len(key.split(".")):
            raise UserError(f"'{'.'.join(walked)}' is a value, not a section: '{key}' does not exist")
    return False


def check_overrides(overrides: list[str]) -> list[str]:
    """Validate override keys and group choices before Hydra composes anything.

    Returns the overrides ready for Hydra: keys inside free-form mappings (`task.files.dev=...`) get
    Hydra's `++` (add or replace) so users need not know whether the key exists yet.
    """
    parser = OverridesParser.create()
    ready: list[str] = []
    for text in overrides:
        try:
            (parsed,) = parser.parse_overrides([text])
        except HydraException as exc:
            raise UserError(f"cannot parse override '{text}': {str(exc).splitlines()[0]}") from None
        key = parsed.key_or_group
        if parsed.is_delete():
            raise UserError(f"'{text}': deleting keys is not supported; set the key to a value instead")
        if key in (*CONFIG_GROUPS, "recipe"):
            value = parsed.value()
            options = group_options(key)
            if not isinstance(value, str) or value not in options:
                raise UserError(
                    f"{key}={value} is not a known {key}{did_you_mean(str(value), options)}; "
                    f"choose one of: {allowed_list(options)}"
                )
            ready.append(text)
            continue
        in_mapping = check_key(key.lstrip("+"))
        ready.append("++" + text.lstrip("+") if in_mapping else text)
    return ready


def check_choices(node: Any, prefix: str = "") -> None:
    """Raise a UserError for any string field whose value is not among its declared choices."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        path = f"{prefix}{f.name}"
        choices = f.metadata.get("choices")
        for item in value if isinstance(value, list) else [value]:
            if choices and item not in choices:
                raise UserError(f"{path}={item} is not allowed; choose one of: {', '.join(choices)}")
        if dataclasses.is_dataclass(value):
            check_choices(value, prefix=f"{path}.")


def check_consistency(cfg: RecipeConfig) -> None:
    """Cross-field rules that types alone cannot express."""
    positive = {
        "trainer.max_steps": cfg.trainer.max_steps,
        "trainer.prompts_per_step": cfg.trainer.prompts_per_step,
        "trainer.micro_batch_size": cfg.trainer.micro_batch_size,
        "algorithm.num_generations": cfg.algorithm.num_generations,
        "task.max_turns": cfg.task.max_turns,
        "rollout.max_new_tokens": cfg.rollout.max_new_tokens,
        "rollout.max_episode_tokens": cfg.rollout.max_episode_tokens,
        "eval.num_samples": cfg.eval.num_samples,
        "task.search.top_k": cfg.task.search.top_k,
        "algorithm.dynamic_sampling_rounds": cfg.algorithm.dynamic_sampling_rounds,
    }
    for key, value in positive.items():
        if value < 1:
            raise UserError(f"{key}={value} must be at least 1")
    if cfg.task.limit is not None and cfg.task.limit < 1:
        raise UserError(f"task.limit={cfg.task.limit} must be at least 1 (or null for all)")
    episodes = cfg.trainer.prompts_per_step * cfg.algorithm.num_generations
    if episodes % cfg.trainer.micro_batch_size:
        raise UserError(
            f"trainer.prompts_per_step x algorithm.num_generations = {episodes} must be a multiple of "
            f"trainer.micro_batch_size={cfg.trainer.micro_batch_size}"
        )
    StepPlan.from_config(cfg, cfg.launcher.num_processes * cfg.launcher.num_machines)  # minibatches divide the batch
    if cfg.algorithm.advantage_estimator == "leave_one_out" and cfg.algorithm.num_generations < 2:
        raise UserError("algorithm.advantage_estimator=leave_one_out needs algorithm.num_generations >= 2")
    if not 0.0 <= cfg.rollout.temperature <= 10.0:
        raise UserError(f"rollout.temperature={cfg.rollout.temperature} must be between 0 and 10")
    if not 0.0 <= cfg.trainer.max_error_share <= 1.0:
        raise UserError(f"trainer.max_error_share={cfg.trainer.max_error_share} must be between 0 and 1")
    if cfg.rollout.env_step_timeout_s < 0:
        raise UserError(f"rollout.env_step_timeout_s={cfg.rollout.env_step_timeout_s} must be >= 0 (0: no limit)")
    if cfg.eval.num_samples > 1 and cfg.eval.temperature == 0:
        raise UserError("eval.num_samples > 1 needs eval.temperature > 0 (greedy samples are all the same)")
    if cfg.task.max_turns > 1 and cfg.rollout.max_episode_tokens < cfg.rollout.max_new_tokens:
        raise UserError(
            f"rollout.max_episode_tokens={cfg.rollout.max_episode_tokens} must be at least "
            f"rollout.max_new_tokens={cfg.rollout.max_new_tokens}"
        )
    check_async(cfg)
    device = cfg.rollout.hf_device
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UserError(f"rollout.hf_device={device} is not allowed; choose auto, cpu, cuda or cuda:N")
    if cfg.rollout.engine == "vllm_server":
        from rlagent.rollout.engines.server_settings import check_server_settings

        check_server_settings(cfg.rollout.vllm_server)
    check_launcher(cfg)


ASYNC_ENGINES = ("vllm_server", "hf")
"""Engines that generate in a background thread while the trainer updates: a server (vllm_server) or a model
copy of their own (hf); the in-process vLLM engine is not driven from two threads."""


def check_async(cfg: RecipeConfig) -> None:
    t = cfg.trainer
    if t.max_staleness < 1:
        raise UserError(f"trainer.max_staleness={t.max_staleness} must be at least 1")
    if not t.importance_sampling_cap >= 1.0:
        raise UserError(f"trainer.importance_sampling_cap={t.importance_sampling_cap} must be at least 1")
    if t.async_rollouts and cfg.rollout.engine not in ASYNC_ENGINES:
        raise UserError(
            f"trainer.async_rollouts=true needs rollout.engine in {ASYNC_ENGINES}, not {cfg.rollout.engine} "
            "(rollout=vllm_server runs vLLM as a server)"
        )


def _explain(exc: BaseException) -> str:
    """One line from a Hydra/OmegaConf exception chain."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    for err in reversed(chain):
        if isinstance(err, OmegaConfBaseException) and getattr(err, "full_key", None):
            msg = str(getattr(err, "msg", "") or err).splitlines()[0]
            return f"{err.full_key}: {msg}"
    return str(chain[0]).strip().splitlines()[0]


def compose_recipe(overrides: list[str]) -> tuple[RecipeConfig, DictConfig]:
    """Compose `recipe=NAME` plus overrides; return the validated dataclass and its resolved DictConfig."""
    overrides = list(overrides)
    names = recipe_names()
    if not any(o.split("=", 1)[0] == "recipe" for o in overrides):
        raise UserError(f"recipe=NAME is required; available recipes: {allowed_list(names)}")
    overrides = check_overrides(overrides)
    _register_schema()
    GlobalHydra.instance().clear()
    dirs = search_dirs()
    searchpath = [f"file://{d}" for d in dirs[:-1]]
    try:
        with initialize_config_dir(config_dir=str(dirs[-1]), version_base=None):
            extra = [f"hydra.searchpath=[{','.join(searchpath)}]"] if searchpath else []
            cfg = compose(config_name=PRIMARY_CONFIG, overrides=[*overrides, *extra])
        OmegaConf.resolve(cfg)
        obj = OmegaConf.to_object(cfg)
    except (HydraException, OmegaConfBaseException, YAMLError, ValueError) as exc:
        raise UserError(_explain(exc)) from None
    finally:
        GlobalHydra.instance().clear()
    assert isinstance(obj, RecipeConfig)
    check_choices(obj)
    check_consistency(obj)
    return obj, cfg


def to_yaml(cfg: RecipeConfig) -> str:
    """The resolved configuration as YAML (what run directories store as config.yaml)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def load_saved(path: Path) -> RecipeConfig:
    """Read a run directory's config.yaml back into a validated RecipeConfig."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RecipeConfig), OmegaConf.load(path))
        obj = OmegaConf.to_object(merged)
    except (OmegaConfBaseException, OSError) as exc:
        raise UserError(f"{path}: {_explain(exc)}") from None
    assert isinstance(obj, RecipeConfig)
    return obj
