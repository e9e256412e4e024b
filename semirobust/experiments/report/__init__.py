"""What every page uses: ``verdicts`` (claim statuses and their wording), ``markup`` (HTML tables and Markdown
sentences for notebook cells) and ``figures`` (the book's figure style, Figures 1-2 and the trial curves)."""
