"""A pipeline's run options (``eval --keep 0.3``, ``--router top1``), each declared once.

A pipeline's ``options`` is a :class:`PipelineOptions` subclass: a dataclass with one field per
option, declared with :func:`option` (its value kind, default and help). Everything else
derives from that one line: the ``eval``/``serve`` flag and its ``--config`` key (the flag's
long name), the sweep command's list flag, the lm-eval ``model_args`` key (the option's name),
the validation (:meth:`PipelineOptions.check`, the one place: ``Pipeline.check_options`` and so
``Pipeline.__init__`` use it), the resolved typed values a pipeline's ``configure`` reads
(:meth:`PipelineOptions.resolve`), and the run's identity (the options given, as the manifest
records them: what a ``--resume`` must match).
"""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self, cast

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.ranges import (
    int_at_least,
    int_between,
    non_negative_float,
    positive_float,
    share,
)

#: One option's value, as a flag, a config file or model_args give it once checked, and as the
#: manifest records it.
OptionValue = str | int | float | bool
#: The options given to one run, by name.
OptionValues = dict[str, OptionValue]


class PipelineOptionError(HawkeyeError):
    """A pipeline option (``--keep``, ``--methods``) the pipeline does not take, or a bad value."""


@dataclass(frozen=True)
class OptionKind:
    """What values an option takes: ``what`` names them in errors and help; ``from_text``
    reads a flag's (or a config file's, or model_args') text, raising
    ``argparse.ArgumentTypeError``; ``accepts`` checks a value already typed (JSON, YAML)."""

    what: str
    from_text: Callable[[str], Any]
    accepts: Callable[[Any], bool]
    #: the values a flag offers (``--anchor small|large``)
    choices: tuple[str, ...] = ()
    #: a name looked up in a registry: raises the registry's error for an unknown one
    lookup: Callable[[str], object] | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def share_kind() -> OptionKind:
    """A share from 0 to 1, both included."""
    return OptionKind("a share from 0 to 1", share, lambda v: _is_number(v) and 0 <= v <= 1)


def open_share(text: str) -> float:
    """A share above 0 and below 1 (a routed share to aim at)."""
    value = share(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number above 0 and below 1, got {text!r}")
    return value


def open_share_kind() -> OptionKind:
    """A share above 0 and below 1."""
    return OptionKind("above 0 and below 1", open_share, lambda v: _is_number(v) and 0 < v < 1)


def integer(low: int, high: int | None = None) -> OptionKind:
    """An integer from ``low`` (to ``high``, when given)."""
    what = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    parse = int_at_least(low) if high is None else int_between(low, high)

    def accepts(value: Any) -> bool:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return ok and (high is None or value <= high)

    return OptionKind(what, parse, accepts)


def number(*, positive: bool = False) -> OptionKind:
    """A finite number >= 0 (> 0 when ``positive``)."""
    if positive:
        return OptionKind("a number > 0", positive_float, lambda v: _is_number(v) and v > 0)
    return OptionKind("a number >= 0", non_negative_float, lambda v: _is_number(v) and v >= 0)


def _boolean(text: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if text.strip().lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return words[text.strip().lower()]


def boolean() -> OptionKind:
    return OptionKind("true or false", _boolean, lambda v: isinstance(v, bool))


def choice(*values: str, what: str = "") -> OptionKind:
    """One of ``values``."""

    def parse(text: str) -> str:
        if text not in values:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(values)}")
        return text

    return OptionKind(what or f"one of {', '.join(values)}", parse, values.__contains__, values)


def registered(what: str, lookup: Callable[[str], object]) -> OptionKind:
    """A name ``lookup`` finds (a router, a compression method)."""
    return OptionKind(what, str, lambda v: isinstance(v, str), lookup=lookup)


@dataclass(frozen=True)
class PipelineOption:
    """One run option: its name (the options key, the model_args key), kind, default, help;
    its flag (``--<name>`` unless named; the config key is the flag's long name); ``switch``:
    the flag takes no value and gives this one (``--prompt-ids``: ``tokens``); ``sweeps``: a
    sweep command takes a list of it (and ``eval`` one value of that list flag);
    ``identity``: part of the run's identity (what a ``--resume`` must match)."""

    name: str
    kind: OptionKind
    default: Any
    help: str
    flag: str
    switch: Any = None
    sweeps: bool = False
    identity: bool = True

    @property
    def dest(self) -> str:
        """The flag's attribute on the parsed command line (and its config-file key)."""
        return self.flag.removeprefix("--").replace("-", "_")

    def check(self, value: object) -> OptionValue:
        """The value checked (a text read as the flag would read it); PipelineOptionError
        (or the registry's error for an unknown name) when it is not one of the kind's."""
        if isinstance(value, str) and self.kind.from_text is not str:
            with contextlib.suppress(argparse.ArgumentTypeError):  # refused below
                value = self.kind.from_text(value)
        if not self.kind.accepts(value):
            raise PipelineOptionError(f"{self.name} must be {self.kind.what}, not {value!r}")
        if self.kind.lookup is not None:
            try:
                self.kind.lookup(str(value))
            except HawkeyeError as exc:
                raise PipelineOptionError(str(exc)) from None
        return cast(OptionValue, value)  # a value the kind accepts is one of these


@dataclass(frozen=True)
class _Declared:
    kind: OptionKind
    help: str
    flag: str | None
    switch: Any
    sweeps: bool
    identity: bool


_OPTION = "pipeline_option"


def option(
    kind: OptionKind,
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    switch: Any = None,
    sweeps: bool = False,
    identity: bool = True,
) -> Any:
    """Declare one option as a field of a :class:`PipelineOptions` dataclass (see
    :class:`PipelineOption` for what each part means)."""
    declared = _Declared(kind, help, flag, switch, sweeps, identity)
    return field(default=default, metadata={_OPTION: declared})


@dataclass(frozen=True)
class PipelineOptions:
    """The run options one pipeline takes (none here), resolved: defaults filled in, every
    value checked. Subclasses are dataclasses whose fields are declared with :func:`option`."""

    #: the command that runs several values of a ``sweeps`` option (``compress-sweep``)
    sweep_command: ClassVar[str] = ""

    @classmethod
    def specs(cls) -> tuple[PipelineOption, ...]:
        """The options, in declaration order."""
        found = []
        for spec in fields(cls):
            declared: _Declared = spec.metadata[_OPTION]
            found.append(
                PipelineOption(
                    name=spec.name,
                    kind=declared.kind,
                    default=spec.default,
                    help=declared.help,
                    flag=declared.flag or f"--{spec.name.replace('_', '-')}",
                    switch=declared.switch,
                    sweeps=declared.sweeps,
                    identity=declared.identity,
                )
            )
        return tuple(found)

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(spec.name for spec in fields(cls))

    @classmethod
    def check(cls, given: Mapping[str, object], pipeline: str = "") -> OptionValues:
        """The options given, each checked (texts read as their flags read them): the one
        validation. An option this pipeline does not take is refused, naming those it takes;
        so is a combination the options refuse together (:meth:`check_together`)."""
        unknown = sorted(set(given) - cls.names())
        if unknown:
            takes = ", ".join(sorted(cls.names())) or "none"
            raise PipelineOptionError(
                f"pipeline {pipeline!r} takes no option {', '.join(unknown)} (it takes: {takes})"
            )
        by_name = {spec.name: spec for spec in cls.specs()}
        checked = {name: by_name[name].check(value) for name, value in given.items()}
        cls(**checked).check_together(checked)
        return checked

    @classmethod
    def resolve(cls, given: Mapping[str, object], pipeline: str = "") -> Self:
        """The options given, checked, with the defaults of the others."""
        return cls(**cls.check(given, pipeline))

    @classmethod
    def identity(cls, given: Mapping[str, OptionValue]) -> OptionValues:
        """The part of the options given that names the run (folders, cache keys, reports)."""
        kept = {spec.name for spec in cls.specs() if spec.identity}
        return {name: value for name, value in given.items() if name in kept}

    @classmethod
    def take(cls, values: dict[str, object]) -> dict[str, object]:
        """Remove this pipeline's options from ``values`` (lm-eval's model_args) and return
        them, unchecked."""
        return {name: values.pop(name) for name in sorted(cls.names()) if name in values}

    def check_together(self, given: Mapping[str, OptionValue]) -> None:
        """Refuse options that do not go together (``given``: those given); none here."""
        return None


def options_of(option_sets: Mapping[str, type[PipelineOptions]]) -> dict[str, PipelineOption]:
    """Each option of ``option_sets`` ({pipeline: its options}) by name, the first declared."""
    found: dict[str, PipelineOption] = {}
    for options in option_sets.values():
        for spec in options.specs():
            found.setdefault(spec.name, spec)
    return found
