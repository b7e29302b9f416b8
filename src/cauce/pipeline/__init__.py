"""The data scientist's room: one module per DVC stage, each run by dvc.yaml as
`python -m cauce.pipeline <stage>` (and by a person as `cauce <stage>`), and
`draft.py` (`cauce init`), which drafts the contract and params the stages read."""
