"""Virtual design studies: sweeps over microstructure and cell, REV analysis, optimisation.

``Study`` / ``load_study`` define the design points (``microsim.design.study``);
``evaluate`` runs one point with one seed (generate → solve → cell model);
``run_study`` fills a resumable CSV on local processes or a Dask cluster;
``summarise``, ``bruggeman_fit`` and the plots read the table back.
"""

from microsim.design.analysis import bruggeman_fit, plot_bruggeman, plot_energy, summarise
from microsim.design.evaluate import evaluate, generate_point
from microsim.design.runner import StudyInterrupted, StudyRun, TableLockedError, read_table, run_point, run_study
from microsim.design.study import VARIABLES, DesignPoint, Study, load_study, study_from_dict

__all__ = [
    "VARIABLES",
    "DesignPoint",
    "Study",
    "StudyInterrupted",
    "StudyRun",
    "TableLockedError",
    "bruggeman_fit",
    "evaluate",
    "generate_point",
    "load_study",
    "plot_bruggeman",
    "plot_energy",
    "read_table",
    "run_point",
    "run_study",
    "study_from_dict",
    "summarise",
]
