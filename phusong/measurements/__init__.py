"""Measurements: drive-test and crowdsourced signal samples, read and checked row by row."""
from .read import MeasurementReport, read_measurements, validate_measurements

__all__ = ["MeasurementReport", "read_measurements", "validate_measurements"]
