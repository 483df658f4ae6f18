"""A scratch $SITROOM_HOME for a benchmark run, imported for that effect before sitroom makes
any workspace: benchmarks make their workspaces in temporary folders, and the site key files
`sitroom init` makes outside the workspace would otherwise stay in the user's home
(~/.sitroom/keyfiles) after those folders are gone. Removed when the run ends."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

HOME = tempfile.mkdtemp(prefix="sitroom-bench-home-")
os.environ["SITROOM_HOME"] = HOME
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
