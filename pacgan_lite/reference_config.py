"""Read the reference implementation's ``Training/config.json`` into the kit's options, without ``eval``.

The reference stores many values as strings that it ``eval``s (``"[1,1,1/2,1/4]"``, ``"L_cls1/2"``,
``"[100] * len(factors)"``, ``"True"``), which runs any code the file holds. Here a string is parsed with
:mod:`ast` and only a tiny arithmetic language is evaluated: numbers, list literals, ``+ - * /``, unary
minus, the names ``L_cls1`` (the value of ``LAMBDA_CLS_1``) and ``factors`` (the value of ``FACTORS``; both
the kit's defaults when the file lacks the key), and ``len(...)``. Anything else (attribute access, other
names or calls, ``__import__``) is refused with a :class:`~pacgan_lite.errors.ConfigError`.

Usage::

    reference = read_reference_config("PACGAN/Training/config.json")
    config = load_profile("paper", layers=[("PACGAN/Training/config.json", reference.overrides)])
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import operator
from dataclasses import dataclass, field
from pathlib import Path

from .config import ModelOptions
from .errors import ConfigError
from .losses import LossWeights

# reference key -> (kit options it sets, kind of value)
MAPPED = {
    "IN_CHANNELS": (("model.base_channels",), "int"),
    "FACTORS": (("model.channel_factors",), "float_list"),
    "Z_DIM": (("model.z_dim",), "int"),
    "EMBEDDING_DIM": (("model.embedding_dim",), "int"),
    "LEARNING_RATE": (("train.learning_rate",), "float"),
    "BATCH_SIZES": (("train.batch_sizes",), "int_list"),
    "CRITIC_ITERATIONS": (("train.critic_iterations",), "int_list"),
    "PROGRESSIVE_EPOCHS": (("train.epochs_per_stage",), "int_list"),
    "LAMBDA_GP": (("train.loss.gradient_penalty",), "float"),
    # The reference weights real-image CE by LAMBDA_CLS_1 in D and fake-image CE by it in G.
    "LAMBDA_CLS_1": (("train.loss.class_real", "train.loss.class_generator"), "float"),
    "LAMBDA_CLS_2": (("train.loss.class_fake",), "float"),
    "START_CHECK_AT": (("train.selection_start",), "float"),
    "VALIDATE": (("train.validate",), "bool"),
    "TESTING": (("train.final_mode",), "bool"),
}
# Checked against the data instead of set (:func:`check_data`): the kit reads them from the data set.
FROM_DATA = {"CLASS_SIZE": "n_classes", "IMAGE_CHANNELS": "image_channels"}
NOT_USED = {
    "DATA_TRAIN_DIRECTORY": "give the data with --data (a prepared folder or a source data set)",
    "LABEL_TRAIN_DIRECTORY": "labels.csv lives next to the images in the kit's layout",
    "DATA_TEST_DIRECTORY": "the test set is the prepared folder's test/",
    "LABEL_TEST_DIRECTORY": "labels.csv lives next to the images in the kit's layout",
    "IMAGE_DIRECTORY": "outputs go to the run folder (--out)",
    "MODEL_DIRECTORY": "checkpoints go to the run folder (--out)",
    "DEVICE": "train.device=auto picks CUDA when present (the reference's expression is never evaluated)",
    "GPUS_N": "multi-GPU runs are launched with torchrun (DDP)",
    "DISP_EVERY_N_EPOCHS": "a fixed-z sample grid is written after every stage",
    "TEST_USING_BEST_MODEL": "final mode always trains the selected epoch counts (train.selection_from)",
    "GENERATE": "generation and metrics are separate steps (notebooks)",
    "N_IMAGES_GENERATED": "generation and metrics are separate steps (notebooks)",
    "LOAD_MODEL": "resume with --resume <checkpoint>",
    "START_TRAIN_AT_IMG_SIZE": "resume with --resume <the best checkpoint of the stage before>",
}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
MAX_LIST_LENGTH = 64


@dataclass
class ReferenceConfig:
    """The kit's view of a reference ``config.json``.

    Attributes:
        overrides: dotted kit options (``{"train.loss.class_fake": 2.0, ...}``) for ``load_profile``.
        keys: the reference key that set each of ``overrides`` (``{"train.loss.class_fake": "LAMBDA_CLS_2"}``).
        data_checks: values the data must have (``{"n_classes": 2, "image_channels": 1}``).
        not_used: reference keys with no kit option, and what to do instead.
        unknown: keys this reader does not know (only with ``allow_unknown=True``).
    """

    overrides: dict[str, object] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    data_checks: dict[str, int] = field(default_factory=dict)
    not_used: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


def read_reference_config(path: str | Path, allow_unknown: bool = False) -> ReferenceConfig:
    """Parse a reference ``config.json`` (see the module docstring); unknown keys are an error by default."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(path, "(whole file)", f"not readable JSON ({err})", "give the reference config.json") from err
    if not isinstance(raw, dict):
        raise ConfigError(path, "(whole file)", "must be a JSON object", "give the reference config.json")
    return reference_overrides(raw, path, allow_unknown)


