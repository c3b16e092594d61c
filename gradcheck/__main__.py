"""``python -m gradcheck``: the same command line as the ``gradcheck`` script."""

from gradcheck.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
