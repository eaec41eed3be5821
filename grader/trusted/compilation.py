"""Compile settings on the trusted side: validate a submitted compile config and rebuild it.

The optimizer, loss and metrics arrive as a serialised Keras compile config. Only Keras' own
optimizers, losses and metrics are accepted, and every argument they carry is checked for its type
and range (an unknown argument is refused): the grader constructs them itself, so nothing in the
config can run code, and nothing can make them allocate without bound (a metric with fifty million
thresholds, say). A learning rate may be any finite number: a rate so large that training diverges
is the student's mistake, and the training check reports it as such.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import keras

from grader.trusted.bounds import (ArgumentError, Validator, absent, arguments, choice, flag, integer, number, numbers,
                           optional, shorten)

OPTIMIZERS = ("Adam", "AdamW", "Adamax", "Nadam", "SGD", "RMSprop", "Adagrad", "Adadelta", "Lion", "Ftrl")
LOSSES = {
    # canonical name: (class name, function name)
    "sparse_categorical_crossentropy": ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
    "categorical_crossentropy": ("CategoricalCrossentropy", "categorical_crossentropy"),
    "binary_crossentropy": ("BinaryCrossentropy", "binary_crossentropy"),
    "mean_squared_error": ("MeanSquaredError", "mean_squared_error"),
    "mean_absolute_error": ("MeanAbsoluteError", "mean_absolute_error"),
    "kl_divergence": ("KLDivergence", "kl_divergence"),
    "hinge": ("Hinge", "hinge"),
    "categorical_hinge": ("CategoricalHinge", "categorical_hinge"),
    "poisson": ("Poisson", "poisson"),
    "huber": ("Huber", "huber"),
}
_LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "kld": "kl_divergence",
                 "kullback_leibler_divergence": "kl_divergence", "huber_loss": "huber"}
_CLASS_TO_LOSS = {cls: name for name, (cls, _) in LOSSES.items()}
ACCURACY_METRICS = {"accuracy", "acc", "sparse_categorical_accuracy", "SparseCategoricalAccuracy"}
METRICS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "mse", "mae", "crossentropy")


MAX_METRICS = 16
_ANY = number(-sys.float_info.max, sys.float_info.max)
_RATE = number(0, sys.float_info.max)
_UNIT = number(0, 1)
_OPTIMIZER_COMMON = {
    "learning_rate": _RATE, "weight_decay": optional(_RATE), "clipnorm": optional(_RATE),
    "global_clipnorm": optional(_RATE), "clipvalue": optional(_RATE), "use_ema": flag, "ema_momentum": _UNIT,
    "ema_overwrite_frequency": optional(integer(1, 1_000_000)), "loss_scale_factor": optional(_RATE),
    "gradient_accumulation_steps": optional(integer(1, 1000)),
}
_ADAM = {"beta_1": _UNIT, "beta_2": _UNIT, "epsilon": _RATE}
OPTIMIZER_ARGS: dict[str, dict[str, Validator]] = {
    "Adam": {**_ADAM, "amsgrad": flag}, "AdamW": {**_ADAM, "amsgrad": flag}, "Adamax": _ADAM, "Nadam": _ADAM,
    "SGD": {"momentum": _RATE, "nesterov": flag},
    "RMSprop": {"rho": _UNIT, "momentum": _RATE, "epsilon": _RATE, "centered": flag},
    "Adagrad": {"initial_accumulator_value": _RATE, "epsilon": _RATE},
    "Adadelta": {"rho": _UNIT, "epsilon": _RATE},
    "Lion": {"beta_1": _UNIT, "beta_2": _UNIT},
    "Ftrl": {"learning_rate_power": _ANY, "initial_accumulator_value": _RATE, "l1_regularization_strength": _RATE,
             "l2_regularization_strength": _RATE, "l2_shrinkage_regularization_strength": _RATE, "beta": _RATE},
}
_THRESHOLDS = optional(numbers(0, 1, max_len=200))
_CLASS = optional(integer(0, 10_000))
METRIC_ARGS: dict[str, dict[str, Validator]] = {
    "SparseCategoricalAccuracy": {}, "CategoricalAccuracy": {}, "Accuracy": {},
    "SparseTopKCategoricalAccuracy": {"k": integer(1, 10_000), "from_sorted_ids": flag},
    "TopKCategoricalAccuracy": {"k": integer(1, 10_000)},
    "SparseCategoricalCrossentropy": {"from_logits": flag, "ignore_class": optional(integer(-10_000, 10_000)),
                                      "axis": integer(-8, 8)},
    "MeanSquaredError": {}, "MeanAbsoluteError": {},
    "Precision": {"thresholds": _THRESHOLDS, "top_k": _CLASS, "class_id": _CLASS},
    "Recall": {"thresholds": _THRESHOLDS, "top_k": _CLASS, "class_id": _CLASS},
    "AUC": {"num_thresholds": integer(2, 1000), "curve": choice("ROC", "PR"),
            "summation_method": choice("interpolation", "minoring", "majoring"), "multi_label": flag,
            "num_labels": optional(integer(1, 100)), "label_weights": absent, "from_logits": flag,
            "thresholds": optional(numbers(0, 1, max_len=1000))},
}
_UNUSED = ("name", "dtype")  # a metric's, loss's or optimizer's name and dtype: the grader uses its own


def _default(value: Any) -> Validator:
    """The argument at its default `value` only: one the grader neither rebuilds nor drops (it would train another
    loss than the one submitted), so any other value is refused."""
    def check(given: Any, where: str) -> Any:
        if given != value or isinstance(given, bool) != isinstance(value, bool):
            raise ArgumentError(f"{where} is {shorten(given)}; the grader trains with its default ({value}) only. "
                                "Remove it.")
        return given
    return check


_REDUCTION = {"reduction": _default("sum_over_batch_size")}
_CROSSENTROPY = {**_REDUCTION, "from_logits": flag, "label_smoothing": _default(0.0), "axis": _default(-1)}
# A loss's arguments: from_logits is rebuilt (fitted to the model's output by the training check); every other one
# is accepted at its default only, so that every accepted loss trains exactly as the loss the grader builds.
LOSS_ARGS: dict[str, dict[str, Validator]] = {
    "SparseCategoricalCrossentropy": {**_REDUCTION, "from_logits": flag, "ignore_class": absent, "axis": _default(-1)},
    "CategoricalCrossentropy": _CROSSENTROPY, "BinaryCrossentropy": _CROSSENTROPY,
    "Huber": {**_REDUCTION, "delta": _default(1.0)},
    **{cls: _REDUCTION for cls in ("MeanSquaredError", "MeanAbsoluteError", "KLDivergence", "Hinge",
                                   "CategoricalHinge", "Poisson")},
}


@dataclass(frozen=True)
class Fallback:
    """What training can use of compile settings that did not pass the compile check: their optimizer (the part that
    decides how the model learns), or why it cannot be rebuilt."""

    optimizer: str = ""
    optimizer_config: dict[str, Any] = field(default_factory=dict)
    refused: str = ""


def fallback(config: Any, settings: CompileSettings | None = None) -> Fallback:
    """The usable part of compile settings that did not pass: `settings`' optimizer if they were read, else the
    optimizer of the raw `config` alone, or why it is refused."""
    if settings is not None:
        return Fallback(settings.optimizer, settings.optimizer_config)
    try:
        if not isinstance(config, dict):
            raise CompileError("the model's compile settings could not be read.")
        return Fallback(*_optimizer(config.get("optimizer")))
    except CompileError as error:
        return Fallback(refused=str(error))


class CompileError(Exception):
    """Compile settings the grader cannot or will not rebuild; the message names the part."""


@dataclass(frozen=True)
class CompileSettings:
    """Validated compile settings as plain data."""

    optimizer: str
    optimizer_config: dict[str, Any]
    loss: str
    from_logits: bool
    metrics: tuple[str, ...]
    metric_configs: tuple[Any, ...] = field(default=())

    @property
    def has_accuracy(self) -> bool:
        return any(m in ACCURACY_METRICS for m in self.metrics)

    def describe(self) -> str:
        logits = ", from_logits=True" if self.from_logits else ""
        return f"optimizer={self.optimizer}, loss={self.loss}{logits}, metrics=[{', '.join(self.metrics)}]"

    def build(self) -> dict[str, Any]:
        """Fresh keras objects for `model.compile(**settings.build())`."""
        optimizer = getattr(keras.optimizers, self.optimizer)(**self.optimizer_config)
        loss_class = getattr(keras.losses, LOSSES[self.loss][0])
        loss = loss_class(from_logits=True) if self.from_logits and "from_logits" in _params(loss_class) else loss_class()
        metrics = [m if isinstance(m, str) else _metric_object(m) for m in self.metric_configs]
        return {"optimizer": optimizer, "loss": loss, "metrics": metrics}


def _metric_object(metric: dict) -> keras.metrics.Metric:
    """A fresh Keras metric from a validated config (Keras takes lists of thresholds, not tuples)."""
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in metric["config"].items()}
    return getattr(keras.metrics, metric["class_name"])(**config)


def reference(optimizer: str, loss: str, metrics: tuple[str, ...]) -> CompileSettings:
    """Compile settings from an assignment spec."""
    return CompileSettings(optimizer, {}, loss_name(loss), False, tuple(metrics), tuple(metrics))


def parse(config: Any) -> CompileSettings:
    """Validate a model's compile config (`model.get_compile_config()`)."""
    if not isinstance(config, dict):
        raise CompileError("the model's compile settings could not be read.")
    optimizer, optimizer_config = _optimizer(config.get("optimizer"))
    loss, from_logits = _loss(config.get("loss"))
    raw_metrics = config.get("metrics") or []
    if isinstance(raw_metrics, (str, dict)):
        raw_metrics = [raw_metrics]
    if not isinstance(raw_metrics, list):
        raise CompileError("metrics should be a list such as ['accuracy'].")
    if len(raw_metrics) > MAX_METRICS:
        raise CompileError(f"compile() was given {len(raw_metrics):,} metrics; the grader accepts up to {MAX_METRICS}. "
                           "One, 'accuracy', is all this assignment needs.")
    names, configs = [], []
    for metric in raw_metrics:
        name, built = _metric(metric)
        names.append(name)
        configs.append(built)
    return CompileSettings(optimizer, optimizer_config, loss, from_logits, tuple(names), tuple(configs))


