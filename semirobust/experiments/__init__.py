"""The paper's items, one subpackage each; in each, a run module (settings -> record) apart from its report
module (frames, statements, plots read from the record):

* :mod:`~semirobust.experiments.table1`: Algorithm 1 and Table 1 (runs, arms, scoring, finished seeds, report);
* :mod:`~semirobust.experiments.rho`: Figures 1-2's questions (does rho predict success, the dependence study);
* :mod:`~semirobust.experiments.theory`: Theorems 2-3, Algorithm S1, the linear network, the weight bound;
* :mod:`~semirobust.experiments.supplementary`: budgets (Tables S2-S4), the cost frontier, Table S5, efficiency;
* :mod:`~semirobust.experiments.report`: what every page uses (verdicts, HTML and Markdown, the figures).
"""
