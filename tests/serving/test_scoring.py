"""The function under /v1/predict, without HTTP: a body in, the answer or the refusal out,
the same as the server gives (tests/serving/test_bad_api_input.py drives the server)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from cauce.model import score
from cauce.serving.scoring import RefusedError, Scorer
from cauce.serving.served import ServedModel


@pytest.fixture(scope="module")
def served(packaged_model) -> ServedModel:
    return ServedModel.from_directory(packaged_model, "v0.1.0")


@pytest.fixture(scope="module")
def scorer(served) -> Scorer:
    return Scorer.of(served, max_rows=3)


@pytest.fixture(scope="module")
def model(served):
    return served.load(packaged_fast_model=True)


def body(records) -> bytes:
    return orjson.dumps({"records": records})


def test_records_get_the_pipelines_answer_in_order(scorer, model, served, rows):
    features = rows[[column.name for column in served.info.input_schema]].head(3)
    records = features.to_dict("records")
    scored = scorer.answer(model, body(records))
    assert scored.rows == 3
    answer = orjson.loads(scored.body)
    assert (answer["model"], answer["version"]) == (served.info.name, "v0.1.0")
    expected = score(served.load(packaged_fast_model=False), features)
    probabilities = [p["probability"] for p in answer["predictions"]]
    np.testing.assert_allclose(probabilities, expected, atol=1e-9)


@pytest.mark.parametrize(
    ("sent", "status", "reason", "said"),
    [
        (b"{not json", 400, "not_json", "the body is not JSON"),
        (b'{"records": []}', 422, "invalid", "with at least one record"),
        (b'{"records": [{}], "extra": 1}', 422, "invalid", "Extra inputs are not permitted"),
        (body([{}] * 4), 413, "too_many_rows", "4 records exceed serve.max_rows = 3"),
        (body([{"AGEP": "old"}]), 422, "invalid", "records[0].AGEP"),
    ],
    ids=["not-json", "no-records", "unknown-key", "too-many", "wrong-type"],
)
def test_a_body_it_cannot_score_is_refused_with_status_reason_and_detail(
    scorer, model, sent, status, reason, said
):
    with pytest.raises(RefusedError) as refused:
        scorer.answer(model, sent)
    assert (refused.value.status, refused.value.reason) == (status, reason)
    assert said in str(refused.value.detail)
