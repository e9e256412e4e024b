"""What every page uses: ``verdicts`` (claim statuses and their wording), ``markup`` (HTML tables and Markdown
sentences for notebook cells), ``style`` (the book's one figure style and the legibility check every saved figure
passes), ``notebook`` (what a notebook calls: ``check_parameters`` right after its parameters cell (unknown parameters, output folders), then
``glue_all`` and ``show_figure`` to hand values and figures to its page) and ``figures`` (Figures 1-2 and the
trial curves)."""
