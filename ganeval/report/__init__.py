"""Pictures: the HTML report of ``ganeval report`` and matplotlib figures (``pip install 'ganeval[plots]'``).

    from ganeval.report import make_report
    make_report("real/", "samples/", "report/")      # report/index.html

Modules: ``neighbours`` (nearest neighbours, the memorisation check), ``plots`` (matplotlib),
``html`` (the page), ``make`` (putting them together).
"""


def make_report(a, b, out_dir, **kwargs):
    """See :func:`ganeval.report.make.make_report`."""
    from ganeval.report.make import make_report as _make_report

    return _make_report(a, b, out_dir, **kwargs)
