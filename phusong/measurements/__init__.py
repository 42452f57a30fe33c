"""Measurements: drive-test and crowdsourced signal samples, read and checked row by row, and a run checked
against them commune by commune."""
from .check import check_communes, wilson_interval
from .read import MeasurementReport, read_measurements, validate_measurements

__all__ = ["MeasurementReport", "check_communes", "read_measurements", "validate_measurements", "wilson_interval"]
