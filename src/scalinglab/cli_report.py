"""CLI commands for the report stage; they register on :data:`scalinglab.cli.app`."""

from __future__ import annotations
