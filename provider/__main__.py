"""`python -m provider`: serve the mrgov provider to the Pulumi engine."""

import json
import sys

from provider import VERSION
from provider.resources import RESOURCES
from provider.schema import package_schema
from provider.server import MrgovProvider, serve


def main() -> None:
    provider = MrgovProvider(VERSION, RESOURCES, lambda: json.dumps(package_schema(), indent=2))
    serve(provider, sys.argv[1:])


if __name__ == "__main__":
    main()
