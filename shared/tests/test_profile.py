import pytest

from shared.profile import DEFAULT_PROFILE, ProfileError, load_units

GOOD = """campaign: 演示
city: 汉中市
office: office
units:
  - code: office
    name: 办公室
    type: office
    level: city
  - code: tax
    name: 税务局
    type: department
    level: {level}
    parent: {parent}
"""


def write(tmp_path, **kw):
    (tmp_path / "units.yaml").write_text(GOOD.format(**{"level": "city", "parent": "office", **kw}), encoding="utf-8")
    return tmp_path


def test_the_demo_units_load():
    units = load_units(DEFAULT_PROFILE)
    assert {"office", "tax", "district-a"} <= {u["code"] for u in units["units"]}


def test_a_bad_value_is_reported_with_file_line_and_path(tmp_path):
    with pytest.raises(ProfileError) as caught:
        load_units(write(tmp_path, level="galaxy"))
    assert "units.yaml:12: units[1].level: Must be one of" in str(caught.value)


def test_an_unknown_parent_is_reported(tmp_path):
    with pytest.raises(ProfileError, match=r"units\[1\].parent: unknown unit 'nobody'"):
        load_units(write(tmp_path, parent="nobody"))


def test_a_typo_in_a_key_is_not_silently_ignored(tmp_path):
    path = write(tmp_path)
    (path / "units.yaml").write_text((path / "units.yaml").read_text(encoding="utf-8") + "    leaderr: x\n",
                                     encoding="utf-8")
    with pytest.raises(ProfileError, match=r"units.yaml:14: units\[1\].leaderr: Unknown field"):
        load_units(path)


def test_a_missing_part_says_so(tmp_path):
    with pytest.raises(ProfileError, match="missing"):
        load_units(tmp_path)
