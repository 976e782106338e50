"""Files in and out: configuration, readers for event files, writers for results.

Submodules: :mod:`bayesfold.io.readers` (ROOT, Parquet, HDF5 and NumPy files
into arrays), :mod:`bayesfold.io.writers` (posterior, weight columns,
histograms, summaries and HEPData tables, each written atomically) and
:mod:`bayesfold.io.atomic` (the temporary-name-then-rename helper both use).
"""
