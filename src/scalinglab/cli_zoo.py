"""CLI commands for the zoo stage; they register on :data:`scalinglab.cli.app`."""

from __future__ import annotations
