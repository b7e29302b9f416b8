"""The data scientist's room: one module per DVC stage, each run as `cauce <stage>`."""

from pathlib import Path

RAW = Path("data/raw/data.parquet")
VALIDATION_REPORT = Path("reports/validation.json")
CONTRACT = Path("data/contract.yaml")
TRAIN_SPLIT = Path("data/prepared/train.parquet")
TEST_SPLIT = Path("data/prepared/test.parquet")
MODEL_DIR = Path("models")
MODEL_FILE = MODEL_DIR / "model.skops"
MODEL_CARD = MODEL_DIR / "model.json"
REFERENCE_PROFILE = MODEL_DIR / "reference.json"
TRAIN_REPORTS = Path("reports/train")
EVALUATE_REPORTS = Path("reports/evaluate")
