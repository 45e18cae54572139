"""jianguan (监管): the thin wiring package — config schema, CLI and process wiring.

The domain packages (ingest, analytics, alerts, storage, dashboards) never import it.
"""

__version__ = "0.1.0"