def _optimizer(value: Any) -> tuple[str, dict]:
    if isinstance(value, str):
        for name in OPTIMIZERS:
            if value.lower() == name.lower():
                return name, {}
        raise CompileError(f"optimizer {shorten(value)!r} is not one of Keras' optimizers ({', '.join(OPTIMIZERS)}).")
    if isinstance(value, dict) and value.get("class_name") in OPTIMIZERS and str(value.get("module", "")).startswith("keras"):
        name = value["class_name"]
        config = {k: v for k, v in _config(value, f"optimizer {name}").items() if k not in _UNUSED}
        for key, item in config.items():
            if isinstance(item, dict):
                raise CompileError(f"optimizer {name}: {shorten(key)} holds an object (a schedule or callable); "
                                   "use a plain number, e.g. learning_rate=0.001.")
        return name, _checked(config, {**_OPTIMIZER_COMMON, **OPTIMIZER_ARGS[name]}, f"optimizer {name}")
    kind = value.get("class_name") if isinstance(value, dict) else type(value).__name__
    raise CompileError(f"optimizer {shorten(kind)!r} is not one of Keras' built-in optimizers ({', '.join(OPTIMIZERS)}).")


def _config(value: dict, what: str) -> dict:
    config = value.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise CompileError(f"{what} has a malformed config (a {type(config).__name__}, expected a mapping).")
    return config


