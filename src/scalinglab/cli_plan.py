"""CLI commands for the plan stage; they register on :data:`scalinglab.cli.app`."""

from __future__ import annotations
