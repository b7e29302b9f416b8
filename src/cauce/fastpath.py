"""A faster equivalent of a fitted cauce pipeline, for serving and batch scoring.

The scikit-learn Pipeline stays the artifact of record. For the boosted-trees shape that
`build_pipeline` makes (imputers and an ordinal encoder in a ColumnTransformer, then a
HistGradientBoostingClassifier with the log loss, binary or multiclass, or a
HistGradientBoostingRegressor with the squared error), `FastModel.derive` rebuilds the
same computation from the fitted state as plain arrays:

- the input: float64 rows in the pipeline's column order, NaN where a value is missing.
  Numbers and numeric codes are themselves; a text category is its position in the
  encoder's `categories_` (-1 when unseen), which `matrix` and `matrix_of_records` look
  up in the categories stored as a unicode array;
- the preprocessing: the imputers' `statistics_` fill NaN, and a lookup table made from
  the encoder's `categories_` turns codes into 0..k-1 (NaN when a code is unknown,
  negative or fractional, as the encoder does);
- the trees as lookup tables (the QuickScorer idea): a tree's leaves are numbered left to
  right, and each split maps its column's bin to a bit mask of the leaves it rules out;
  the lowest leaf left standing once a tree's masks are ANDed is where the row lands. A
  mask is one uint32 when every tree has at most 32 leaves (the default 31), else as many
  uint64 words as the largest tree needs, and the row lands in the lowest bit of the first
  word not all zero. The masks of one column's splits in one tree are ANDed ahead of
  time, so a row is one lookup per column, giving a mask per tree, and an AND over its
  columns: a few array operations for any number of trees and leaves;
- the output: the leaves summed per output (multiclass grows one tree per class in each
  iteration) plus the baseline, then the loss's link: the sigmoid gives a binary model's
  probability of class 1, the softmax a multiclass model's probabilities in `classes_`
  order, and a regression's prediction is the sum itself.

`derive` checks the result against scikit-learn's own answer (`predict_proba`, or
`predict` for a regression) on probe rows (missing values, unseen and odd codes, both
sides of every threshold) or returns None with the reason, and the caller keeps
scikit-learn. `save` writes the arrays, with the probe rows and scikit-learn's answers to
them, as a canonical `.npz` (no pickle) that `load` reads with numpy alone and checks
against those answers again: the API is ready before scikit-learn is imported.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cauce import CauceError, ModelFileError
from cauce.files import canonical_zip, file_sha256, write_bytes
from cauce.layout import FAST_MODEL, MODEL_FILE

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

# Mask bytes per tree gathered in one pass through the tables (measured: 256 rows of the
# default model's one uint32 per tree): what they gather stays in cache.
CHUNK = 1024
TOLERANCE = 1e-12  # the probe's bound, relative to values above 1: sums differ in order only
CODES = 256  # HistGradientBoosting keeps at most 255 categories per feature
MAX_CODE = 4095  # the largest numeric code the lookup table holds
UNSEEN = -1.0  # a text category the encoder never saw, as the input rows hold it
TASKS = ("binary", "multiclass", "regression")
FORMAT = 2  # the file layout's version
IN_PROCESS = frozenset({"pipeline"})  # FastModel's fields that are not saved


class Unsupported(Exception):  # noqa: N818 - a reason, not a failure: the caller falls back
    """The pipeline has a part this module does not rebuild."""


class FastModelFileError(ModelFileError):
    """A fast-model file that is not one, or not for this model."""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Unsupported(reason)


@dataclass(frozen=True, eq=False)
class FastModel:
    """The predictions of a fitted pipeline by array operations."""

    model_sha256: str  # the model file it was derived from
    task: str  # one of TASKS: what `predict` returns
    classes: int  # the classifier's classes_, in number; 0 for a regression
    columns: tuple[str, ...]  # the pipeline's input columns, in order
    # the preprocessing
    width: int  # columns it outputs
    numeric_in: np.ndarray
    numeric_out: np.ndarray
    numeric_fill: np.ndarray
    codes_in: np.ndarray  # the categorical columns, numeric codes and text alike
    codes_out: np.ndarray
    codes_fill: np.ndarray
    lookup: np.ndarray  # flattened (categorical columns × (unknown + 1)): NaN when unknown
    lookup_offsets: np.ndarray
    unknown: int  # the lookup's column for codes it does not hold
    text_in: np.ndarray  # the categorical columns whose categories are text
    text_categories: np.ndarray  # unicode: theirs, one column's after the other
    text_bounds: np.ndarray  # column i's are text_categories[text_bounds[i]:text_bounds[i + 1]]
    # the trees, as tables: masks[column_offsets[c] + bin of column c, tree] holds the words
    # of the tree's leaves that the column's splits keep
    baseline: np.ndarray  # one per output: a class of a multiclass model, else the one
    masks: np.ndarray  # (every column's bins, trees, words), trees ordered output by output
    column_offsets: np.ndarray
    leaf_values: np.ndarray
    leaf_offsets: np.ndarray
    cut_columns: np.ndarray  # numeric columns: bin = how many of their cut points are below
    cuts: np.ndarray  # every numeric column's sorted cut points, one after the other
    cut_bounds: np.ndarray  # column i's cut points are cuts[cut_bounds[i]:cut_bounds[i + 1]]
    categorical: np.ndarray  # columns whose bin is their code (NaN: bin CODES)
    # rows that reach every branch, and scikit-learn's answers: checked again on load
    probe: np.ndarray
    probe_expected: np.ndarray
    # only in the process that derived it: rows `matrix` refuses go to scikit-learn
    pipeline: Any = None

    # ---- scoring

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Float64 rows in `columns` order (NaN: missing, text as `matrix` codes it) to:
        binary, the probability of class 1, (n,); multiclass, the probability of each
        class in `classes_` order, (n, classes); regression, the prediction, (n,)."""
        encoded = self._encode(matrix)
        rows = max(1, CHUNK // (self.masks.shape[2] * self.masks.itemsize))
        raw = np.empty((len(encoded), len(self.baseline)))
        for i in range(0, len(encoded), rows):
            raw[i : i + rows] = self._raw(encoded[i : i + rows])
        if self.task == "binary":
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-raw[:, 0]))
        if self.task == "multiclass":
            exp = np.exp(raw - raw.max(axis=1, keepdims=True))
            return exp / exp.sum(axis=1, keepdims=True)
        return raw[:, 0]

    def matrix_of_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Validated records as the float64 matrix `predict` takes. None is missing,
        which the imputer fills, text or number (as in scikit-learn's pipeline, once pandas
        has read the records' text column as text)."""
        columns = self.columns
        rows = [[record[c] for c in columns] for record in records]
        for position, codes in self._record_codes.items():
            for row in rows:
                row[position] = codes.get(row[position], UNSEEN)
        return np.array(rows, dtype=np.float64)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray | None:
        """`frame`'s model columns as float64, or None when scikit-learn must judge them
        (a number column that is not numeric, a text column that holds something other
        than text and missing values, or an infinite value, which it refuses)."""
        selected = frame[list(self.columns)]
        text = self._text_categories
        numbers = [i for i in range(len(self.columns)) if i not in text]
        if not all(selected.dtypes.iloc[i].kind in "iuf" for i in numbers):
            return None
        if text:
            matrix = np.empty(selected.shape)
            numeric = selected.iloc[:, numbers]
            matrix[:, numbers] = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
            for position, categories in text.items():
                codes = _text_codes(selected.iloc[:, position], categories)
                if codes is None:
                    return None
                matrix[:, position] = codes
        else:  # every column a number: no copy
            matrix = selected.to_numpy(dtype=np.float64, na_value=np.nan)
        return None if np.isinf(matrix).any() else matrix

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """`predict` of `frame`'s rows, by scikit-learn's pipeline where `matrix` says so."""
        matrix = self.matrix(frame)
        if matrix is not None:
            return self.predict(matrix)
        if self.pipeline is None:
            raise CauceError("these rows need scikit-learn's pipeline, which is not loaded")
        from cauce.model import predict

        return predict(self.pipeline, frame[list(self.columns)])

    @cached_property
    def _text_categories(self) -> dict[int, np.ndarray]:
        """Each text column's position and its categories, in code order."""
        bounds = zip(self.text_bounds[:-1], self.text_bounds[1:], strict=True)
        return {
            int(position): self.text_categories[start:stop]
            for position, (start, stop) in zip(self.text_in, bounds, strict=True)
        }

    @cached_property
    def _record_codes(self) -> dict[int, dict[str | None, float]]:
        """Each text column's position and its codes by category (None: missing)."""
        return {
            position: {str(c): float(i) for i, c in enumerate(categories)} | {None: np.nan}
            for position, categories in self._text_categories.items()
        }

    def _encode(self, matrix: np.ndarray) -> np.ndarray:
        encoded = np.empty((len(matrix), self.width))
        values = matrix[:, self.numeric_in]
        encoded[:, self.numeric_out] = np.where(np.isnan(values), self.numeric_fill, values)
        codes = matrix[:, self.codes_in]
        codes = np.where(np.isnan(codes), self.codes_fill, codes)
        # A code outside the table or not a whole number is unknown, as in the encoder.
        inside = (codes >= 0) & (codes < self.unknown)
        index = np.where(inside, codes, self.unknown).astype(np.intp)
        index[index != codes] = self.unknown
        encoded[:, self.codes_out] = self.lookup[index + self.lookup_offsets]
        return encoded

    def _raw(self, encoded: np.ndarray) -> np.ndarray:
        """The raw scores of encoded rows: (rows, outputs)."""
        bins = np.empty(encoded.shape, np.intp)
        for i, column in enumerate(self.cut_columns):
            values = encoded[:, column]
            cuts = self.cuts[self.cut_bounds[i] : self.cut_bounds[i + 1]]
            found = np.searchsorted(cuts, values, side="left")
            found[np.isnan(values)] = len(cuts) + 1
            bins[:, column] = found
        codes = encoded[:, self.categorical]
        bins[:, self.categorical] = np.where(np.isnan(codes), CODES, codes).astype(np.intp)
        bins += self.column_offsets
        standing = np.bitwise_and.reduce(self.masks[bins], axis=1)  # (rows, trees, words)
        # The row's leaf is the lowest bit standing, in the first word where one does: a
        # search that would double the default model's time, where there is one word.
        if standing.shape[2] == 1:
            first, start = standing[..., 0], self.leaf_offsets
        else:
            word = np.argmax(standing != 0, axis=2)
            first = np.take_along_axis(standing, word[..., np.newaxis], axis=2)[..., 0]
            start = self.leaf_offsets + word * (8 * self.masks.itemsize)
        lowest = first & -first  # unsigned: -x is ~x + 1, and x & -x its lowest bit
        leaf = np.frexp(lowest.astype(np.float64))[1] - 1  # exact: a power of two
        leaf += start
        # Each output's trees side by side, so a row's sum is the same in any batch.
        values = self.leaf_values[leaf].reshape(len(encoded), len(self.baseline), -1)
        return self.baseline + values.sum(axis=2)

    # ---- the file

    def save(self, path: Path) -> Path:
        """The arrays as an uncompressed `.npz` whose bytes depend only on the model."""
        members = {"format.npy": np.array(FORMAT)}
        for name, value in self._stored().items():
            members[f"{name}.npy"] = np.asarray(value)
        encoded = {}
        for name, array in members.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            encoded[name] = buffer.getvalue()
        return write_bytes(path, canonical_zip(encoded))

    @classmethod
    def load(cls, path: Path, model_sha256: str) -> FastModel:
        """The fast model in `path`, refused unless it was derived from `model_sha256` and
        still gives scikit-learn's answers to its probe rows."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                values = {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise FastModelFileError(f"{path}: not a fast-model file: {error}") from None
        names = {f.name for f in fields(cls)} - IN_PROCESS
        if values.pop("format", None) != FORMAT or set(values) != names:
            raise FastModelFileError(f"{path}: not a fast-model file of format {FORMAT}")
        if str(values["model_sha256"]) != model_sha256:
            raise FastModelFileError(
                f"{path}: derived from model sha256 {str(values['model_sha256'])[:12]}…, "
                f"not from the {model_sha256[:12]}… being served"
            )
        scalars = {"width": int, "unknown": int, "classes": int, "model_sha256": str, "task": str}
        try:
            for name, kind in scalars.items():
                values[name] = kind(values[name])
            _require(values["task"] in TASKS, f"an unknown task {values['task']!r}")
            values["columns"] = tuple(str(c) for c in values["columns"])
            fast = cls(**values)
            fast._check()
        except (Unsupported, TypeError, ValueError, IndexError) as error:
            raise FastModelFileError(f"{path}: a damaged fast-model file: {error}") from None
        return fast

    def _stored(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in IN_PROCESS}

    # ---- deriving it from scikit-learn

    @classmethod
    def derive(cls, pipeline: Pipeline, model_sha256: str) -> FastModel | None:
        """The fast form of `pipeline`, or None (logged) when it is not shown equal."""
        from sklearn.pipeline import Pipeline

        from cauce.model import predict

        try:
            _require(
                isinstance(pipeline, Pipeline) and len(pipeline) == 2, "not a two-step pipeline"
            )
            preprocessing = _preprocessing(pipeline[0])
            trees = _FittedTrees.of(pipeline[-1], preprocessing)
            empty = np.empty(0)
            draft = cls(
                model_sha256=model_sha256,
                task=trees.task,
                classes=trees.classes,
                **preprocessing,
                **_tables(trees),
                probe=empty,
                probe_expected=empty,
                pipeline=pipeline,
            )
            probe = draft._probe_rows()
            expected = predict(pipeline, draft._frame(probe))
            fast = replace(draft, probe=probe, probe_expected=expected)
            fast._check()
        except Unsupported as reason:
            log.info("scoring with scikit-learn: no fast path for this model (%s)", reason)
            return None
        except Exception as error:  # scikit-learn's private state moved: never fatal
            log.warning(
                "scoring with scikit-learn: the fast path failed (%s)", type(error).__name__
            )
            return None
        return fast

    def _check(self) -> None:
        """The probe rows get scikit-learn's answers within TOLERANCE (of their size, for
        a regression's large values, whose sums differ by a few units in the last place)."""
        gap = float(np.max(np.abs(self.predict(self.probe) - self.probe_expected)))
        scale = max(1.0, float(np.max(np.abs(self.probe_expected))))
        _require(gap <= TOLERANCE * scale, f"it differs from scikit-learn by {gap:.3g}")

    def _frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """The frame whose `matrix` this is, for scikit-learn (an unseen text category is
        a text longer than every category)."""
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=list(self.columns))
        for position, categories in self._text_categories.items():
            codes = matrix[:, position]
            unseen = "?" * (max(map(len, categories)) + 1)
            known = np.isfinite(codes) & (codes >= 0)
            text = np.append(categories, unseen).astype(object)
            values = text[np.where(known, codes, len(categories)).astype(np.intp)]
            values[np.isnan(codes)] = np.nan
            frame[self.columns[position]] = values
        return frame

    def _probe_rows(self) -> np.ndarray:
        """Rows in which every value that matters appears: each cut point and the numbers
        just above and below it; every known code, and unknown, negative and fractional
        ones (an unseen one for text). Then the same rows again with a tenth of the values
        missing."""
        rng = np.random.default_rng(0)
        values: dict[int, np.ndarray] = {}
        cut_points = {
            int(column): self.cuts[self.cut_bounds[i] : self.cut_bounds[i + 1]]
            for i, column in enumerate(self.cut_columns)
        }
        for into, out in zip(self.numeric_in, self.numeric_out, strict=True):
            cuts = cut_points.get(int(out), np.zeros(1))
            cuts = cuts[np.isfinite(cuts)] if np.isfinite(cuts).any() else np.zeros(1)
            values[into] = np.concatenate(
                [cuts, np.nextafter(cuts, np.inf), np.nextafter(cuts, -np.inf)]
            )
        table = self.lookup.reshape(len(self.codes_in), self.unknown + 1)
        for row, into in enumerate(self.codes_in):
            known = np.flatnonzero(~np.isnan(table[row]))
            if into in self._text_categories:
                odd = [UNSEEN]
            else:
                odd = [-1.0, 0.5, known.max() + 1.0, self.unknown + 7.0]
            values[into] = np.concatenate([known, odd])
        count = max(len(v) for v in values.values())
        matrix = np.empty((count, len(self.columns)))
        for into, column_values in values.items():
            matrix[:, into] = np.resize(rng.permutation(column_values), count)
        holes = matrix.copy()
        holes[rng.random(holes.shape) < 0.1] = np.nan
        return np.concatenate([matrix, holes])


