"""What the API scores with: the packaged fast form when it is the one `cauce package`
recorded and still answers its probe rows as scikit-learn did; otherwise the fast form
derived from the pipeline at start, with a warning naming the file."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from cauce.fastpath import FastModel, write_beside
from cauce.files import file_sha256, write_json
from cauce.layout import FAST_MODEL, SERVING_INFO
from cauce.serving.served import ServedModel
from tests.conftest import small_model


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, params, source_2015):
    """A model directory as `cauce package` leaves it, with a model fitted on 3,000 rows."""
    root = tmp_path_factory.mktemp("packaged")
    small_model(root, params, source_2015.head(3_000))
    directory = root / "models"
    assert write_beside(directory) is not None
    write_json(
        directory / SERVING_INFO,
        {"version": "v9.9.9", "fast_model_sha256": file_sha256(directory / FAST_MODEL)},
    )
    return directory


def test_the_packaged_fast_form_is_served_without_the_pipeline(packaged, params, source_2015):
    served = ServedModel.from_directory(packaged)
    model = served.load(packaged_fast_model=True)
    assert isinstance(model, FastModel)
    assert model.pipeline is None  # scikit-learn was not needed
    rows = source_2015[params.features.columns].tail(500)
    derived = served.load()
    assert derived.pipeline is not None
    expected = derived.pipeline.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(model.score(rows), expected, rtol=0, atol=1e-9)
    assert model.predict(np.empty((0, len(model.columns)))).shape == (0,)


@pytest.mark.parametrize("damage", ["unrecorded", "truncated", "altered"])
def test_a_fast_form_that_is_not_the_packaged_one_is_derived_again(
    packaged, tmp_path, damage, caplog
):
    directory = tmp_path / "model"
    directory.mkdir()
    for file in packaged.iterdir():
        (directory / file.name).write_bytes(file.read_bytes())
    fast_file = directory / FAST_MODEL
    if damage == "truncated":
        fast_file.write_bytes(fast_file.read_bytes()[:5_000])
    elif damage == "altered":  # the leaves' values changed: the probe rows catch it
        fast = FastModel.load(fast_file, file_sha256(directory / "model.skops"))
        fast.leaf_values[:] += 0.5
        fast.save(fast_file)
    if damage != "unrecorded":  # a matching record, as if the file were written with it
        info = json.loads((directory / SERVING_INFO).read_text())
        write_json(directory / SERVING_INFO, info | {"fast_model_sha256": file_sha256(fast_file)})
    else:
        (directory / SERVING_INFO).unlink()
    with caplog.at_level(logging.WARNING, logger="cauce.serving.served"):
        model = ServedModel.from_directory(directory).load(packaged_fast_model=True)
    assert isinstance(model, FastModel)
    assert model.pipeline is not None  # derived from the pipeline, not read from the file
    assert f"{fast_file}: " in caplog.text
    assert "deriving the fast form from the pipeline instead" in caplog.text
    expected = {"unrecorded": "sha256", "truncated": "not a fast-model file", "altered": "damaged"}
    assert expected[damage] in caplog.text
