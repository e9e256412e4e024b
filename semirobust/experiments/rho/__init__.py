"""rho's questions (Figures 1-2 and the MI estimator pages): ``figure_claims`` (the trend with depth over the null,
a smaller f_b giving a higher rho, the data-set ordering and its gap, how many cells reached Acc*), ``rho_success``
(does rho predict a trial's success, the pre-specified analysis) with ``within_arm`` (Spearman's r within arms) and
``rho_success_plots`` (its plot), ``dependence_study`` (can the estimators detect dependence at the pages' sample
sizes) with ``detection`` (which measure detects at the records' sample size, the rule that picks the primary
measure), and ``mi_checks`` with ``mi_checks_report`` (EDGE against closed forms, its invariances and its time: the
MI estimator page's record). The figures themselves are drawn by :mod:`semirobust.experiments.report.figures`."""
