"""A faster equivalent of a fitted cauce pipeline, for serving and batch scoring.

The scikit-learn Pipeline stays the artifact of record. For the boosted-trees shape that
`build_pipeline` makes (imputers and an ordinal encoder in a ColumnTransformer, then a
HistGradientBoostingClassifier), `FastModel.derive` rebuilds the same computation from the
fitted state as plain arrays:

- the preprocessing: the imputers' `statistics_` fill NaN, and a lookup table made from
  the encoder's `categories_` turns codes into 0..k-1 (NaN when a code is unknown,
  negative or fractional, as the encoder does);
- the trees as lookup tables (the QuickScorer idea): each split maps its column's bin to
  a bit mask of the leaves it rules out, and the lowest leaf of a tree left standing
  once its masks are ANDed is where the row lands. The masks of one column's splits in
  one tree are ANDed ahead of time, so a row is one lookup per column, giving a mask per
  tree, and an AND over its columns: a few array operations for any number of trees.

`derive` checks the result against `predict_proba` on probe rows (missing values, unseen
and odd codes, both sides of every threshold) or returns None with the reason, and the
caller keeps scikit-learn. `save` writes the arrays, with the probe rows and scikit-learn's
answers to them, as a canonical `.npz` (no pickle) that `load` reads with numpy alone and
checks against those answers again: the API is ready before scikit-learn is imported.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, fields, replace
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

CHUNK = 256  # rows per pass through the tables (measured): what they gather stays in cache
TOLERANCE = 1e-12  # the probe's bound; the sums differ only in the order of addition
CODES = 256  # HistGradientBoosting keeps at most 255 categories per feature
MAX_LEAVES = 32  # one uint32 mask per tree
ALL_LEAVES = 0xFFFFFFFF
FORMAT = 1  # the file layout's version
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
    """The probabilities of a fitted pipeline by array operations."""

    model_sha256: str  # the model file it was derived from
    columns: tuple[str, ...]  # the pipeline's input columns, in order
    # the preprocessing
    width: int  # columns it outputs
    numeric_in: np.ndarray
    numeric_out: np.ndarray
    numeric_fill: np.ndarray
    codes_in: np.ndarray
    codes_out: np.ndarray
    codes_fill: np.ndarray
    lookup: np.ndarray  # flattened (categorical columns × (unknown + 1)): NaN when unknown
    lookup_offsets: np.ndarray
    unknown: int  # the lookup's column for codes it does not hold
    # the trees, as tables: masks[column_offsets[c] + bin of column c] has a uint32 per tree
    baseline: float
    masks: np.ndarray  # (every column's bins, trees): the leaves the column's splits keep
    column_offsets: np.ndarray
    leaf_values: np.ndarray
    leaf_offsets: np.ndarray
    cut_columns: np.ndarray  # numeric columns: bin = how many of their cut points are below
    cuts: np.ndarray  # every numeric column's sorted cut points, one after the other
    cut_bounds: np.ndarray  # column i's cut points are cuts[cut_bounds[i]:cut_bounds[i + 1]]
    categorical: np.ndarray  # columns whose bin is their code (NaN: bin CODES)
    # rows that reach every branch, and predict_proba's answers: checked again on load
    probe: np.ndarray
    probe_expected: np.ndarray
    # only in the process that derived it: rows that are not numbers go to scikit-learn
    pipeline: Any = None

    # ---- scoring

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        """The positive class's probability of float64 rows in `columns` order (NaN: missing)."""
        if len(matrix) == 0:
            return np.empty(0)
        encoded = self._encode(matrix)
        raw = np.concatenate(
            [self._raw(encoded[i : i + CHUNK]) for i in range(0, len(encoded), CHUNK)]
        )
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-raw))

    def matrix_of_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Validated records as the float64 matrix `probabilities` takes (None: NaN)."""
        columns = self.columns
        return np.array([[record[c] for c in columns] for record in records], dtype=np.float64)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray | None:
        """`frame`'s model columns as float64, or None when scikit-learn must judge them
        (a column that is not numeric, or an infinite value, which it refuses)."""
        selected = frame[list(self.columns)]
        if not all(dtype.kind in "iuf" for dtype in selected.dtypes):
            return None
        matrix = selected.to_numpy(dtype=np.float64, na_value=np.nan)
        return None if np.isinf(matrix).any() else matrix

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = self.matrix(frame)
        if matrix is not None:
            return self.probabilities(matrix)
        if self.pipeline is None:
            raise CauceError("these rows need scikit-learn's pipeline, which is not loaded")
        return self.pipeline.predict_proba(frame[list(self.columns)])[:, 1]

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
        standing = np.bitwise_and.reduce(self.masks[bins], axis=1)  # (rows, trees)
        lowest = standing & (~standing + np.uint32(1))
        leaf = np.frexp(lowest.astype(np.float64))[1] - 1
        leaf += self.leaf_offsets
        return self.baseline + self.leaf_values[leaf].sum(axis=1)

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
        scalars = {"width": int, "unknown": int, "baseline": float, "model_sha256": str}
        try:
            for name, kind in scalars.items():
                values[name] = kind(values[name])
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
        import pandas as pd
        from sklearn.pipeline import Pipeline

        try:
            _require(
                isinstance(pipeline, Pipeline) and len(pipeline) == 2, "not a two-step pipeline"
            )
            preprocessing = _preprocessing(pipeline[0])
            trees = _FittedTrees.of(pipeline[-1], preprocessing)
            empty = np.empty(0)
            draft = cls(
                model_sha256=model_sha256,
                **preprocessing,
                **_tables(trees),
                probe=empty,
                probe_expected=empty,
                pipeline=pipeline,
            )
            probe = draft._probe_rows()
            frame = pd.DataFrame(probe, columns=list(draft.columns))
            fast = replace(draft, probe=probe, probe_expected=pipeline.predict_proba(frame)[:, 1])
            fast._check()
        except Unsupported as reason:
            log.info("scoring with scikit-learn: no fast path for this model (%s)", reason)
            return None
        except Exception as error:  # scikit-learn's private state moved: never fatal
            log.warning("scoring with scikit-learn: the fast path failed (%r)", error)
            return None
        return fast

    def _check(self) -> None:
        """The probe rows get predict_proba's answers within TOLERANCE."""
        gap = float(np.max(np.abs(self.probabilities(self.probe) - self.probe_expected)))
        _require(gap <= TOLERANCE, f"it differs from predict_proba by {gap:.3g}")

    def _probe_rows(self) -> np.ndarray:
        """Rows in which every value that matters appears: each cut point and the numbers
        just above and below it; every known code, and unknown, negative and fractional
        ones. Then the same rows again with a tenth of the values missing."""
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
            values[into] = np.concatenate(
                [known, [-1.0, 0.5, known.max() + 1.0, self.unknown + 7.0]]
            )
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


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


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
    categories: list[np.ndarray] = []
    for name, step, selected in transformer.transformers_:
        if name == "remainder":
            _require(step == "drop" or len(selected) == 0, "preprocessing: a kept remainder")
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
        _require(imputes_nan(imputer), f"{name}: an imputer of something other than NaN")
        _require(
            encoder.handle_unknown == "use_encoded_value"
            and _is_nan(encoder.unknown_value)
            and _is_nan(encoder.encoded_missing_value)
            and not getattr(encoder, "_infrequent_enabled", False),
            f"{name}: an encoder that does not make unknown and missing codes NaN",
        )
        for known in encoder.categories_:
            _require(
                known.dtype.kind in "iu" and known.min() >= 0 and known.max() < 4096,
                f"{name}: categories that are not small non-negative integers",
            )
            _require(len(known) < CODES, f"{name}: more than {CODES - 1} categories")
        parts["codes_in"] += source
        parts["codes_out"] += into
        fills += list(imputer.statistics_)
        categories += list(encoder.categories_)
    unknown = max((int(c.max()) for c in categories), default=0) + 1
    lookup = np.full((len(categories), unknown + 1), np.nan)
    for row, known in enumerate(categories):
        lookup[row, known] = np.arange(len(known), dtype=np.float64)
    arrays = {
        name: np.asarray(values, np.float64 if name.endswith("fill") else np.intp)
        for name, values in parts.items()
    }
    return {
        "columns": columns,
        "width": sum(s.stop - s.start for s in transformer.output_indices_.values()),
        **arrays,
        "codes_fill": np.asarray(fills, np.float64),
        "lookup": lookup.ravel(),
        "lookup_offsets": np.arange(len(categories), dtype=np.intp) * (unknown + 1),
        "unknown": unknown,
    }


