"""Stages of your own: ``custom_stages`` in the config, or a package's ``scsnake.stages`` entry point.

A custom stage calls ``function(adata, **params)`` on the complete object as ``final`` would
have it after the stage it follows (``after``: log-normalised ``X``, the ``counts`` layer and
every annotation so far); the function changes ``adata`` in place, and what it adds to
``obs``, ``var``, ``obsm``, ``obsp``, ``varm`` or ``uns`` joins ``final``. Its parameters are
validated by ``model`` (a pydantic model) with the rest of the config, before any job runs.

A package registers ready stages under the entry-point group ``scsnake.stages``: the entry
point's name is the stage's name and it loads a mapping with ``function``, ``model`` and
``after`` (strings as in the config). A config entry without ``function`` takes them from the
entry point of its name.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import logging
import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .._params import StageParams, format_validation_error
from ..errors import ScsnakeError
from ._stage import Stage

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = [
    "ENTRY_POINT_GROUP",
    "CustomStageRun",
    "CustomStageSpec",
    "custom_stage_problems",
    "registered_stages",
    "with_registered_defaults",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "scsnake.stages"
#: A custom stage's name: it is a rule, a config key and a file name.
STAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Stages a custom stage may follow: they run on the analysed samples and write an artifact.
FOLLOWABLE_KINDS = ("artifact",)
_BEFORE_ANALYSIS = ("load", "qc", "merge")


class CustomStageSpec(StageParams):
    """One entry of ``custom_stages``."""

    function: str
    """``module:function``, called as ``function(adata, **params)``; it changes ``adata`` in place."""
    model: str | None = None
    """``module:Model``, a pydantic model of the params (None: the function takes none)."""
    after: str = "leiden"
    """The stage whose artifact it reads (an artifact stage from ``normalize`` on, or another
    custom stage)."""
    params: dict[str, Any] = {}
    """Keyword arguments of the function, validated by ``model``."""

    def stage(self, name: str) -> Stage:
        """This stage's declaration (the runner and the rules treat it like a built-in one)."""
        return custom_declaration(name, self.after)


class CustomStageRun(StageParams):
    """What a custom stage's job runs with (its spec, with the source hash of its function)."""

    name: str
    function: str
    model: str | None = None
    after: str = "leiden"
    params: dict[str, Any] = {}
    source_sha256: str = ""
    """Hash of the function's module source: editing the function re-runs the stage."""


def custom_declaration(name: str, after: str) -> Stage:
    """The :class:`Stage` of a custom stage: reads the matrix and counts, keeps the matrix."""
    return Stage(
        name, CustomStageRun, run_custom, after=(after,), keeps_matrix=True, reads="all", reads_counts=True
    )


def run_custom(adata: AnnData, params: CustomStageRun) -> AnnData:
    """Call the custom function on ``adata``; its failure becomes one line naming the stage."""
    name = params.name
    function = resolve(params.function)
    kwargs = _validated_params(params.model, params.params)
    try:
        function(adata, **kwargs)
    except Exception as err:  # the user's code: any failure is reported as theirs
        logger.exception("custom stage %r: %s raised", name, params.function)
        msg = f"custom stage {name!r} ({params.function}) failed: {type(err).__name__}: {err}"
        raise ScsnakeError(msg) from err
    return adata


def resolve(path: str) -> Any:
    """The object ``module:attribute`` names (``ImportError``/``AttributeError`` if it does not exist)."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        msg = f"{path!r} is not of the form module:name"
        raise ValueError(msg)
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _validated_params(model_path: str | None, params: dict[str, Any]) -> dict[str, Any]:
    if model_path is None:
        return dict(params)
    model = resolve(model_path)
    return model.model_validate(params).model_dump()


@functools.cache
def source_sha256(function_path: str) -> str:
    """SHA-256 of the source of the module that defines the function ``function_path`` names."""
    function = resolve(function_path)
    module = inspect.getmodule(function) or importlib.import_module(function_path.partition(":")[0])
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # built-in or compiled module: its name stands for it
        source = module.__name__
    return hashlib.sha256(source.encode()).hexdigest()


def registered_stages() -> dict[str, dict[str, Any]]:
    """Stages that installed packages register (entry-point group ``scsnake.stages``)."""
    found = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[point.name] = dict(point.load())
        except Exception as err:  # a broken plugin must not break every run: report it
            logger.warning(
                "entry point %s of group %s does not load: %s", point.value, ENTRY_POINT_GROUP, err
            )
    return found


def with_registered_defaults(raw: Any) -> Any:
    """``custom_stages`` entries without ``function`` completed from the entry point of their name."""
    if not isinstance(raw, dict) or not any(
        isinstance(v, dict) and "function" not in v for v in raw.values()
    ):
        return raw
    registered = registered_stages()
    return {
        name: {**registered[name], **entry}
        if isinstance(entry, dict) and "function" not in entry and name in registered
        else entry
        for name, entry in raw.items()
    }


def custom_stage_problems(config: Any, builtin: dict[str, Stage]) -> list[str]:
    """Every problem with ``config.custom_stages``, each naming its key path."""
    problems: list[str] = []
    custom = config.custom_stages
    reserved = set(builtin) | set(type(config).model_fields)
    for position, (name, spec) in enumerate(custom.items()):
        where = f"custom_stages.{name}"
        if not STAGE_NAME.match(name) or name in reserved:
            problems.append(
                f"{where}: the name must be a new identifier (letters, digits, '_'), not a stage or "
                f"config section of scsnake (got {name!r})"
            )
        problems += _after_problem(where, spec.after, builtin, list(custom)[:position])
        problems += _code_problems(where, spec)
    return problems


def _after_problem(where: str, after: str, builtin: dict[str, Stage], earlier: list[str]) -> list[str]:
    followable = [
        n for n, s in builtin.items() if s.kind in FOLLOWABLE_KINDS and n not in _BEFORE_ANALYSIS
    ] + earlier
    if after in followable:
        return []
    return [f"{where}.after: {after!r} is not a stage it can follow (allowed: {', '.join(followable)})"]


def _code_problems(where: str, spec: CustomStageSpec) -> list[str]:
    try:
        function = resolve(spec.function)
    except Exception as err:
        return [f"{where}.function: cannot import {spec.function!r} ({type(err).__name__}: {err})"]
    if not callable(function):
        return [f"{where}.function: {spec.function!r} is not callable"]
    if spec.model is None:
        if spec.params:
            return [f"{where}.params: given without a model to validate them; set {where}.model"]
        return []
    try:
        model = resolve(spec.model)
    except Exception as err:
        return [f"{where}.model: cannot import {spec.model!r} ({type(err).__name__}: {err})"]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return [f"{where}.model: {spec.model!r} is not a pydantic model"]
    unknown = [key for key in spec.params if key not in model.model_fields]
    if unknown:  # refused whatever the model's own `extra` setting: a typo must not pass silently
        allowed = ", ".join(model.model_fields) or "none"
        return [f"{where}.params.{key}: unknown key (allowed: {allowed})" for key in unknown]
    try:
        model.model_validate(spec.params)
    except ValidationError as err:
        return format_validation_error(err, prefix=f"{where}.params", model=model)
    return []
