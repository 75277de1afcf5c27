"""Reports for planners: the capacity report (an HTML page and a CSV plan) of a run.

The models are in :mod:`twin.planning`; this package only presents them: figures
(:mod:`reports.figures`), the page and the CSV (:mod:`reports.capacity_report`) and the
``telcotwin report`` command's logic (:mod:`reports.command`).
"""
