"""``python -m cemgd.cli ...``: the same as the ``cemgd`` command."""

from cemgd.cli import main

raise SystemExit(main())
