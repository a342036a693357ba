"""Next best action: catalog, arbitration, bandit, churn model, holdouts, timing, OPE.

Entry points: `decisioning.engine.decide`, `decisioning.learning.record_outcome`,
`decisioning.catalog.load_catalog`, `decisioning.churn.load_or_train`. See docs/decisioning.md.
"""
