"""``python -m imgfeed.feeds.betfair.emulator``: run the Betfair ESA emulator (see :mod:`.cli`)."""

import argparse
import sys

from imgfeed.feeds.betfair.emulator.cli import DESCRIPTION, EPILOG, add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imgfeed.feeds.betfair.emulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
