"""microformer install against MicroPython's stock qemu board MPS2_AN385 (Cortex-M3), built
from an unmodified checkout (natmod.stock_firmware), over its UART pty.

That firmware has no writable filesystem (only the ROMFS it may mount at /rom): install
asks the board (sys.implementation._mpy says armv7em, .mpy 6.3), picks the natmod it can
load (armv7m, the highest Thumb rung below armv7em given; never x64 or armv7emsp), and refuses in one line before
copying anything, naming the missing filesystem. test_natmod_qemu runs the same files from
ROMFS."""
import json

import pytest

import natmodenv
from microformer.cli import main
from microformer.firmware import qemu

pytestmark = pytest.mark.firmware


@pytest.fixture(scope="module")
def stock_an385(firmware_out):
    return natmodenv.stock_board("MPS2_AN385", firmware_out / "stock")


@pytest.fixture(scope="module")
def natmods(firmware_out):
    """$MF_NATMOD_OUT when it holds the three archs (a `microformer firmware natmod` output),
    else built into the firmware output directory."""
    import os
    import pathlib

    archs = ("x64", "armv6m", "armv7m")
    given = os.environ.get("MF_NATMOD_OUT")
    if given and all((pathlib.Path(given) / a / "_uformer.mpy").is_file() for a in archs):
        return pathlib.Path(given)
    out = firmware_out / "natmod"
    for arch in archs:
        natmodenv.built(arch, out)
    return out


def test_install_on_stock_firmware_picks_the_arch_and_refuses_without_a_filesystem(
        stock_an385, natmods, capsys):
    with qemu.booted("MPS2_AN385", stock_an385) as b:
        code = main(["install", "--port", b.pty, "--natmod", str(natmods), "--no-restart"])
        out, err = capsys.readouterr()
        assert code == 1 and err.count("\n") == 1, err
        assert "no writable filesystem at /lib" in err, err
        # What the board said and what was picked, from the probe itself.
        from microformer.commands import install
        from microformer.transport import SerialTransport

        with SerialTransport(b.pty) as t:
            board = t.call("probe", None, timeout=30)
        assert board["impl"] == "micropython" and board["_uformer"] is None
        files, facts = install.plan(board, natmods, b.pty)
        # The stock Cortex-M3 build reports armv7em; of the natmods given (x64, armv6m,
        # armv7m, and armv7emsp/armv7emdp when present) it loads the Thumb rungs up to
        # armv7em: armv7m is the highest.
        assert facts["arch"] == "armv7em" and facts["mpy"] == "6.3", facts
        assert files[0][1] == natmods / "armv7m" / "_uformer.mpy"
        assert json.loads((natmods / "armv7m" / "natmod.json").read_text())["arch"] == "armv7m"
