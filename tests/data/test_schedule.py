import pytest

from veco_lightning.data.schedule import ScheduledLoader


class Loader(list):
    """A list of batches with a resumable position, like a StatefulDataLoader."""

    def __init__(self, name, n):
        super().__init__({name: {"i": i}} for i in range(n))


def test_every_source_every_step_by_default():
    loader = ScheduledLoader({"a": Loader("mmlm", 3), "b": Loader("tlm", 5)})
    batches = [b for _, b in zip(range(7), loader)]
    assert all(set(b) == {"mmlm", "tlm"} for b in batches)
    assert [b["mmlm"]["i"] for b in batches] == [0, 1, 2, 0, 1, 2, 0]  # cycles, next epoch


def test_proportions_are_followed_and_identical_across_ranks():
    def make():
        return ScheduledLoader({"a": Loader("mmlm", 50), "b": Loader("tlm", 50)}, {"a": 1.0, "b": 0.3}, seed=4)

    rank0, rank1 = make(), make()
    s0 = [sorted(b) for _, b in zip(range(400), rank0)]
    s1 = [sorted(b) for _, b in zip(range(400), rank1)]
    assert s0 == s1
    share = sum("tlm" in b for b in s0) / 400
    assert 0.22 < share < 0.38 and all("mmlm" in b for b in s0)


def test_state_round_trip_continues_the_schedule():
    loader = ScheduledLoader({"a": Loader("mmlm", 4), "b": Loader("tlm", 4)}, {"a": 0.5, "b": 0.5}, seed=1)
    first = [sorted(b) for _, b in zip(range(10), iter(loader))]
    resumed = ScheduledLoader({"a": Loader("mmlm", 4), "b": Loader("tlm", 4)}, {"a": 0.5, "b": 0.5}, seed=1)
    resumed.load_state_dict({"step": 6, "epochs": {"a": 0, "b": 0}, "loaders": {}})
    assert [sorted(b) for _, b in zip(range(4), iter(resumed))] == first[6:]


def test_unknown_source_in_proportions():
    with pytest.raises(ValueError, match="unknown sources"):
        ScheduledLoader({"a": Loader("mmlm", 1)}, {"parallel": 0.5})
