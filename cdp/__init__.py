"""The customer data layer: Segment-spec ingestion, identity graph, profiles, triggers, streams.

events.py (message models) -> ingest.py (durable accept, dedup) -> pipeline.py (process batches:
identity.py, profiles.py, traits.py, consent.py, triggers.py, batch.py) -> TriggerFiring rows;
worker.py (in-process loop), stream.py (NATS JetStream), importer.py + datasets.py (files, CDNOW).
See docs/cdp.md.
"""
