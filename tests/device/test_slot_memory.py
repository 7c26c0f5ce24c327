"""The Slot memory contract (docs/architecture.md): buffers and the arena are reserved at
creation, or creation is refused with the numbers; a model needing more arena than
reserved is refused without touching the serving one; a stale engine model (its arena
taken over) raises instead of running on another model's tables."""
import devtest
from devtest import installed, needs_engine
from uformer.window import Window


@needs_engine
def test_reservation_follows_the_formula():
    devtest.engine()
    import _uformer
    from uformer import Slot
    from uformer.slot import SWAP_HEADROOM, budget

    v1 = devtest.read(devtest.data("v1.tflite"))
    path = installed(v1)
    log = devtest.Log()
    slot = Slot(path, max_bytes=8 * 1024, log=log, double=True)
    need = _uformer.arena_size(v1)
    # max_arena measured from the boot model, half again on top, in 256-byte steps
    assert slot.max_arena == (need + need // 2 + 255) // 256 * 256
    assert len(slot._arena) == slot.max_arena + _uformer.ARENA_TAG
    assert [len(b) for b in slot._bufs] == [8192, 8192]
    info = slot.info()
    assert info["reserved"] == 2 * 8192 + slot.max_arena + 8 + SWAP_HEADROOM
    assert info["reserved"] == budget(8192, slot.max_arena, 2)
    assert log.has("serving", "arena %d B of %d reserved" % (need, slot.max_arena))
    one = Slot(installed(v1, "one.tflite"), max_bytes=8 * 1024, max_arena=3000, double=False,
               log=None)
    assert len(one._bufs) == 1 and one.info()["reserved"] == budget(8192, 3000, 1)
    e = devtest.raises(ValueError, Slot, path, max_bytes=-5)
    assert "max_bytes" in str(e)
    e = devtest.raises(ValueError, Slot, path, max_bytes=4096, max_arena="big")
    assert "max_arena" in str(e)


@devtest.heapsize("256K")
@needs_engine
def test_creation_is_refused_with_the_numbers_when_the_heap_is_short():
    devtest.engine()
    if not devtest.MICROPYTHON:
        devtest.skip("CPython has no fixed heap to run short of")
    from uformer import Slot

    v1 = devtest.read(devtest.data("v1.tflite"))
    path = installed(v1)
    e = devtest.raises(MemoryError, Slot, path, max_bytes=120 * 1024, double=True, log=None)
    msg = str(e)
    assert "needs" in msg and "two 120 KB buffers" in msg and "KB free" in msg, msg
    assert "double=False" in msg, msg
    e = devtest.raises(MemoryError, Slot, path, max_bytes=300 * 1024, log=None)
    assert "one 300 KB buffer" in str(e) and "KB free" in str(e), str(e)
    # Auto mode takes one buffer when two do not fit, and says so.
    log = devtest.Log()
    slot = Slot(path, max_bytes=16 * 1024, log=log)
    assert slot.model is not None
    if not slot.double:
        assert log.has("RAM holds one 16384-byte model buffer")


@needs_engine
def test_stale_engine_model_raises_instead_of_running():
    _uformer = devtest.engine()
    v1 = devtest.read(devtest.data("v1.tflite"))
    deep = devtest.read(devtest.data("deep.tflite"))
    arena = bytearray(_uformer.arena_size(deep) + _uformer.ARENA_TAG)
    a = _uformer.Model(v1, arena=arena)
    a.invoke()
    b = _uformer.Model(deep, arena=arena)
    b.invoke()
    for call in (a.invoke, lambda: a.input(0), lambda: a.output(0), lambda: a.arena_size):
        e = devtest.raises(ValueError, call)
        assert "another Model was loaded into this model's arena" in str(e)
    e = devtest.raises(MemoryError, _uformer.Model, deep, arena=bytearray(len(arena) - 1))
    assert "need %d bytes, have %d" % (len(arena), len(arena) - 1) in str(e), str(e)
    devtest.raises(TypeError, _uformer.Model, v1, arena=bytes(4096))
    devtest.raises(ValueError, _uformer.Model, v1, 4096, arena=arena)


@needs_engine
def test_refused_swap_reloads_the_serving_model_into_its_arena():
    devtest.engine()
    from uformer import Model, Slot

    v1 = devtest.read(devtest.data("v1.tflite"))
    path = installed(v1)
    w = Window(8, 3, hop=4)
    slot = Slot(path, window=w, max_bytes=8 * 1024, log=None)
    before = slot.model
    x = [0.25 * (i % 5) for i in range(24)]
    want = Model(v1).classify(x)
    # Loads in the shared arena (so the old engine model goes stale), then fails the app's
    # window check: the same Model object serves again, with a fresh engine model.
    slot.push(devtest.read(devtest.data("wide.tflite")))
    while slot.step():
        pass
    assert slot.refusals == 1 and slot.model is before
    assert slot.acquire().classify(x) == want
