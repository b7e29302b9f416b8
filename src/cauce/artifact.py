"""What a model directory says about itself, typed once: `model.json` and its target.

Every reader (serving, batch scoring, the monitor, the release, the model card) reads
`model.json` as a `ModelInfo`, never by string keys. The target says what the model
predicts and how its answers read in the user's own labels:

- binary: two labels, `classes = [negative, positive]`; the model gives the positive
  label's probability, and the positive label at or above `threshold`;
- multiclass: three or more labels; a probability per label, in `classes` order;
- regression: a number.

Classifiers learn codes 0..k-1 in `classes` order, whatever the labels are (strings,
booleans, integers), so the estimator, the metrics and the fast path see integers, and
the answers are decoded back to the labels a caller sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from cauce import DataError
from cauce.config import DataParams, Label
from cauce.files import read_typed
from cauce.metrics import Task, predicted_codes

if TYPE_CHECKING:  # pandas is not imported by the API, which reads model.json at start
    import pandas as pd

# How the model takes a feature (params.yaml's features lists).
FeatureKind = Literal["numeric", "ordinal", "categorical"]
MAX_CLASSES = 255  # beyond this a target is an id or a number, not a label


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Record):
    column: str
    task: Task
    classes: list[Label] | None = None  # classification: the label of each code
    threshold: float | None = None  # binary: the positive label from this probability on

    @property
    def positive(self) -> Label | None:
        return self.classes[1] if self.task == "binary" and self.classes else None

    def encode(self, values: pd.Series, where: str) -> np.ndarray:
        """`values` as the model learns them: codes for the classes, floats for regression.
        A label the model does not know is a DataError naming `where`."""
        if self.task == "regression":
            numbers: np.ndarray = values.to_numpy(dtype=np.float64)
            return numbers
        codes = {label: code for code, label in enumerate(self.classes or [])}
        plain = [plain_label(v) for v in values]
        unknown = sorted({str(v) for v in plain if v not in codes})
        if unknown:
            raise DataError(
                f"{where}: column {self.column!r} (data.target) has labels the model does "
                f"not know: {', '.join(unknown[:5])}; it knows {_listed(self.classes or [])}"
            )
        return np.fromiter((codes[v] for v in plain), dtype=np.int64, count=len(plain))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The labels of `codes` (as an array of the labels' own type)."""
        return np.asarray(self.classes)[np.asarray(codes, dtype=np.intp)]

    def labels_of(self, prediction: np.ndarray) -> np.ndarray:
        """The label a classifier's `prediction` (model.score's shape) stands for."""
        return self.decode(predicted_codes(self.task, prediction, self.threshold))

    def columns(self, prediction: np.ndarray) -> dict[str, np.ndarray]:
        """The model's answers as named columns (batch scoring's output): a binary
        model's probability and label, a multiclass one's probability per class
        (`probability_<label>`) and label, a regression's value (`prediction`)."""
        if self.task == "regression":
            return {"prediction": prediction}
        if self.task == "binary":
            return {"probability": prediction, "label": self.labels_of(prediction)}
        per_class = {
            f"probability_{label}": prediction[:, code]
            for code, label in enumerate(self.classes or [])
        }
        return per_class | {"label": self.labels_of(prediction)}

    def answers(self, prediction: np.ndarray) -> list[dict[str, Any]]:
        """The model's answer for each row, as the API returns it (see `answer_schema`)."""
        if self.task == "regression":
            return [{"value": value} for value in prediction.tolist()]
        labels = self.labels_of(prediction).tolist()
        if self.task == "binary":
            return [
                {"probability": p, "label": label}
                for p, label in zip(prediction.tolist(), labels, strict=True)
            ]
        names = [str(label) for label in self.classes or []]
        return [
            {"probabilities": dict(zip(names, row, strict=True)), "label": label}
            for row, label in zip(prediction.tolist(), labels, strict=True)
        ]

    def answer_schema(self) -> dict[str, Any]:
        """The JSON Schema of one answer of `answers`."""
        if self.task == "regression":
            properties: dict[str, Any] = {"value": {"type": "number"}}
        else:
            share = {"type": "number", "minimum": 0, "maximum": 1}
            label = {"enum": list(self.classes or [])}
            if self.task == "binary":
                properties = {"probability": share, "label": label}
            else:
                names = [str(c) for c in self.classes or []]
                per_class = {
                    "type": "object",
                    "required": names,
                    "properties": dict.fromkeys(names, share),
                    "additionalProperties": False,
                }
                properties = {"probabilities": per_class, "label": label}
        return {"type": "object", "required": list(properties), "properties": properties}


