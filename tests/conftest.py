from pathlib import Path

# shared/ (read-only test data) sits beside the repository checkout.
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
