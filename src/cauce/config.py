"""`params.yaml` loaded once into typed, frozen objects.

Every mistake stops with a message that names the key, the value found and what is
allowed, e.g. ``params.yaml: train.model = 'xgboost': must be one of
'hist_gradient_boosting', 'logistic_regression', 'ridge'``.
"""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Literal,
    Self,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cauce import ConfigError
from cauce.layout import PARAMS
from cauce.metrics import METRICS, Task, of_task

DEFAULT_PARAMS = PARAMS

# Boosted trees for every task; the linear baselines: logistic regression for classifiers,
# ridge regression for regression.
ModelName = Literal["hist_gradient_boosting", "logistic_regression", "ridge"]
if TYPE_CHECKING:  # a name of the registry: pydantic checks it, a type checker sees text
    MetricName = str
else:
    MetricName = Literal[tuple(METRICS)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
PositiveInt = Annotated[int, Field(gt=0)]
Model = TypeVar("Model", bound=BaseModel)
# A class label as a data file holds it (bool before int: YAML's true is not 1).
Label = bool | int | str


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Separator = Literal[",", ";", "\t", "|"]
SEPARATORS: tuple[str, ...] = get_args(Separator)
DecimalMark = Literal[".", ","]
DECIMAL_MARKS: tuple[str, ...] = get_args(DecimalMark)


class CsvFormat(_Section):
    """How a CSV source is written (cauce init detects it): the field separator, the
    decimal mark and the text encoding."""

    sep: Separator = ","
    decimal: DecimalMark = "."
    encoding: str = Field(default="utf-8", min_length=1)

    @model_validator(mode="after")
    def _decimal_is_not_the_separator(self) -> Self:
        if self.sep == self.decimal:
            raise ValueError(f"decimal = {self.decimal!r}: the separator too; one must differ")
        return self


class DataParams(_Section):
    source: str = Field(min_length=1)
    # Text that stands for a missing value in the source (e.g. "?", "n/a"), besides an
    # empty field and pandas' usual markers ("NA", "NaN", "null", …).
    missing_values: list[str] = Field(default_factory=list)
    csv: CsvFormat = Field(default_factory=CsvFormat)
    task: Task = "binary"
    target: str
    # binary: the label the model's probability is for; may be left out when the labels
    # are 0 and 1 or false and true (the positive is then 1, true).
    positive_label: Label | None = None
    id_column: str | None = None
    # With a time column (whole years or dates: a row's period is its year) the model
    # trains on `train_years` and later years play the part of production; without one
    # (null), every row is split into train and test.
    year_column: str | None = None
    train_years: list[int] | None = Field(default=None, min_length=1)
    test_size: Fraction
    seed: int
    # A seeded sample of the training rows, for quick runs and tests; null keeps every row.
    max_rows: PositiveInt | None = None

    @model_validator(mode="after")
    def _time_and_labels_agree(self) -> Self:
        if (self.year_column is None) != (self.train_years is None):
            raise ValueError(
                "train_years: give data.year_column and data.train_years together, "
                "or set both to null when the data has no time column"
            )
        if self.positive_label is not None and self.task != "binary":
            raise ValueError(
                f"positive_label = {self.positive_label!r}: only a binary task has a "
                f"positive label (data.task is {self.task}); remove it"
            )
        return self

    @property
    def special_columns(self) -> list[str]:
        """The id, target and time columns that the data has (none is a feature)."""
        named = [self.id_column, self.target, self.year_column]
        return [column for column in named if column is not None]


class Imputation(_Section):
    numeric: Literal["median", "mean"]
    categorical: Literal["most_frequent"]


# An ordinal feature: a column of numbers in their own order (SCHL), or a column of codes
# with their order from lowest to highest ({cut: [Fair, Good, Very Good, Premium, Ideal]}).
OrdinalFeature = (
    str
    | Annotated[
        dict[str, Annotated[list[Label], Field(min_length=2)]], Field(min_length=1, max_length=1)
    ]
)


class FeatureParams(_Section):
    numeric: list[str]
    ordinal: list[OrdinalFeature]
    categorical: list[str]
    impute: Imputation

    @property
    def ordinal_columns(self) -> list[str]:
        return [entry if isinstance(entry, str) else next(iter(entry)) for entry in self.ordinal]

    @property
    def orders(self) -> dict[str, list[Label]]:
        """Each ordinal column given with its codes' order, and that order."""
        return {
            name: order
            for entry in self.ordinal
            if isinstance(entry, dict)
            for name, order in entry.items()
        }

    @property
    def coded(self) -> list[str]:
        """The columns whose values are codes, not quantities: categorical, and ordinal
        with an order (the drift monitor compares their codes' shares)."""
        return [*self.categorical, *self.orders]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.ordinal_columns, *self.categorical]

    @model_validator(mode="after")
    def _each_column_once(self) -> Self:
        for name, order in self.orders.items():
            repeated = sorted({str(code) for code in order if order.count(code) > 1})
            if repeated:
                raise ValueError(
                    f"ordinal.{name}: codes listed more than once: {', '.join(repeated)}"
                )
        if not self.columns:
            raise ValueError("numeric/ordinal/categorical: at least one column is required")
        repeated = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if repeated:
            raise ValueError(
                f"numeric/ordinal/categorical: listed more than once: {', '.join(repeated)}"
            )
        return self