def _is_flag(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not _is_flag(value)


# A UTC offset after a time of day (…T09:30:00+02:00, …09:30Z), never a date's own "-31".
OFFSET = r"(\d:\d\d(?::\d\d(?:\.\d+)?)?)(?:Z|[+-]\d\d(?::?\d\d)?)$"


def as_dates(values: pd.Series) -> pd.Series:
    """`values` as timestamps: a column of datetimes as it is, text read as ISO 8601 dates
    (2018-03-31, 2018-03-31T12:00:00); NaT for anything else (numbers are not dates: read
    as nanoseconds since 1970, they would all fall in January 1970)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    is_text = values.map(lambda v: isinstance(v, str), na_action="ignore")
    text = values.where(is_text.fillna(False).astype(bool))
    try:
        return pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:
        # Offsets that differ between rows (winter and summer time): each row's wall-clock
        # time as written, so that its date, and year, is the local one, not UTC's.
        wall_clock = text.str.replace(OFFSET, r"\1", regex=True)
        return pd.to_datetime(wall_clock, format="ISO8601", errors="coerce")


def plain_label(value: Any) -> Any:
    """A label as Python holds it: numpy scalars to Python, whole floats (integers widened
    by a missing value) back to integers."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _listed(labels: list[Any]) -> str:
    return ", ".join(repr(label) for label in labels)


def describe_target(values: pd.Series, data: DataParams, where: str, threshold: float) -> Target:
    """The target `data` declares, checked against the labelled `values` of `where`.

    Every mismatch between the data and the declared task is a DataError that names the
    file, the column and the rule, and says what to set instead.
    """
    import pandas as pd

    column, task = data.target, data.task
    present = values.dropna()
    if present.empty:
        raise DataError(f"{where}: column {column!r} (data.target) has no values")
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if task == "regression":
        if not numeric:
            raise DataError(
                f"{where}: column {column!r} (data.target) holds labels such as "
                f"{_listed(present.unique()[:3].tolist())}; task regression needs numbers: "
                "set data.task: binary or multiclass"
            )
        return Target(column=column, task=task)
    labels = sorted({plain_label(v) for v in present}, key=lambda v: (type(v).__name__, v))
    if len(labels) > MAX_CLASSES:
        hint = "set data.task: regression" if numeric else "is it an id column?"
        raise DataError(
            f"{where}: column {column!r} (data.target) has {len(labels):,} labels; a "
            f"classifier takes at most {MAX_CLASSES}: {hint}"
        )
    if task == "multiclass":
        if len(labels) < 3:
            raise DataError(
                f"{where}: column {column!r} (data.target) has {len(labels)} label"
                f"{'s' * (len(labels) != 1)} ({_listed(labels)}); task multiclass needs 3 "
                "or more: set data.task: binary"
            )
        return Target(column=column, task=task, classes=labels)
    if len(labels) == 1:
        raise DataError(
            f"{where}: column {column!r} (data.target) has a single label ({labels[0]!r}); "
            "a classifier needs two: check data.target and the rows data.train_years keeps"
        )
    if len(labels) != 2:
        raise DataError(
            f"{where}: column {column!r} (data.target) has {len(labels)} labels "
            f"({_listed(labels[:10])}); task binary needs 2: set data.task: multiclass"
        )
    positive = data.positive_label
    if positive is None:
        if labels not in ([0, 1], [False, True]):
            raise DataError(
                f"{where}: column {column!r} (data.target) has labels {_listed(labels)}: "
                "set data.positive_label to the one the model's probability is for"
            )
        positive = labels[1]
    if positive not in labels or type(positive) is not type(labels[labels.index(positive)]):
        raise DataError(
            f"{where}: data.positive_label = {positive!r} is not a label of column "
            f"{column!r}; its labels are {_listed(labels)}"
        )
    negative = next(label for label in labels if label != positive)
    return Target(column=column, task=task, classes=[negative, positive], threshold=threshold)


FINITE = "finite (no inf or -inf)"


class ValueRule(_Record):
    """What a column's values may be: the contract declares it, the API and batch check it."""

    # boolean: a target's labels; date: a time column's (ISO 8601 text or datetimes)
    type: Literal["boolean", "integer", "number", "string", "date"]
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: list[int | float | str] | None = None

    @model_validator(mode="after")
    def _one_kind_of_domain(self) -> Self:
        if self.allowed is not None and (self.min is not None or self.max is not None):
            raise ValueError("allowed: give either allowed codes or a min/max range, not both")
        if self.type == "date" and (self.allowed, self.min, self.max) != (None, None, None):
            raise ValueError("type: a date takes no allowed codes and no min/max")
        return self

    def broken(
        self, values: pd.Series, text_as_numbers: bool = False
    ) -> list[tuple[str, np.ndarray]]:
        """Each rule of the column, in the contract's words, with the mask of the values
        of `values` that break it: validate and batch scoring both judge rows with this
        (the API with the pydantic form of the same rules, serving/app.py). A value breaks
        one rule at most: a wrong type is not also reported outside the range. A boolean
        is not a number; text is one only with `text_as_numbers` (batch scoring reads a
        CSV's cells as text; the training data must hold numbers as numbers, or the model
        would learn text codes that callers never send).
        """
        import pandas as pd

        missing = values.isna().to_numpy()
        found = []
        if not self.nullable:
            found.append(("no missing values", missing))
        if self.type == "boolean":
            comparable = values
            if pd.api.types.is_bool_dtype(values):
                wrong = np.zeros(len(values), dtype=bool)
            else:
                flags = values.map(_is_flag, na_action="ignore")
                wrong = ~missing & ~flags.fillna(True).to_numpy(dtype=bool)
        elif self.type == "date":
            comparable = values
            wrong = ~missing & as_dates(values).isna().to_numpy()
        elif self.type == "string":
            comparable = values
            if pd.api.types.is_string_dtype(values) and values.dtype != object:
                wrong = np.zeros(len(values), dtype=bool)
            else:
                text = values.map(lambda v: isinstance(v, str), na_action="ignore")
                wrong = ~missing & ~text.fillna(True).to_numpy(dtype=bool)
        else:
            if pd.api.types.is_bool_dtype(values):
                comparable = pd.Series(np.nan, index=values.index)
            elif pd.api.types.is_numeric_dtype(values):
                comparable = values.astype("float64")
            elif text_as_numbers:
                flags = values.map(_is_flag, na_action="ignore")
                comparable = pd.to_numeric(
                    values.mask(flags.fillna(False).astype(bool)), errors="coerce"
                )
            else:
                numeric = values.map(_is_number, na_action="ignore").fillna(False).astype(bool)
                comparable = pd.to_numeric(values.where(numeric), errors="coerce")
            numbers = comparable.to_numpy(dtype="float64", na_value=np.nan)
            wrong = ~missing & np.isnan(numbers)
            if self.type == "integer":
                with np.errstate(invalid="ignore"):
                    wrong |= ~np.isnan(numbers) & (np.mod(numbers, 1) != 0)
        found.append((f"type {self.type}", wrong))
        judged = ~missing & ~wrong
        if self.type == "number":
            # inf and -inf are floats but not numbers a model can learn from or be sent.
            infinite = judged & np.isinf(numbers)
            found.append((FINITE, infinite))
            judged &= ~infinite
        if self.allowed is not None:
            found.append(
                (
                    f"allowed codes {self.allowed}",
                    judged & ~comparable.isin(self.allowed).to_numpy(),
                )
            )
        if self.type in ("integer", "number") and (self.min is not None or self.max is not None):
            low = -np.inf if self.min is None else self.min
            high = np.inf if self.max is None else self.max
            with np.errstate(invalid="ignore"):
                outside = (numbers < low) | (numbers > high)
            found.append((f"range [{low:g}, {high:g}]", judged & outside))
        return found


class ColumnRule(ValueRule):
    """A column of the data contract (data/contract.yaml)."""

    unique: bool = False


class SchemaColumn(ValueRule):
    """One input column as callers must send it: the contract's rule and the feature's kind."""

    name: str
    kind: FeatureKind

    @model_serializer(mode="wrap")
    def _name_first(self, handler: Any) -> dict[str, Any]:
        dumped = handler(self)
        return {"name": dumped.pop("name"), "kind": dumped.pop("kind"), **dumped}


class TrainingData(_Record):
    source: str
    train_years: list[int] | None = None
    rows: int
    positive_share: float | None = None  # binary
    class_shares: list[float] | None = None  # multiclass, in `classes` order
    target_mean: float | None = None  # regression
    sha256: str

    def constant(self, rows: int) -> tuple[np.ndarray, str] | None:
        """What a model that learned nothing but the training target would answer for
        `rows` rows (the class shares, or the mean), and those words; None for a model.json
        from before the shares were kept."""
        if self.positive_share is not None:
            return np.full(rows, self.positive_share), "the training share of the positive label"
        if self.class_shares is not None:
            return np.tile(self.class_shares, (rows, 1)), "the training class shares"
        if self.target_mean is not None:
            return np.full(rows, self.target_mean), "the training mean"
        return None


class ModelInfo(_Record):
    """`model.json`: what serving needs and what the model card tells."""

    name: str = "model"
    estimator: str
    target: Target
    input_schema: Annotated[list[SchemaColumn], Field(min_length=1)]
    params: dict[str, Any]
    data: TrainingData
    versions: dict[str, str]
    model_sha256: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _before_tasks(cls, raw: Any) -> Any:
        # Versions released before tasks existed are binary 0/1 models with the threshold
        # beside the target's name: still served, compared and rolled back to.
        if isinstance(raw, dict) and isinstance(raw.get("target"), str):
            raw = dict(raw)
            column, threshold = raw.pop("target"), raw.pop("threshold", None)
            raw["target"] = {
                "column": column,
                "task": "binary",
                "classes": [0, 1],
                "threshold": threshold,
            }
        return raw

    @property
    def columns(self) -> list[str]:
        return [column.name for column in self.input_schema]

    @classmethod
    def read(cls, path: Path, hint: str = "") -> Self:
        """`path` as a ModelInfo, or a ModelFileError naming it and the first problem."""
        return read_typed(cls, path, "a cauce model.json", hint)