def _checked(config: dict, allowed: dict[str, Validator], what: str) -> dict:
    try:
        return arguments(config, allowed, what)
    except ArgumentError as exc:
        raise CompileError(str(exc)) from None


def _loss(value: Any) -> tuple[str, bool]:
    if value is None:
        raise CompileError("no loss was given to compile().")
    if isinstance(value, str):
        return loss_name(value), False
    if isinstance(value, dict):
        kind, module, body = value.get("class_name"), str(value.get("module", "")), value.get("config")
        if kind == "function" and isinstance(body, str):
            return loss_name(body), False
        if isinstance(kind, str) and kind in _CLASS_TO_LOSS and module.startswith("keras"):
            config = {k: v for k, v in _config(value, f"loss {kind}").items() if k not in _UNUSED}
            return _CLASS_TO_LOSS[kind], bool(_checked(config, LOSS_ARGS[kind], f"loss {kind}").get("from_logits"))
        raise CompileError(f"loss {shorten(kind)!r} ({shorten(module)}) is not one of Keras' losses; "
                           "use e.g. 'sparse_categorical_crossentropy'.")
    raise CompileError(f"the loss is a {type(value).__name__}; use a Keras loss name, function or class.")


def loss_name(name: str) -> str:
    """The canonical name of a Keras loss given by any of its names; CompileError if unknown."""
    if not isinstance(name, str):
        raise CompileError(f"the loss is {shorten(name)}; use a Keras loss name such as 'sparse_categorical_crossentropy'.")
    name = _LOSS_ALIASES.get(name, name)
    if name in LOSSES:
        return name
    if name in _CLASS_TO_LOSS:
        return _CLASS_TO_LOSS[name]
    raise CompileError(f"loss {shorten(name)!r} is not one of Keras' losses ({', '.join(LOSSES)}).")


def _metric(value: Any) -> tuple[str, Any]:
    if isinstance(value, str):
        if value in METRICS:
            return value, value
        raise CompileError(f"metric {shorten(value)!r} is not one the grader knows ({', '.join(METRICS)}).")
    if isinstance(value, dict):
        kind, module, body = value.get("class_name"), str(value.get("module", "")), value.get("config")
        if kind == "function" and isinstance(body, str) and body in METRICS:
            return body, body
        if isinstance(kind, str) and kind in METRIC_ARGS and module.startswith("keras"):
            config = {k: v for k, v in _config(value, f"metric {kind}").items() if k not in _UNUSED}
            return kind, {"class_name": kind, "config": _checked(config, METRIC_ARGS[kind], f"metric {kind}")}
        raise CompileError(f"metric {shorten(kind)!r} ({shorten(module)}) is not one of Keras' metrics the grader "
                           f"rebuilds ({', '.join(METRIC_ARGS)}).")
    raise CompileError(f"a metric is a {type(value).__name__}; use a name such as 'accuracy'.")


def _params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)
