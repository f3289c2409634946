"""Virtual design studies: sweeps over microstructure and cell, REV analysis, optimisation."""
