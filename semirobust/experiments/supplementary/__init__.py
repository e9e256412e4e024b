"""The supplementary's studies on the primary cell's finished seeds: ``budgets`` and ``budgets_report`` (attacks
and budgets, Tables S2-S4 shape), ``pays`` and ``pays_report`` (the cost-robustness frontier), ``table_s5`` and
``table_s5_report`` (ATTA and TRADES training of f_b), ``collapse`` (the guard that flags an arm whose network did not
train), ``efficiency`` (the frozen-f_a speed benchmark's reading)."""