def write_beside(directory: Path) -> FastModel | None:
    """The fast form of the model in a packaged `directory`, saved beside it (FAST_MODEL)
    so that the API starts without scikit-learn; none when the model has no fast form."""
    from cauce.model import load_model

    model = directory / MODEL_FILE.name
    fast = FastModel.derive(load_model(model), file_sha256(model))
    if fast is None:
        (directory / FAST_MODEL).unlink(missing_ok=True)
    else:
        fast.save(directory / FAST_MODEL)
    return fast


def _text_codes(column: pd.Series, categories: np.ndarray) -> np.ndarray | None:
    """A text column's values as `matrix` codes them (NaN: missing, UNSEEN: a category
    the encoder never saw), or None where scikit-learn must judge: values that are not
    text, and pandas' NA, on which its imputer fails. The imputer takes only NaN for
    missing; None, which an object column may hold, passes it and the encoder makes it
    NaN, as it does an unseen category: so None is coded UNSEEN."""
    import pandas as pd

    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return None
    codes = pd.Index(categories).get_indexer(values).astype(np.float64)  # -1: unseen
    missing = pd.isna(values)
    if missing.any():
        absent = values[missing]
        if any(value is pd.NA for value in absent):
            return None
        codes[missing] = np.where([value is None for value in absent], UNSEEN, np.nan)
    return codes


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _is_code(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_text(categories: np.ndarray) -> bool:
    return categories.dtype.kind in "OUT" and all(isinstance(c, str) for c in categories)


def _preprocessing(transformer: Any) -> dict[str, Any]:
    """The ColumnTransformer's fitted state as the arrays `FastModel._encode` uses."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    def imputes_nan(imputer: Any) -> bool:
        return _is_nan(imputer.missing_values) and not imputer.add_indicator

    _require(isinstance(transformer, ColumnTransformer), "preprocessing: not a ColumnTransformer")
    columns = tuple(str(c) for c in transformer.feature_names_in_)
    position = {c: i for i, c in enumerate(columns)}
    parts: dict[str, list[Any]] = {
        name: [] for name in ("numeric_in", "numeric_out", "numeric_fill", "codes_in", "codes_out")
    }
    fills: list[float] = []
    known_codes: list[np.ndarray] = []  # each categorical column's codes, text as 0..k-1
    codes_of: list[np.ndarray] = []  # what the encoder makes of each of those
    text_in: list[int] = []
    text_categories: list[list[str]] = []
    for name, step, selected in transformer.transformers_:
        if len(selected) == 0:  # given no columns, it outputs nothing and was never fitted
            continue
        if name == "remainder":
            _require(step == "drop", "preprocessing: a kept remainder")
            continue
        out = transformer.output_indices_[name]
        _require(all(c in position for c in selected), f"{name}: columns not chosen by name")
        into, source = list(range(out.start, out.stop)), [position[c] for c in selected]
        _require(len(into) == len(source), f"{name}: its output is not one column per input")
        if isinstance(step, SimpleImputer):
            _require(imputes_nan(step), f"{name}: an imputer of something other than NaN")
            parts["numeric_in"] += source
            parts["numeric_out"] += into
            parts["numeric_fill"] += list(step.statistics_)
            continue
        _require(
            isinstance(step, Pipeline)
            and len(step.steps) == 2
            and isinstance(step[0], SimpleImputer)
            and isinstance(step[1], OrdinalEncoder),
            f"{name}: not an imputer followed by an ordinal encoder",
        )
        imputer, encoder = step[0], step[1]
        _require(
            imputes_nan(imputer),
            f"{name}: an imputer of something other than NaN",
        )
        _require(
            encoder.handle_unknown == "use_encoded_value"
            and _is_nan(encoder.unknown_value)
            and _is_nan(encoder.encoded_missing_value),
            f"{name}: an encoder that does not make unknown and missing codes NaN",
        )
        # Past max_categories, the rarest categories share one code ("infrequent"): each
        # category's code is then the encoder's own mapping, else its position.
        grouped = getattr(encoder, "_default_to_infrequent_mappings", None)
        if not getattr(encoder, "_infrequent_enabled", False) or grouped is None:
            grouped = [None] * len(encoder.categories_)
        for column, fill, known, mapping in zip(
            source, imputer.statistics_, encoder.categories_, grouped, strict=True
        ):
            code = np.arange(len(known)) if mapping is None else np.asarray(mapping, np.intp)
            if known.dtype.kind == "O" and all(_is_code(c) for c in known):
                # numeric codes imputed beside text columns come back as Python objects
                known = known.astype(np.float64)
            _require(
                len(code) == len(known) and code.max(initial=0) < CODES - 1,
                f"{name}: more than {CODES - 1} codes",
            )
            if _is_text(known):
                # unicode arrays drop a trailing NUL: such a category would not come back
                _require(
                    not any(c.endswith("\0") for c in known), f"{name}: a category ending in NUL"
                )
                _require(fill in set(known), f"{name}: an imputer's fill the encoder never saw")
                text_in.append(column)
                text_categories.append([str(c) for c in known])
                fill, known = list(known).index(fill), np.arange(len(known))
            else:
                _require(
                    known.dtype.kind in "iuf"
                    and np.array_equal(known, np.floor(known))
                    and known.min() >= 0
                    and known.max() <= MAX_CODE,
                    f"{name}: categories that are neither text nor whole numbers "
                    f"from 0 to {MAX_CODE}",
                )
            fills.append(fill)
            known_codes.append(known.astype(np.intp))
            codes_of.append(code)
        parts["codes_in"] += source
        parts["codes_out"] += into
    unknown = max((int(c.max()) for c in known_codes), default=0) + 1
    lookup = np.full((len(known_codes), unknown + 1), np.nan)
    for row, (known, code) in enumerate(zip(known_codes, codes_of, strict=True)):
        lookup[row, known] = code
    arrays = {
        name: np.asarray(values, np.float64 if name.endswith("fill") else np.intp)
        for name, values in parts.items()
    }
    flat = [c for categories in text_categories for c in categories]
    return {
        "columns": columns,
        "width": sum(s.stop - s.start for s in transformer.output_indices_.values()),
        **arrays,
        "codes_fill": np.asarray(fills, np.float64),
        "lookup": lookup.ravel(),
        "lookup_offsets": np.arange(len(known_codes), dtype=np.intp) * (unknown + 1),
        "unknown": unknown,
        "text_in": np.asarray(text_in, np.intp),
        "text_categories": np.array(flat, dtype=str) if flat else np.empty(0, "<U1"),
        "text_bounds": np.cumsum([0, *map(len, text_categories)]).astype(np.intp),
    }


@dataclass(frozen=True)
class _FittedTrees:
    """The estimator's fitted trees and what its own predict needs to walk them."""

    task: str
    classes: int
    baseline: np.ndarray  # one per output
    predictors: list[Any]  # output by output, each output's in iteration order
    order: np.ndarray  # its column order: it puts the categorical columns first
    is_categorical: np.ndarray  # per column of the preprocessing's output
    known: np.ndarray
    known_index: np.ndarray

    @classmethod
    def of(cls, estimator: Any, preprocessing: dict[str, Any]) -> _FittedTrees:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        loss = type(getattr(estimator, "_loss", None)).__name__
        if isinstance(estimator, HistGradientBoostingClassifier):
            _require(
                loss in ("HalfBinomialLoss", "HalfMultinomialLoss"),
                f"the classifier's loss {estimator.loss!r} is not log_loss",
            )
            classes = len(estimator.classes_)
            task = "binary" if loss == "HalfBinomialLoss" else "multiclass"
        elif isinstance(estimator, HistGradientBoostingRegressor):
            _require(
                loss == "HalfSquaredError",
                f"the regressor's loss {estimator.loss!r} is not squared_error",
            )
            classes, task = 0, "regression"
        else:
            raise Unsupported(
                f"{type(estimator).__name__} is not a HistGradientBoosting classifier or regressor"
            )
        width = preprocessing["width"]
        _require(estimator.n_features_in_ == width, "the estimator is not fed by the preprocessing")
        is_categorical = np.zeros(width, bool)
        if estimator.is_categorical_ is not None:
            is_categorical = np.asarray(estimator.is_categorical_, bool)
        # Its categorical columns must be encoders' codes, 0..k-1 or NaN, nothing else; an
        # encoder's codes it does not take as categories are ranks (ordinal codes in their
        # order), split as numbers.
        _require(
            set(np.flatnonzero(is_categorical)) <= set(preprocessing["codes_out"].tolist()),
            "the estimator's categorical columns are not the encoder's",
        )
        order = np.arange(width)
        if estimator._preprocessor is not None:
            # The estimator encodes its categorical columns again and puts them first; it
            # was fitted on the outer encoder's codes 0..k-1, so its encoding is the
            # identity and only the order changes.
            inner = estimator._preprocessor.named_transformers_["encoder"]
            _require(
                all(np.array_equal(c, np.arange(len(c))) for c in inner.categories_),
                "the estimator's own encoding of the categories is not the identity",
            )
            order = np.r_[np.flatnonzero(is_categorical), np.flatnonzero(~is_categorical)]
        known, known_index = estimator._bin_mapper.make_known_categories_bitsets()
        baseline = np.asarray(estimator._baseline_prediction, np.float64).ravel()
        outputs = estimator.n_trees_per_iteration_
        _require(baseline.size == outputs, "not one baseline per tree of an iteration")
        return cls(
            task,
            classes,
            baseline,
            [iteration[k] for k in range(outputs) for iteration in estimator._predictors],
            order.astype(np.intp),
            is_categorical,
            known,
            known_index,
        )


def _tables(trees: _FittedTrees) -> dict[str, Any]:
    """For each column's bin and each tree, the leaves that the tree's splits on that
    column leave standing."""
    # (tree, column, threshold, missing values go left, categories that go left, leaves
    # ruled out when the row goes right)
    splits: list[tuple[int, int, float, bool, np.ndarray | None, int]] = []
    leaf_values: list[float] = []
    leaf_offsets: list[int] = []
    for number, tree in enumerate(trees.predictors):
        nodes = tree.nodes
        leaf_offsets.append(len(leaf_values))
        under = _leaves_under(nodes)
        leaves = sorted(
            (i for i in range(len(nodes)) if nodes[i]["is_leaf"]), key=under.__getitem__
        )
        leaf_values += [float(nodes[i]["value"]) for i in leaves]
        # A tree that is a single leaf has no split: its masks stay all ones, leaf 0.
        for i in (i for i in range(len(nodes)) if not nodes[i]["is_leaf"]):
            node = nodes[i]
            goes_left = None
            if node["is_categorical"]:
                left = _bits(tree.raw_left_cat_bitsets[node["bitset_idx"]])
                seen = _bits(trees.known[trees.known_index[node["feature_idx"]]])
                # In the left set: left; another known category: right; unknown: as missing.
                goes_left = left | (~seen & bool(node["missing_go_to_left"]))
            splits.append(
                (
                    number,
                    int(trees.order[node["feature_idx"]]),
                    float(node["num_threshold"]),
                    bool(node["missing_go_to_left"]),
                    goes_left,
                    sum(1 << leaf for leaf in range(*under[node["left"]])),
                )
            )
    # One uint32 word when every tree fits in it (the default's 31 leaves: half the
    # memory to gather), else uint64 words, as many as the largest tree needs.
    most = int(max(np.diff([*leaf_offsets, len(leaf_values)])))
    word = np.uint32 if most <= 32 else np.uint64
    bits = 8 * np.dtype(word).itemsize
    words = -(-most // bits)
    all_ones = np.iinfo(word).max

    def as_words(mask: int) -> np.ndarray:
        return np.array([(mask >> (bits * w)) & all_ones for w in range(words)], word)

    numeric = np.flatnonzero(~trees.is_categorical)
    cuts = [
        np.unique([s[2] for s in splits if s[1] == column and s[4] is None] or [np.inf])
        for column in numeric
    ]
    cuts_of = dict(zip(numeric.tolist(), cuts, strict=True))
    # Bins of a numeric column: how many cut points lie below the value, then NaN; of a
    # categorical column: its code, then NaN.
    widths = np.full(len(trees.is_categorical), CODES + 1)
    widths[numeric] = [len(c) + 2 for c in cuts]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    masks = np.full((offsets[-1], len(trees.predictors), words), all_ones, word)
    everything = (1 << (bits * words)) - 1
    for number, column, threshold, missing_left, goes_left, ruled_out in splits:
        left = np.zeros(widths[column], bool)
        if goes_left is not None:
            left[:CODES] = goes_left
        else:
            k = int(np.searchsorted(cuts_of[column], threshold))
            left[: k + 1] = True  # b cut points below the value: v <= cut k iff b <= k
        left[-1] = missing_left
        kept = as_words(everything & ~ruled_out)
        masks[offsets[column] : offsets[column + 1], number] &= np.where(
            left[:, np.newaxis], all_ones, kept
        )
    return {
        "baseline": trees.baseline,
        "masks": masks,
        "column_offsets": offsets[:-1].astype(np.intp),
        "leaf_values": np.array(leaf_values),
        "leaf_offsets": np.array(leaf_offsets, np.intp),
        "cut_columns": numeric.astype(np.intp),
        "cuts": np.concatenate([*cuts, np.empty(0)]),
        "cut_bounds": np.cumsum([0, *(len(c) for c in cuts)]).astype(np.intp),
        "categorical": np.flatnonzero(trees.is_categorical).astype(np.intp),
    }


def _leaves_under(nodes: np.ndarray) -> dict[int, tuple[int, int]]:
    """For each node, the range of left-to-right leaf numbers under it."""
    under: dict[int, tuple[int, int]] = {}
    count = 0
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        i, visited = stack.pop()
        node = nodes[i]
        if node["is_leaf"]:
            under[i] = (count, count + 1)
            count += 1
        elif visited:
            under[i] = (under[node["left"]][0], under[node["right"]][1])
        else:
            stack += [(i, True), (node["right"], False), (node["left"], False)]
    return under


def _bits(words: np.ndarray) -> np.ndarray:
    """A bitset of 8 uint32 words as 256 booleans: bit c of the set is entry c."""
    little = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)
    return np.unpackbits(little, bitorder="little").astype(bool)
