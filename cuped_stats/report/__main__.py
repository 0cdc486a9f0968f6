"""``python -m cuped_stats.report``: the same as the ``cuped-report`` command."""

from cuped_stats.report.cli import main

raise SystemExit(main())
