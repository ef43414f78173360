"""Entry point of the mrgov policy pack, run by the engine for `pulumi preview --policy-pack policies`.

The engine's Python language host starts `python <this folder> <engine address>`, so only this folder is
on `sys.path`; the rules live in components/ one level up, shared with the stack spec.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from policies.pack import serve  # noqa: E402 (needs ROOT on sys.path first)

serve()