class HistGradientBoostingParams(_Section):
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    max_iter: PositiveInt
    max_leaf_nodes: Annotated[int, Field(ge=2)]
    min_samples_leaf: PositiveInt
    l2_regularization: Annotated[float, Field(ge=0)]
    early_stopping: bool


class LogisticRegressionParams(_Section):
    C: Annotated[float, Field(gt=0)]
    max_iter: PositiveInt


class RidgeParams(_Section):
    alpha: Annotated[float, Field(ge=0)]


class TrainParams(_Section):
    model: ModelName
    hist_gradient_boosting: HistGradientBoostingParams
    logistic_regression: LogisticRegressionParams
    ridge: RidgeParams

    def estimator_params(self) -> dict[str, Any]:
        """The hyperparameters of the selected model."""
        selected: BaseModel = getattr(self, self.model)
        return selected.model_dump()


class PermutationImportanceParams(_Section):
    n_repeats: PositiveInt
    max_rows: PositiveInt


class EvaluateParams(_Section):
    threshold: Fraction = 0.5  # binary: the probability at or above which the label is positive
    slices: list[str]
    permutation_importance: PermutationImportanceParams


class GateRule(_Section):
    min: float | None = None
    max: float | None = None
    max_regression: Annotated[float, Field(ge=0)] | None = None


class GroupGate(_Section):
    metric: MetricName
    max_regression: Annotated[float, Field(ge=0)]
    # Smaller groups are reported but not gated: their metrics are mostly noise.
    min_rows: PositiveInt


class GateParams(_Section):
    metrics: dict[MetricName, GateRule]
    groups: GroupGate
    # The paired bootstrap of every delta (cauce.intervals): its two-sided level, its
    # resamples and their seed (the same seed, the same report).
    confidence: Fraction = 0.95
    resamples: PositiveInt = 1000
    seed: int = 0
    # A reviewer's acceptance of a pull request that changes the task or the target, whose
    # numbers cannot be compared with the base's: this checkout's "task target", e.g.
    # "multiclass cultivar" (the gate names it; a later change needs its own).
    accept_task_change: str | None = None

    @model_validator(mode="after")
    def _bounds_follow_direction(self) -> Self:
        for name, rule in self.metrics.items():
            right, wrong = ("min", "max") if METRICS[name].higher_is_better else ("max", "min")
            value = getattr(rule, wrong)
            if value is not None:
                raise ValueError(
                    f"metrics.{name}.{wrong} = {value}: {name} is better when "
                    f"{'higher' if right == 'min' else 'lower'}, so bound it with {right}"
                )
        return self


class MonitorPerformance(_Section):
    metric: MetricName
    max_drop: Annotated[float, Field(ge=0)]
    confidence: Fraction
    resamples: PositiveInt


