"""The pipeline interface: a question in, a Trace (one StageResult per model call) out."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Unpack

from openai.types.chat import ChatCompletionMessageParam

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.endpoints.call_params import CallParams
from hawkeye_bench.pipelines.options import OptionValues, PipelineOptions
from hawkeye_bench.pipelines.options import PipelineOptionError as PipelineOptionError
from hawkeye_bench.pipelines.prompts import Preset, PresetError, StagePrompt

#: Called with (role, channel, text) for each streamed piece; channel is "reasoning" or "content".
DeltaCallback = Callable[[str, str, str], Awaitable[None] | None]


class StageClient(Protocol):
    """What a pipeline needs from an endpoint client; ``endpoints.client.EndpointClient``
    (and so a ``ClientPool``'s values) satisfies it as it is."""

    async def chat(
        self, messages: list[ChatCompletionMessageParam], **params: Unpack[CallParams]
    ) -> StageResult: ...

    async def complete(self, prompt: str, **params: Unpack[CallParams]) -> StageResult: ...


class AnswerGrader(Protocol):
    """What :meth:`Pipeline.analyse` may grade with (``grading.workers.Grader`` fits)."""

    async def grade_async(self, text: str, gold: str, dataset: str) -> Any: ...


#: The endpoint APIs a role can be served through.
EndpointApi = Literal["chat", "completion"]


@dataclass(frozen=True)
class RoleSpec:
    """One model a pipeline calls: its name (flags ``--<name>-url``, config key, preset stage),
    what it does, and the endpoint APIs its stage may use."""

    name: str
    meaning: str
    apis: tuple[EndpointApi, ...] = ("chat", "completion")


class Pipeline(ABC):
    """A way of answering a question with one or more model calls.

    A pipeline declares everything the rest of the harness needs to know about it, and
    nothing outside ``pipelines/`` names a pipeline or a role:

    - ``role_specs``: the models it calls, in call order (``roles`` is their names); the
      last role's answer is the pipeline's answer (what the server streams as ``content``),
      unless ``answer_roles`` names every role whose text is part of the answer;
    - ``cot_role``: the role whose completion tokens are the "CoT only" column (None: the
      pipeline has no separate CoT stage);
    - ``is_baseline``: runs of this pipeline are the baseline other pipelines compare with;
    - ``display_name``: how reports name it.

    ``clients`` maps each role to a client.
    """

    name: ClassVar[str]
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    role_specs: ClassVar[tuple[RoleSpec, ...]]
    cot_role: ClassVar[str | None] = None
    is_baseline: ClassVar[bool] = False
    #: the run options (``eval --keep ...``) this pipeline takes, one field each; others are
    #: refused (:mod:`hawkeye_bench.pipelines.options`)
    options: ClassVar[type[PipelineOptions]] = PipelineOptions
    #: the preset ``eval`` uses when none is named (``default`` holds no stage for its roles)
    default_preset: ClassVar[str] = "default"
    #: a dataset whose questions need another prompt format: {dataset: preset} (``eval``)
    dataset_presets: ClassVar[Mapping[str, str]] = {}
    roles: ClassVar[tuple[str, ...]]  # derived from role_specs
    #: the roles whose text is the answer (default: the last role only)
    answer_roles: ClassVar[tuple[str, ...]] = ()
    #: roles called in pieces whose token limit ends each call by design (only an item's last
    #: call of such a role is cut short when it stops at its limit)
    chunked_roles: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "role_specs" in cls.__dict__:
            cls.roles = tuple(spec.name for spec in cls.role_specs)
            if not cls.__dict__.get("answer_roles"):
                cls.answer_roles = cls.roles[-1:]
            unknown = set(cls.answer_roles) - set(cls.roles)
            if unknown:
                raise TypeError(f"{cls.__name__}: answer_roles {sorted(unknown)} are not roles")
            if cls.cot_role is not None and cls.cot_role not in cls.roles:
                raise TypeError(f"{cls.__name__}: cot_role {cls.cot_role!r} is not a role of it")
        if "name" in cls.__dict__ and not cls.__dict__.get("display_name"):
            cls.display_name = cls.name

    @classmethod
    def check_options(cls, options: Mapping[str, object]) -> OptionValues:
        """The options given, checked: the one validation (``__init__`` uses it; a command
        calls it early, before any model server starts). PipelineOptionError for an option
        this pipeline does not take or a bad value."""
        return cls.options.check(options, cls.name)

    @classmethod
    def final_role(cls) -> str:
        return cls.roles[-1]

    @classmethod
    def role_spec(cls, role: str) -> RoleSpec:
        return next(spec for spec in cls.role_specs if spec.name == role)

    def __init__(
        self,
        preset: Preset,
        clients: Mapping[str, StageClient],
        *,
        stage2_input: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        given = self.check_options(options or {})
        missing = [role for role in self.roles if role not in clients]
        if missing:
            raise ValueError(f"pipeline {self.name!r} needs endpoints for roles {missing}")
        for role in self.roles:
            api = preset.stage(role).api  # fails early when the preset lacks a stage we run
            if api not in self.role_spec(role).apis:
                raise PresetError(
                    f"pipeline {self.name!r}: role {role!r} needs the "
                    f"{' or '.join(self.role_spec(role).apis)} API; the preset's stage uses {api}"
                )
        self.preset = preset
        self.clients = clients
        self.stage2_input = stage2_input or preset.stage2_input
        #: the options given (the run's identity), and all of them resolved with the defaults
        self.given_options: OptionValues = given
        self.settings: PipelineOptions = self.options(**given)
        self.configure()

    def configure(self) -> None:
        """Called at the end of ``__init__``, the options checked: a pipeline with options
        reads them (``self.settings``, its ``options`` class) and sets up its own state here;
        nothing here."""
        return None

    def attach_folders(self, run_dir: Path, cache_dir: Path) -> None:
        """Called by eval before the first item with the run folder and the folder for a cache
        of finished calls shared across runs (a sweep's); a pipeline that caches overrides it."""
        return None

    def close(self) -> None:
        """Called by eval after the last item."""
        return None

    async def prepare(
        self, questions: Sequence[str], previous: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """Called by eval once before the first item with the run's questions: work a pipeline
        does before answering (route: the threshold for a target share). What it returns is
        the manifest's ``pipeline_setup``; ``previous`` is that of the run being resumed, so a
        resumed run goes on with the same setup."""
        return None

    async def analyse(
        self, trace: Trace, gold: str, dataset: str, grader: AnswerGrader
    ) -> dict[str, Any]:
        """Per-item facts that need the gold (added to the record's ``extra``); none here."""
        return {}

    @abstractmethod
    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace: ...

    async def call_stage(
        self,
        role: str,
        question: str,
        *,
        cot: str = "",
        seed: int | None = None,
        on_delta: DeltaCallback | None = None,
        stage: StagePrompt | None = None,
    ) -> StageResult:
        """Render the preset's prompt for ``role`` (or ``stage``, a variant of it) and send it
        to that role's endpoint."""
        stage = stage or self.preset.stage(role)
        text = stage.render(question, cot)
        params: CallParams = {
            "role": role,
            "max_tokens": stage.max_tokens,
            "temperature": stage.temperature,
            "top_p": stage.top_p,
            "seed": seed,
            "stop": list(stage.stop) or None,
            "extra": stage.extra_body or None,
            "on_delta": None if on_delta is None else functools.partial(on_delta, role),
        }
        return await send_stage(self.clients[role], stage, text, params)


async def send_stage(
    client: StageClient, stage: StagePrompt, text: str, params: CallParams
) -> StageResult:
    """Send a stage's rendered prompt ``text`` through the API the stage names: as the user
    message after the stage's system message (chat), or as the prompt (completion)."""
    if stage.api == "completion":
        return await client.complete(text, **params)
    messages: list[ChatCompletionMessageParam] = (
        [{"role": "system", "content": stage.system}] if stage.system else []
    )
    messages.append({"role": "user", "content": text})
    return await client.chat(messages, **params)
