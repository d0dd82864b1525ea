"""Where the tests find the repository and the shared fixtures (one place, so a moved test needs no path arithmetic)."""
from pathlib import Path

#: The repository's root (tests/support/ is two levels below it).
ROOT = Path(__file__).resolve().parents[2]

#: The shared evemu recordings: ``../shared/fixtures/evemu`` beside the clone (CI), else the team's copy.
FIXTURES = ROOT.parent / "shared" / "fixtures" / "evemu"
if not FIXTURES.is_dir():  # a worktree under /work/wt/NAME: the shared fixtures are /work/shared
    FIXTURES = Path("/work/shared/fixtures/evemu")