class MonitorParams(_Section):
    alpha: Fraction
    calibration_rows: PositiveInt
    resamples: Annotated[int, Field(ge=100)]
    quantile: Fraction
    max_missing_increase: Annotated[float, Field(ge=0, le=1)]
    max_unseen_share: Annotated[float, Field(ge=0, le=1)]
    performance: MonitorPerformance


class NotifyParams(_Section):
    timeout_seconds: Annotated[float, Field(gt=0)]
    attempts: Annotated[int, Field(ge=1, le=10)]  # the first try and its retries
    backoff_seconds: Annotated[float, Field(ge=0)]  # doubled after each retry
    max_wait_seconds: Annotated[float, Field(ge=0)]  # cap on one wait, Retry-After included


class ServeParams(_Section):
    max_rows: PositiveInt
    max_body_bytes: PositiveInt


class CardParams(_Section):
    """The model card's words: what the model is for and where it falls short."""

    intended_use: str = Field(min_length=1)
    limitations: list[str] = []


class Params(_Section):
    data: DataParams
    features: FeatureParams
    train: TrainParams
    evaluate: EvaluateParams
    gate: GateParams
    monitor: MonitorParams
    notify: NotifyParams
    serve: ServeParams
    card: CardParams

    @model_validator(mode="after")
    def _columns_agree(self) -> Self:
        clash = sorted(set(self.data.special_columns) & set(self.features.columns))
        if clash:
            raise ValueError(f"features: {', '.join(clash)} is an id, target or year column")
        unknown = [c for c in self.evaluate.slices if c not in self.features.columns]
        if unknown:
            raise ValueError(
                f"evaluate.slices: {', '.join(unknown)} must be feature columns "
                f"(one of {', '.join(self.features.columns)})"
            )
        return self

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> Self:
        task = self.data.task
        used = [
            *((f"gate.metrics.{name}", name) for name in self.gate.metrics),
            ("gate.groups.metric", self.gate.groups.metric),
            ("monitor.performance.metric", self.monitor.performance.metric),
        ]
        for key, name in used:
            if name not in of_task(task):
                raise ValueError(
                    f"{key}: {name} is not a metric of a {task} model (data.task); its "
                    f"metrics are {', '.join(of_task(task))}"
                )
        if task == "regression" and self.train.model == "logistic_regression":
            raise ValueError(
                "train.model = 'logistic_regression': a classifier, and data.task is "
                "regression; use hist_gradient_boosting, or ridge for the linear baseline"
            )
        if task != "regression" and self.train.model == "ridge":
            raise ValueError(
                f"train.model = 'ridge': a regressor, and data.task is {task}; use "
                "hist_gradient_boosting, or logistic_regression for the linear baseline"
            )
        return self


def load_params(path: Path = DEFAULT_PARAMS) -> Params:
    """Read and check `params.yaml`; raise ConfigError naming key, value and rule."""
    return parse_yaml(Params, path)


def parse_yaml(model: type[Model], path: Path) -> Model:
    """Load a YAML file into `model`, turning every problem into one ConfigError."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if raw is None:
        raise ConfigError(f"{path}: the file is empty; expected a mapping of sections")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, found {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(model, e) for e in error.errors()]
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems)) from None


def _describe(model: type[BaseModel], error: Any) -> str:
    # A bad dict key (gate.metrics.<name>) is reported at the key itself.
    location = ".".join(str(part) for part in error["loc"] if part != "[key]")
    if error["type"] == "extra_forbidden":
        allowed = _fields_at(model, error["loc"][:-1])
        return f"{location}: unknown key; allowed here: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"{location}: required key is missing"
    if error["type"] == "literal_error":
        allowed = error["ctx"]["expected"].replace(" or ", ", ")
        return f"{location} = {error['input']!r}: must be one of {allowed}"
    if error["type"] == "value_error":
        # Our own cross-field rules start with the key they check, relative to `location`.
        message = str(error["ctx"]["error"])
        return f"{location}.{message}" if location else message
    return f"{location} = {error['input']!r}: {error['msg'].lower()}"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at `loc`, walking into sub-sections and dict values."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        if get_origin(current) in (Union, UnionType):  # X | None resolves to X
            current = next(a for a in get_args(current) if a is not type(None))
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []
