"""What every page uses: ``verdicts`` (claim statuses and their wording), ``markup`` (HTML tables and Markdown
sentences for notebook cells), ``notebook`` (the check after every parameters cell: unknown papermill
parameters stop the run) and ``figures`` (the book's figure style, Figures 1-2 and the trial curves)."""