def reference_overrides(raw: dict, source: str | Path = "config.json", allow_unknown: bool = False) -> ReferenceConfig:
    """:func:`read_reference_config` for an already loaded dict."""
    result = ReferenceConfig()
    known = set(MAPPED) | set(FROM_DATA) | set(NOT_USED)
    result.unknown = sorted(key for key in raw if key not in known)
    if result.unknown and not allow_unknown:
        raise ConfigError(source, ", ".join(result.unknown), "unknown reference option(s)",
                          f"remove them or pass allow_unknown=True; known: {', '.join(sorted(known))}")
    names = {"factors": list(ModelOptions.channel_factors), "L_cls1": LossWeights.class_real}
    # FACTORS and LAMBDA_CLS_1 first: later expressions may refer to them.
    for key in sorted(raw, key=lambda k: k not in ("FACTORS", "LAMBDA_CLS_1")):
        if key in NOT_USED:
            result.not_used[key] = NOT_USED[key]
        elif key in FROM_DATA:
            result.data_checks[FROM_DATA[key]] = _convert(_value(raw[key], names, source, key), "int", source, key)
        elif key in MAPPED:
            targets, kind = MAPPED[key]
            value = _convert(_value(raw[key], names, source, key), kind, source, key)
            result.overrides.update(dict.fromkeys(targets, value))
            result.keys.update(dict.fromkeys(targets, key))
            if key == "FACTORS":
                names["factors"] = value
            elif key == "LAMBDA_CLS_1":
                names["L_cls1"] = value
    if "train.epochs_per_stage" in result.overrides:
        result.overrides["train.stages"] = len(result.overrides["train.epochs_per_stage"])
        result.keys["train.stages"] = "PROGRESSIVE_EPOCHS"
    return result


@contextlib.contextmanager
def reference_keys_in_errors(reference: ReferenceConfig, source: str | Path):
    """Within it, a ConfigError about an option that the reference config.json ``source`` set (its layer of
    :func:`pacgan_lite.config.load_profile`) names the reference key too: ``Z_DIM (model.z_dim)``."""
    try:
        yield
    except ConfigError as err:
        key = reference.keys.get(err.field) if err.path == Path(source) else None
        if key is None:
            raise
        raise ConfigError(err.path, f"{key} ({err.field})", err.problem, err.fix) from None


def check_data(reference: ReferenceConfig, source: str | Path, found: dict[str, int], data: str | Path) -> None:
    """Raise a :class:`~pacgan_lite.errors.ConfigError` naming ``source`` (the config.json) and the key when
    ``found`` (``{"n_classes": 2, "image_channels": 1}``, of the data set ``data``) differs from it."""
    for key, name in FROM_DATA.items():
        if name in reference.data_checks and reference.data_checks[name] != found[name]:
            raise ConfigError(source, key, f"is {reference.data_checks[name]}, the data in {data} have {found[name]}",
                              f"set {key} to {found[name]}, or train on the data this config.json describes")


def _value(value, names: dict, source, key: str):
    """A JSON value as is; a string parsed and evaluated by the whitelist (booleans as "True"/"False")."""
    if not isinstance(value, str):
        return value
    if value.strip() in ("True", "False", "true", "false"):
        return value.strip().lower() == "true"
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError as err:
        raise ConfigError(source, key, f"cannot parse {value!r}", "write a number, a list or a simple expression") from err
    return _evaluate(tree.body, names, source, key, value)


def _evaluate(node: ast.AST, names: dict, source, key: str, text: str):
    def refuse(what: str):
        raise ConfigError(source, key, f"refused to evaluate {text!r} ({what})",
                          "only numbers, lists, + - * /, L_cls1, factors and len() are allowed")

    def visit(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [visit(item) for item in node.elts]
        if isinstance(node, ast.Name):
            if node.id not in names:
                refuse(f"unknown name {node.id!r}")
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = visit(node.operand)
            if isinstance(operand, list):
                refuse("sign of a list")
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = visit(node.left), visit(node.right)
            if isinstance(left, list) or isinstance(right, list):
                return _list_arithmetic(node.op, left, right, refuse)
            if isinstance(node.op, ast.Div) and right == 0:
                refuse("division by zero")
            return _OPERATORS[type(node.op)](left, right)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"
                and len(node.args) == 1 and not node.keywords):
            argument = visit(node.args[0])
            if not isinstance(argument, list):
                refuse("len() of a number")
            return len(argument)
        refuse(f"{type(node).__name__} is not allowed")

    return visit(node)


def _list_arithmetic(op: ast.operator, left, right, refuse):
    """``[5] * 3`` and ``[1] + [2]`` only, and never longer than :data:`MAX_LIST_LENGTH`."""
    if isinstance(op, ast.Mult) and isinstance(right, int) and isinstance(left, list):
        left, right = right, left
    if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, list):
        if not 0 <= left * len(right) <= MAX_LIST_LENGTH:
            refuse(f"a list longer than {MAX_LIST_LENGTH}")
        return right * left
    if isinstance(op, ast.Add) and isinstance(left, list) and isinstance(right, list):
        if len(left) + len(right) > MAX_LIST_LENGTH:
            refuse(f"a list longer than {MAX_LIST_LENGTH}")
        return left + right
    refuse("this list arithmetic")


def _convert(value, kind: str, source, key: str):
    """Check the evaluated value against what the kit option needs."""
    def number(item, integral: bool):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ConfigError(source, key, f"expected a number, got {item!r}", "write a number")
        try:
            finite = math.isfinite(item)
        except OverflowError:  # an integer beyond a float's range
            finite = False
        if not finite:
            raise ConfigError(source, key, f"expected a finite number, got {item!r}", "write a number")
        if integral:
            if isinstance(item, float) and not item.is_integer():
                raise ConfigError(source, key, f"expected a whole number, got {item!r}", "write an integer")
            return int(item)
        return float(item)

    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(source, key, f"expected true/false, got {value!r}", 'write true, false, "True" or "False"')
        return value
    if kind.endswith("_list"):
        if not isinstance(value, list) or not value:
            raise ConfigError(source, key, f"expected a non-empty list, got {value!r}", "write a list, e.g. [1, 2]")
        return [number(item, kind == "int_list") for item in value]
    return number(value, kind == "int")
