"""A model directory as the API and batch scoring serve it: model.json, the version and
metrics `cauce package` put beside, the model file checked against its recorded hash, and
what scores (the fast form, else the pipeline). No web framework here: batch scoring on
Dask workers loads models with it too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cauce import ModelFileError
from cauce.artifact import ModelInfo
from cauce.fastpath import FastModel, FastModelFileError
from cauce.files import file_sha256, read_model_json
from cauce.layout import FAST_MODEL, MODEL_CARD, MODEL_FILE, SERVING_INFO

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


class ModelIntegrityError(ModelFileError):
    """The model file is not the one its metadata describes."""


@dataclass
class ServedModel:
    """What the API serves: the directory, and what is known about the version."""

    directory: Path
    info: ModelInfo  # model.json
    version: str | None = None
    stage: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # test metrics, from serving.json
    fast_model_sha256: str | None = None  # from serving.json: the fast form cauce package wrote

    @classmethod
    def from_directory(
        cls, directory: Path, version: str | None = None, stage: str | None = None
    ) -> ServedModel:
        """The model in `directory`, with the version and metrics `cauce package` put beside."""
        info = ModelInfo.read(directory / MODEL_CARD.name, f"is {directory} a model directory?")
        packaged_file = directory / SERVING_INFO
        packaged = read_model_json(packaged_file) if packaged_file.exists() else {}
        return cls(
            directory,
            info,
            version or packaged.get("version"),
            stage,
            packaged.get("metrics", {}),
            packaged.get("fast_model_sha256"),
        )

    def verify(self) -> None:
        """Refuse a model file whose hash is not the one model.json records."""
        expected = str(self.info.model_sha256)
        model_file = self.directory / MODEL_FILE.name
        try:
            actual = file_sha256(model_file)
        except FileNotFoundError:
            raise ModelFileError(f"{model_file}: not found: nothing to serve") from None
        if actual != expected:
            raise ModelIntegrityError(
                f"{model_file}: sha256 {actual[:12]}… differs from the {expected[:12]}… "
                f"recorded in {MODEL_CARD.name}: refusing to serve it"
            )

    def load(self, packaged_fast_model: bool = False) -> FastModel | Pipeline:
        """What scores: the fast form derived from the pipeline, else the pipeline itself.
        With `packaged_fast_model`, the fast form `cauce package` wrote when there is one:
        numpy alone reads it, so the API is ready in a second."""
        sha256 = str(self.info.model_sha256)
        packaged = self.directory / FAST_MODEL
        if packaged_fast_model and packaged.exists():
            try:
                if file_sha256(packaged) != self.fast_model_sha256:
                    raise FastModelFileError(
                        f"{packaged}: its sha256 is not the one {SERVING_INFO} records"
                    )
                return FastModel.load(packaged, sha256)
            except FastModelFileError as error:
                log.warning("%s: deriving the fast form from the pipeline instead", error)
        from cauce.model import load_model  # scikit-learn: seconds to import

        pipeline = load_model(self.directory / MODEL_FILE.name)
        return FastModel.derive(pipeline, sha256) or pipeline
