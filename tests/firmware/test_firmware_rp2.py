"""The rp2 boards (RPI_PICO, RPI_PICO2) build with _uformer when the checkout has the
pico-sdk, tinyusb, mbedtls and micropython-lib submodules (skipped with that reason otherwise)."""
import pytest

from fwenv import require_board

pytestmark = pytest.mark.firmware


@pytest.mark.parametrize("board", ["RPI_PICO", "RPI_PICO2"])
def test_rp2_board_builds(board, firmware_out):
    from microformer.firmware import builder

    d = require_board(board)
    fw = builder.build(board, d, firmware_out / board)
    uf2 = fw.out / "firmware.uf2"
    assert uf2.read_bytes()[:4] == b"UF2\n"
    s = fw.sizes
    assert 10_000 < s.engine and 1_000 < s.binding and s.frozen > 0
    # Code must stay below the filesystem: 640 KB on the Pico, 1 MB on the Pico 2.
    limit = 640 * 1024 if board == "RPI_PICO" else 1024 * 1024
    assert s.flash < limit, f"{board} firmware is {s.flash} bytes, more than {limit}"
