"""Endpoints per role from command-line flags or a YAML config file.

A config file holds the same settings as the flags (by their long names, dashes or
underscores) plus an ``endpoints`` mapping::

    endpoints:
      reasoner:  {base_url: http://gpu1:8000/v1, model: my-reasoner, api_key_env: GPU1_KEY}
      responder: {base_url: http://gpu2:8000/v1, model: Qwen/Qwen2.5-0.5B-Instruct}
      single:    {base_url: http://gpu1:8000/v1, model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B}
    task: math500
    concurrency: 64

Flags given on the command line win over the file. API keys are never in the file: only the
*name* of the environment variable that holds each key.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hawkeye_bench.cli_args import non_negative_int, positive_float
from hawkeye_bench.endpoints import Endpoint
from hawkeye_bench.errors import HawkeyeError

ENDPOINT_KEYS = {"base_url", "model", "api_key_env", "timeout_s", "max_retries", "extra_body"}
API_KEY_IN_FILE = (
    "api_key: keys are never read from files; put the key in an environment variable and "
    "name it with api_key_env: VAR"
)


class ConfigError(HawkeyeError):
    """The config file or flags do not describe a usable setup."""


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def set_config_defaults(parser: argparse.ArgumentParser, config: dict[str, Any]) -> None:
    """Make the file's settings the parser's defaults (so flags still win), rejecting keys no
    flag of this command knows and values the flag would refuse."""
    if "api_key" in config:
        raise ConfigError(API_KEY_IN_FILE)
    actions = {action.dest: action for action in parser._actions}
    settings = {k: v for k, v in config.items() if k != "endpoints"}
    unknown = sorted(set(settings) - set(actions))
    if unknown:
        raise ConfigError(f"unknown settings in config file: {unknown}")
    for key, value in settings.items():
        settings[key] = _checked_setting(key, value, actions[key])
    parser.set_defaults(**settings)


def _checked_setting(key: str, value: Any, action: argparse.Action) -> Any:
    """A single-valued setting converted and checked by its flag's ``type`` and ``choices``
    (argparse checks neither for defaults that are not strings)."""
    if not isinstance(action, argparse._StoreAction) or action.nargs is not None:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return value
    if callable(action.type):
        try:
            value = action.type(str(value))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise ConfigError(f"config file: {key}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        valid = ", ".join(map(str, action.choices))
        raise ConfigError(f"config file: {key}: {value!r} is not one of {valid}")
    return value


def _checked_number(role: str, key: str, value: Any, convert: Callable[[str], Any]) -> Any:
    try:
        return convert(str(value))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"endpoint {role!r}: {key}: {exc}") from None


def _endpoint_from_mapping(role: str, data: Any, *, timeout_s: float, retries: int) -> Endpoint:
    if not isinstance(data, dict) or "base_url" not in data or "model" not in data:
        raise ConfigError(f"endpoint {role!r} needs base_url and model")
    if "api_key" in data:
        raise ConfigError(f"endpoint {role!r}: {API_KEY_IN_FILE}")
    unknown = set(data) - ENDPOINT_KEYS
    if unknown:
        raise ConfigError(f"endpoint {role!r}: unknown keys {sorted(unknown)}")
    return Endpoint(
        base_url=str(data["base_url"]).rstrip("/"),
        model=str(data["model"]),
        api_key_env=data.get("api_key_env"),
        timeout_s=_checked_number(
            role, "timeout_s", data.get("timeout_s", timeout_s), positive_float
        ),
        max_retries=_checked_number(
            role, "max_retries", data.get("max_retries", retries), non_negative_int
        ),
        extra_body=dict(data.get("extra_body") or {}),
        name=role,
    )


@dataclass(frozen=True)
class EndpointSettings:
    """Where each role's model is, as a command line, a config file or lm-eval's model_args
    give it, before resolution: ``generic`` applies to every role not given on its own."""

    generic: Mapping[str, str | None] = field(default_factory=dict)  # base_url, model, key env
    per_role: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    from_file: Mapping[str, Any] = field(default_factory=dict)  # the file's endpoints mapping
    timeout_s: float = 3600.0
    max_retries: int = 3

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EndpointSettings:
        """From the flags of :func:`add_endpoint_arguments` (and ``--config``'s endpoints)."""
        from hawkeye_bench.pipelines import all_roles

        return cls(
            generic={
                "base_url": args.endpoint,
                "model": args.model,
                "api_key_env": args.api_key_env,
            },
            per_role={
                role: {
                    "base_url": getattr(args, f"{role}_url", None),
                    "model": getattr(args, f"{role}_model", None),
                    "api_key_env": getattr(args, f"{role}_key_env", None),
                }
                for role in all_roles()
            },
            from_file=getattr(args, "config_endpoints", {}) or {},
            timeout_s=args.timeout,
            max_retries=args.max_retries,
        )


def resolve_endpoints(settings: EndpointSettings, roles: Sequence[str]) -> dict[str, Endpoint]:
    """Endpoints for the roles a pipeline needs; an empty dict means "use the embedded model".

    Per role: its own URL and model (``--<role>-url/--<role>-model``), else the config file's
    entry for the role, else the generic ``--endpoint/--model`` (or the file's ``default``).
    """
    from_file = settings.from_file
    timeout_s, retries = settings.timeout_s, settings.max_retries
    generic: Mapping[str, Any] | None = None
    if settings.generic.get("base_url"):
        generic = settings.generic
    elif "default" in from_file:
        generic = from_file["default"]
    resolved: dict[str, Endpoint] = {}
    for role in roles:
        own = settings.per_role.get(role) or {}
        mapping = own if own.get("base_url") else (from_file.get(role) or generic)
        if mapping is None:
            continue
        if not mapping.get("model"):
            raise ConfigError(f"endpoint for role {role!r} ({mapping['base_url']}) needs a model")
        mapping = {k: v for k, v in mapping.items() if v is not None}
        resolved[role] = _endpoint_from_mapping(role, mapping, timeout_s=timeout_s, retries=retries)
    missing = [role for role in roles if role not in resolved]
    if resolved and missing:
        raise ConfigError(
            f"no endpoint for role(s) {missing}; give --{missing[0]}-url/--{missing[0]}-model, "
            "a generic --endpoint/--model, or an 'endpoints' entry in --config"
        )
    return resolved


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """--pipeline, --preset and --stage2-input, shared by the commands that run a pipeline."""
    from hawkeye_bench.pipelines import pipeline_names
    from hawkeye_bench.presets import STAGE2_INPUTS, preset_names

    parser.add_argument(
        "--pipeline", default="hawkeye", help=f"pipeline: {', '.join(pipeline_names())}"
    )
    parser.add_argument(
        "--preset",
        default="default",
        help=f"prompt preset: {', '.join(preset_names())}, or a path to a preset YAML file",
    )
    parser.add_argument(
        "--stage2-input",
        choices=STAGE2_INPUTS,
        help="what the responder gets of stage 1 (default: the preset's)",
    )


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "endpoints",
        "OpenAI-compatible servers (base URL ending in /v1). With none given, the embedded "
        "default model (SmolLM2-135M via llama-cpp-python) is started and used for every role.",
    )
    group.add_argument("--config", help="YAML file with endpoints and any of these settings")
    group.add_argument("--endpoint", help="base URL used for every role not given on its own")
    group.add_argument("--model", help="model name at --endpoint")
    group.add_argument("--api-key-env", help="NAME of the environment variable with its API key")
    from hawkeye_bench.pipelines import role_meanings

    for role, meaning in role_meanings().items():  # every role of every registered pipeline
        group.add_argument(f"--{role}-url", help=f"base URL of the {role} model ({meaning})")
        group.add_argument(f"--{role}-model", help=f"model name of the {role}")
        group.add_argument(f"--{role}-key-env", help=f"env var NAME with the {role}'s API key")
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=3600.0,
        help="seconds per request, > 0 (default: %(default)s)",
    )
    group.add_argument(
        "--max-retries",
        type=non_negative_int,
        default=3,
        help="retries on 429/5xx/cut streams, >= 0 (default: 3)",
    )
