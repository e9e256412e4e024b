"""rho's questions (Figures 1-2 pages): ``rho_success`` (does rho predict a trial's success, the pre-specified
analysis) and ``dependence_study`` (can the estimators detect dependence at the pages' sample sizes). The figures
themselves are drawn by :mod:`semirobust.experiments.report.figures`."""
