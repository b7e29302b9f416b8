"""The data scientist's room: one module per DVC stage, each run as `cauce <stage>`, and
`draft.py` (`cauce init`), which drafts the contract and params the stages read."""
