"""grouped_records: records in input order, from length-sorted groups closed at the budget."""

from __future__ import annotations

from textebm.energies.records import grouped_records


def test_groups_are_sorted_by_work_and_closed_by_the_item_that_passes_the_budget():
    items = ["ccc", "a", "dddd", "bb", "eeeee"]
    work = [len(item) for item in items]
    groups = []

    def score_group(group: list[str]) -> list[tuple]:
        groups.append(group)
        return [(item.upper(),) for item in group]

    records = grouped_records(items, work, 3, score_group)
    # sorted: a(1) bb(2) ccc(3) dddd(4) eeeee(5); a group takes items while its work is <= 3,
    # so the item that takes it past 3 closes it: 1+2+3 = 6, then 4 alone passes, then 5
    assert groups == [["a", "bb", "ccc"], ["dddd"], ["eeeee"]]
    assert records == [("CCC",), ("A",), ("DDDD",), ("BB",), ("EEEEE",)]


def test_ties_keep_input_order_and_a_zero_budget_still_scores_one_item_a_group():
    groups = []

    def score_group(group: list[str]) -> list[tuple]:
        groups.append(group)
        return [(item,) for item in group]

    assert grouped_records(["x", "y", "z"], [2, 2, 2], 0, score_group) == [("x",), ("y",), ("z",)]
    assert groups == [["x"], ["y"], ["z"]]
    assert grouped_records([], [], 10, score_group) == []
