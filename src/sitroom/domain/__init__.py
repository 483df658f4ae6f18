"""The pure core: records, clocks as inputs, projections, detectors. No I/O lives here."""
