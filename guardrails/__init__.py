"""Guardrails: pure checks that return typed verdicts, the policy they read, and human review.

Checks live one concern per module (consent, frequency, quiet_hours, email, content, pii,
injection); `engine` runs them on a planned action and audits the report; `review` holds
flagged actions for a person.
"""
