"""``python -m exporter.demo`` (``make demo``): kept at this path; the demo lives in cli/demo.py."""

import sys

from exporter.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
