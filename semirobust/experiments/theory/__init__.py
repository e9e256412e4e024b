"""The theory pages: ``theorem2`` (its constant from Table 1's records), ``theorem3`` and ``theorem3_report``
(with ``algorithm_s1`` and ``linear_network``), ``weight_bound`` and ``weight_bound_report`` (Section 2.2's bound,
with ``weight_alignment``); ``common`` holds the start of a theory run."""
