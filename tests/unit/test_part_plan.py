"""How a file is cut into parts for an upload in parts: S3's limits hold for any size."""

from __future__ import annotations

import pytest

from stereo_spot.storage.multipart import MAX_PARTS, MIB, MIN_PART_BYTES, plan_parts

GIB = 1024**3


def test_a_small_file_is_one_part_of_its_own_size() -> None:
    plan = plan_parts(1234)

    assert (plan.part_count, plan.part_bytes(1)) == (1, 1234)


def test_parts_are_16_mib_and_the_last_holds_the_rest() -> None:
    plan = plan_parts(40 * MIB + 5)

    assert (plan.part_size, plan.part_count) == (16 * MIB, 3)
    assert [plan.part_bytes(n) for n in (1, 2, 3)] == [16 * MIB, 16 * MIB, 8 * MIB + 5]


def test_a_20_gib_master_fits_in_16_mib_parts() -> None:
    plan = plan_parts(20 * GIB)

    assert (plan.part_size, plan.part_count) == (16 * MIB, 1280)


def test_a_file_too_big_for_10000_parts_gets_larger_parts() -> None:
    plan = plan_parts(1024 * GIB)

    assert plan.part_size == 105 * MIB and plan.part_count <= MAX_PARTS
    assert plan.part_size * plan.part_count >= 1024 * GIB


def test_no_part_but_the_last_is_under_5_mib_whatever_is_preferred() -> None:
    assert plan_parts(12 * MIB, preferred_part_bytes=1 * MIB).part_size == MIN_PART_BYTES


def test_sizes_no_upload_can_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        plan_parts(0)
    with pytest.raises(ValueError, match="10000 parts"):
        plan_parts(MAX_PARTS * 5 * GIB + 1)
    with pytest.raises(ValueError, match=r"not one of 1\.\.3"):
        plan_parts(40 * MIB).part_bytes(4)
