"""The supplementary's studies on the primary cell's finished seeds: ``budgets`` and ``budgets_report`` (attacks
and budgets, Tables S2-S4 shape), ``pays`` and ``pays_report`` (the cost-robustness frontier), ``table_s5`` and
``table_s5_report`` (ATTA and TRADES training of f_b), ``collapse`` (the guard that flags an arm whose network did not
train); and the efficiency page's benchmark readings: ``efficiency`` (``benchmarks/gpu_check.py``), ``freeze_pays``
(where freezing f_a pays: ``benchmarks/bench_freeze_pays.py``'s table, verdicts and figure) and ``offline_units``
(``benchmarks/bench_offline_units.py``'s speed-ups)."""
