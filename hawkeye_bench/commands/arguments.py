"""The command line's shared arguments: pipeline and endpoint flags, and ``--config`` files.

A config file holds the same settings as the flags (by their long names, dashes or
underscores) plus an ``endpoints`` mapping (see :mod:`hawkeye_bench.endpoints.settings`). Flags
given on the command line win over the file. Nothing here leaves ``commands/``: commands turn
what is parsed into typed settings before handing them on.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.ranges import non_negative_int, positive_float, positive_int
from hawkeye_bench.core.yaml_files import read_yaml_file
from hawkeye_bench.endpoints.settings import API_KEY_IN_FILE, ConfigError, EndpointSettings

T = TypeVar("T")


class FlagsError(HawkeyeError):
    """Flags that do not go together, or one that would be silently ignored."""


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    data = read_yaml_file(path, "config file", ConfigError) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    endpoints = data.get("endpoints")
    if endpoints is not None and not isinstance(endpoints, dict):
        raise ConfigError(f"{path}: endpoints: expected a mapping of role to base_url and model")
    for role, entry in (endpoints or {}).items():
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{path}: endpoints: {role}: expected a mapping with base_url and model, "
                f"not {entry!r}"
            )
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
    """A setting converted and checked as its flag would be: a switch takes true or false, a
    repeated flag a text or a list of texts, a single-valued flag one value (a list is spelt
    with commas, as on the command line) checked by its ``type`` and ``choices`` (argparse
    checks neither for defaults that are not strings)."""
    if isinstance(action, argparse._StoreConstAction):
        if not isinstance(value, bool):
            raise ConfigError(f"config file: {key}: expected true or false, not {value!r}")
        return value
    if isinstance(action, RepeatedFlag):
        if isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return value
        raise ConfigError(f"config file: {key}: expected a text or a list of texts, not {value!r}")
    if not isinstance(action, argparse._StoreAction) or action.nargs is not None:
        return value
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        value = ",".join(map(str, value))
    if not _is_scalar(value):
        raise ConfigError(f"config file: {key}: expected one value, not {value!r}")
    if action.type is None:
        value = str(value)
    elif callable(action.type):
        try:
            value = action.type(str(value))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise ConfigError(f"config file: {key}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        valid = ", ".join(map(str, action.choices))
        raise ConfigError(f"config file: {key}: {value!r} is not one of {valid}")
    return value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def endpoint_settings(args: argparse.Namespace) -> EndpointSettings:
    """From the flags of :func:`add_endpoint_arguments` (and ``--config``'s endpoints)."""
    from hawkeye_bench.pipelines import all_roles

    if args.api_key_env and not args.endpoint:
        raise FlagsError(
            f"--api-key-env {args.api_key_env} is the key of --endpoint, and no --endpoint is "
            "given: name each role's key with --<role>-key-env (or api_key_env in --config)"
        )
    return EndpointSettings(
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
        max_in_flight=getattr(args, "max_in_flight", None),
    )


def comma_list(text: str, convert: Callable[[str], T]) -> list[T]:
    """Comma-separated values, each converted (an argparse ``type=`` helper); a list that
    gives no value at all (``,``) is refused rather than read as "the default"."""
    values = [convert(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} gives no value; expected one or more, "
                                         "comma-separated")  # fmt: skip
    return values


def check_role_flags(
    args: argparse.Namespace, pipeline: str, roles: Sequence[str], *, owner: str | None = None
) -> None:
    """Refuse a ``--<role>-url/-model/-key-env`` for a role the pipeline does not have: it
    would be ignored, and the run would go to the embedded model or another role's server.
    ``owner``: what has ``roles``, in the message (default: ``pipeline <pipeline>``)."""
    from hawkeye_bench.pipelines import all_roles

    for role in all_roles():
        given = [
            f"--{role}-{flag.replace('_', '-')}"
            for flag in ("url", "model", "key_env")
            if role not in roles and getattr(args, f"{role}_{flag}", None)
        ]
        if given:
            raise FlagsError(
                f"{given[0]} is for the {role} role, which {owner or f'pipeline {pipeline}'} "
                f"does not have (its roles: {', '.join(roles) or 'none'})"
            )


class _GivenOnCommandLine(list[Any]):
    """The values of a repeated flag given on the command line (a config file's are not)."""


class RepeatedFlag(argparse.Action):
    """A flag that may be repeated: each use adds its value, and the command line's values
    replace a config file's (flags win over the file, as for every other setting)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = getattr(namespace, self.dest, None)
        earlier = given if isinstance(given, _GivenOnCommandLine) else _GivenOnCommandLine()
        earlier.append(values)
        setattr(namespace, self.dest, earlier)


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
    group.add_argument(
        "--endpoint",
        action=RepeatedFlag,
        help="base URL used for every role not given on its own (replicas of one model: "
        "several, comma-separated or the flag repeated)",
    )
    group.add_argument("--model", help="model name at --endpoint")
    group.add_argument("--api-key-env", help="NAME of the environment variable with its API key")
    from hawkeye_bench.pipelines import role_meanings

    for role, meaning in role_meanings().items():  # every role of every registered pipeline
        group.add_argument(
            f"--{role}-url",
            action=RepeatedFlag,
            help=f"base URL of the {role} model ({meaning}); replicas: several, comma-separated "
            "or the flag repeated",
        )
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
    group.add_argument(
        "--max-in-flight",
        type=positive_int,
        help="calls in flight per base URL (replica) at most, >= 1 (default: the concurrency)",
    )
