"""Card printers behind a CUPS queue: the pycups driver, and the simulated card printer as a CUPS backend."""
