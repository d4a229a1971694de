import sys

from eclipse_bench.bench.app.cli import main

sys.exit(main())