@dataclass(frozen=True)
class _FittedTrees:
    """The estimator's fitted trees and what its own predict needs to walk them."""

    baseline: float
    predictors: list[Any]
    order: np.ndarray  # its column order: it puts the categorical columns first
    is_categorical: np.ndarray  # per column of the preprocessing's output
    known: np.ndarray
    known_index: np.ndarray

    @classmethod
    def of(cls, estimator: Any, preprocessing: dict[str, Any]) -> _FittedTrees:
        from sklearn.ensemble import HistGradientBoostingClassifier

        _require(
            isinstance(estimator, HistGradientBoostingClassifier),
            f"{type(estimator).__name__} is not HistGradientBoostingClassifier",
        )
        _require(estimator.n_trees_per_iteration_ == 1, "more than two classes")
        _require(type(estimator._loss).__name__ == "HalfBinomialLoss", "not the log loss")
        width = preprocessing["width"]
        _require(estimator.n_features_in_ == width, "the estimator is not fed by the preprocessing")
        is_categorical = np.zeros(width, bool)
        if estimator.is_categorical_ is not None:
            is_categorical = np.asarray(estimator.is_categorical_, bool)
        # Its categorical columns must be the encoder's codes, 0..k-1 or NaN, nothing else.
        _require(
            set(np.flatnonzero(is_categorical)) == set(preprocessing["codes_out"].tolist()),
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
        baseline = estimator._baseline_prediction
        _require(baseline.size == 1, "more than one baseline")
        return cls(
            float(baseline.ravel()[0]),
            [tree for (tree,) in estimator._predictors],
            order.astype(np.intp),
            is_categorical,
            known,
            known_index,
        )


def _tables(trees: _FittedTrees) -> dict[str, Any]:
    """For each column's bin and each tree, the leaves that the tree's splits on that
    column leave standing."""
    # (tree, column, threshold, missing values go left, categories that go left, leaves
    # kept when the row goes right)
    splits: list[tuple[int, int, float, bool, np.ndarray | None, int]] = []
    leaf_values, leaf_offsets = [], []
    for number, tree in enumerate(trees.predictors):
        nodes = tree.nodes
        leaf_offsets.append(len(leaf_values))
        under = _leaves_under(nodes)
        leaves = sorted((i for i in range(len(nodes)) if nodes[i]["is_leaf"]), key=under.get)
        _require(len(leaves) <= MAX_LEAVES, f"a tree with more than {MAX_LEAVES} leaves")
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
            ruled_out = sum(1 << leaf for leaf in range(*under[node["left"]]))
            splits.append(
                (
                    number,
                    int(trees.order[node["feature_idx"]]),
                    float(node["num_threshold"]),
                    bool(node["missing_go_to_left"]),
                    goes_left,
                    ~ruled_out & ALL_LEAVES,
                )
            )
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
    masks = np.full((offsets[-1], len(trees.predictors)), ALL_LEAVES, np.uint32)
    for number, column, threshold, missing_left, goes_left, kept in splits:
        left = np.zeros(widths[column], bool)
        if goes_left is not None:
            left[:CODES] = goes_left
        else:
            k = int(np.searchsorted(cuts_of[column], threshold))
            left[: k + 1] = True  # b cut points below the value: v <= cut k iff b <= k
        left[-1] = missing_left
        masks[offsets[column] : offsets[column + 1], number] &= np.where(
            left, np.uint32(ALL_LEAVES), np.uint32(kept)
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
