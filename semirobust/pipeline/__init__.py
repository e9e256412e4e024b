"""Run infrastructure: the ``semirobust`` command line, sweeps over grids, launchers, the book build."""
