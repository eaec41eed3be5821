"""Compile settings on the trusted side: validate a submitted compile config and rebuild it.

The optimizer, loss and metrics arrive as a serialised Keras compile config. Only Keras' own
optimizers, losses and metrics with plain-valued configs are accepted; the grader constructs them
itself, so nothing in the config can run code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import keras

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
METRIC_CLASSES = ("SparseCategoricalAccuracy", "CategoricalAccuracy", "Accuracy", "SparseTopKCategoricalAccuracy",
                  "TopKCategoricalAccuracy", "SparseCategoricalCrossentropy", "MeanSquaredError", "MeanAbsoluteError",
                  "Precision", "Recall", "AUC")


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
        metrics = [m if isinstance(m, str) else getattr(keras.metrics, m["class_name"])(**m["config"]) for m in self.metric_configs]
        return {"optimizer": optimizer, "loss": loss, "metrics": metrics}


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
        raise CompileError(f"optimizer {value!r} is not one of Keras' optimizers ({', '.join(OPTIMIZERS)}).")
    if isinstance(value, dict) and value.get("class_name") in OPTIMIZERS and str(value.get("module", "")).startswith("keras"):
        config = dict(value.get("config") or {})
        config.pop("name", None)
        for key, item in config.items():
            if not _plain(item):
                raise CompileError(f"optimizer {value['class_name']}: {key} holds an object (a schedule or callable); "
                                   "use a plain number, e.g. learning_rate=0.001.")
        allowed = _params(getattr(keras.optimizers, value["class_name"]))
        return value["class_name"], {k: v for k, v in config.items() if k in allowed}
    kind = value.get("class_name") if isinstance(value, dict) else type(value).__name__
    raise CompileError(f"optimizer {kind!r} is not one of Keras' built-in optimizers ({', '.join(OPTIMIZERS)}).")


def _loss(value: Any) -> tuple[str, bool]:
    if value is None:
        raise CompileError("no loss was given to compile().")
    if isinstance(value, str):
        return loss_name(value), False
    if isinstance(value, dict):
        kind, module, body = value.get("class_name"), str(value.get("module", "")), value.get("config")
        if kind == "function" and isinstance(body, str):
            return loss_name(body), False
        if kind in _CLASS_TO_LOSS and module.startswith("keras"):
            logits = bool((body or {}).get("from_logits", False)) if isinstance(body, dict) else False
            return _CLASS_TO_LOSS[kind], logits
        raise CompileError(f"loss {kind!r} ({module}) is not one of Keras' losses; use e.g. 'sparse_categorical_crossentropy'.")
    raise CompileError(f"the loss is a {type(value).__name__}; use a Keras loss name, function or class.")


def loss_name(name: str) -> str:
    """The canonical name of a Keras loss given by any of its names; CompileError if unknown."""
    name = _LOSS_ALIASES.get(name, name)
    if name in LOSSES:
        return name
    if name in _CLASS_TO_LOSS:
        return _CLASS_TO_LOSS[name]
    raise CompileError(f"loss {name!r} is not one of Keras' losses ({', '.join(LOSSES)}).")


def _metric(value: Any) -> tuple[str, Any]:
    if isinstance(value, str):
        if value in METRICS:
            return value, value
        raise CompileError(f"metric {value!r} is not one the grader knows ({', '.join(METRICS)}).")
    if isinstance(value, dict):
        kind, module, body = value.get("class_name"), str(value.get("module", "")), value.get("config")
        if kind == "function" and isinstance(body, str) and body in METRICS:
            return body, body
        if kind in METRIC_CLASSES and module.startswith("keras") and isinstance(body, dict):
            config = {k: v for k, v in body.items() if k != "dtype" and _plain(v)}
            return kind, {"class_name": kind, "config": config}
        raise CompileError(f"metric {kind!r} ({module}) is not one of Keras' metrics the grader rebuilds.")
    raise CompileError(f"a metric is a {type(value).__name__}; use a name such as 'accuracy'.")


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def _params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)
