"""Every setting is documented: ops configure from README's tables, not from config.py."""

from pathlib import Path

from config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_named_in_the_readme():
    text = README.read_text()
    undocumented = sorted(name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in text)
    assert undocumented == [], "add these to README's Configuration table"
