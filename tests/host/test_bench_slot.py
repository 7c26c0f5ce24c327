"""microformer bench prints the Slot memory contract (docs/architecture.md) for the model
it measured: what a Slot with default sizes reserves, by the device's own formula."""
from microformer.commands.bench import slot_reserve


def test_slot_reserve_uses_the_device_formula():
    from uformer.slot import SWAP_HEADROOM, budget

    r = slot_reserve(36560, 10391)
    assert r["max_bytes"] == 36560 + 18280
    assert r["max_arena"] == 15616  # 1.5 x 10,391 rounded up to 256 B
    assert r["two_buffers"] == 2 * 54840 + 15616 + 8 + SWAP_HEADROOM
    assert r["two_buffers"] == budget(54840, 15616, 2)
    assert r["one_buffer"] == budget(54840, 15616, 1)
