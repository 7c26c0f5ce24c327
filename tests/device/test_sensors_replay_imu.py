"""Sensors: CSV replay, and the MPU-6050 driver against a register-level model of the chip
on both the machine.I2C and the CircuitPython busio.I2C interfaces."""
import devtest
from uformer.mpu6050 import MPU6050
from uformer.sensors import ReplaySensor
from uformer.window import Window


def csv(name, text):
    p = devtest.tmp(name)
    devtest.write(p, text.encode())
    return p


def test_replay_plays_rows_in_order_and_loops():
    s = ReplaySensor(devtest.data("rec.csv"))
    assert s.names == ["ax", "ay", "az"] and s.channels == 3 and s.rows == 400
    first = list(s())
    assert s.index == 0 and s.label() == "idle"
    for _ in range(399):
        s()
    assert s.index == 399 and s.label() == "shake"
    again = s()  # loops
    assert s.index == 0 and list(again) == first
    assert s.labels == ["idle", "wave", "tap", "shake"]


def test_replay_once_and_columns_and_time_column_skipped():
    p = csv("r.csv", "timestamp,gx,gy,label\n0.00,1.5,-2,a\n0.02,2.5,-3,b\n")
    s = ReplaySensor(p, loop=False)
    assert s.names == ["gx", "gy"]
    assert list(s()) == [1.5, -2.0] and list(s()) == [2.5, -3.0]
    assert s() is None and s.done
    s = ReplaySensor(p, columns=["gy"])
    assert s.names == ["gy"] and list(s()) == [-2.0]


def test_replay_realtime_returns_only_due_samples():
    p = csv("r.csv", "x\n1\n2\n3\n")
    s = ReplaySensor(p, rate_hz=1)  # one sample per second
    assert list(s()) == [1.0]
    assert s() is None  # the next one is not due for a second
    assert s.period_ms == 1000
    s = ReplaySensor(p, rate_hz=50.0)  # metadata sample rates are JSON floats
    assert list(s()) == [1.0] and s.period_ms == 20


def test_replay_errors_name_line_and_column():
    e = devtest.raises(ValueError, ReplaySensor, csv("a.csv", "x,y\n1,2\n3,oops\n"))
    assert "line 3" in str(e) and "y" in str(e) and "oops" in str(e)
    e = devtest.raises(ValueError, ReplaySensor, csv("b.csv", "x,y\n1,2\n3\n"))
    assert "line 3" in str(e) and "1 cells" in str(e)
    e = devtest.raises(ValueError, ReplaySensor, csv("c.csv", "x,y\n"))
    assert "no samples" in str(e)
    e = devtest.raises(ValueError, ReplaySensor, csv("d.csv", "x\n1\n"), columns=["z"])
    assert "no column 'z'" in str(e)
    e = devtest.raises(ValueError, ReplaySensor, csv("e.csv", "t,label\n0,a\n"))
    assert "no sensor columns" in str(e)
    e = devtest.raises(ValueError, ReplaySensor, csv("f.csv", "x\ninf\n"))
    assert "not finite" in str(e)


def test_replay_feeds_a_window():
    s = ReplaySensor(devtest.data("rec.csv"))
    w = Window(8, 3, hop=4)
    rows = []
    n = 0
    for _ in range(20):
        x = s()
        rows.append(list(x))
        if w.push(x):
            n += 1
    assert n == 4
    flat = []
    for r in rows[-8:]:
        flat.extend(r)
    assert list(w.latest()) == flat


class MPUChip:
    """Register file of an MPU-6050 (the parts the driver touches)."""

    def __init__(self, who=0x68):
        self.regs = bytearray(128)
        self.regs[0x75] = who
        self.regs[0x6B] = 0x40  # power-on: sleep
        self.writes = []
        self.addr = 0x68

    def set_sample(self, accel, temp, gyro):
        vals = list(accel) + [temp] + list(gyro)
        for i, v in enumerate(vals):
            v &= 0xFFFF
            self.regs[0x3B + 2 * i] = v >> 8
            self.regs[0x3B + 2 * i + 1] = v & 0xFF

    def read(self, addr, reg, buf):
        if addr != self.addr:
            raise OSError(19)  # ENODEV: no ACK
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]

    def write(self, addr, reg, data):
        if addr != self.addr:
            raise OSError(19)
        for i in range(len(data)):
            self.writes.append((reg + i, data[i]))
            if reg + i == 0x6B and data[i] & 0x80:
                self.regs[0x6B] = 0x40  # reset
            else:
                self.regs[reg + i] = data[i]


class MachineI2C:
    """machine.I2C's memory interface over the chip model."""

    def __init__(self, chip):
        self.chip = chip

    def readfrom_mem_into(self, addr, reg, buf):
        self.chip.read(addr, reg, buf)

    def writeto_mem(self, addr, reg, buf):
        self.chip.write(addr, reg, buf)


class BusioI2C:
    """CircuitPython busio.I2C's interface (lock, write-then-read) over the chip model."""

    def __init__(self, chip):
        self.chip = chip
        self.locked = False
        self.lock_calls = 0

    def try_lock(self):
        self.lock_calls += 1
        if self.locked:
            return False
        self.locked = True
        return True

    def unlock(self):
        assert self.locked
        self.locked = False

    def writeto_then_readfrom(self, addr, out, inp):
        assert self.locked, "busio access without the lock"
        self.chip.read(addr, out[0], inp)

    def writeto(self, addr, buf):
        assert self.locked, "busio access without the lock"
        self.chip.write(addr, buf[0], buf[1:])


def check_driver(bus, chip):
    imu = MPU6050(bus, accel_range=4, gyro_range=500, rate_hz=100, dlpf=3)
    w = dict(chip.writes)
    assert chip.writes[0] == (0x6B, 0x80)  # reset first
    assert w[0x6B] == 0x01 and w[0x1A] == 3 and w[0x19] == 9
    assert w[0x1C] == 1 << 3 and w[0x1B] == 1 << 3
    assert imu.rate_hz == 100 and imu.names == ["ax", "ay", "az", "gx", "gy", "gz"]
    chip.set_sample((1000, -2000, 8192), 340, (-32768, 32767, 0))
    assert imu() == [1000, -2000, 8192, -32768, 32767, 0]
    assert devtest.approx(imu.temperature(), 1.0 + 36.53)
    si = MPU6050(bus, accel_range=4, gyro_range=500, units="si", channels="ag")
    v = list(si())
    assert devtest.approx(v[2], 1.0) and devtest.approx(v[0], 1000 / 8192)
    assert devtest.approx(v[4], 32767 / 65.5, 1e-4)
    g = MPU6050(bus, channels="g")
    assert g() == [-32768, 32767, 0] and g.names == ["gx", "gy", "gz"]


def test_mpu6050_on_machine_i2c():
    chip = MPUChip()
    check_driver(MachineI2C(chip), chip)


def test_mpu6050_on_busio_i2c():
    chip = MPUChip()
    bus = BusioI2C(chip)
    check_driver(bus, chip)
    assert not bus.locked and bus.lock_calls > 0


def test_mpu6050_errors():
    e = devtest.raises(OSError, MPU6050, MachineI2C(MPUChip(who=0x70 + 0x2)))
    assert "0x68" in str(e) and "0x72" in str(e)
    for kw, word in (({"accel_range": 3}, "accel_range"), ({"gyro_range": 300}, "gyro_range"),
                     ({"rate_hz": 2000}, "rate_hz"), ({"dlpf": 7}, "dlpf"),
                     ({"channels": "xyz"}, "channels"), ({"units": "mg"}, "units")):
        e = devtest.raises(ValueError, MPU6050, MachineI2C(MPUChip()), **kw)
        assert word in str(e)


def test_mpu6050_raw_read_and_push_allocate_nothing():
    if not devtest.MICROPYTHON:
        devtest.skip("heap_lock is MicroPython's (the raw path is plain ints either way)")
    import micropython

    chip = MPUChip()
    imu = MPU6050(MachineI2C(chip))
    chip.set_sample((1, -2, 3), 0, (4, -5, 6))
    w = Window(10, 6, hop=5)
    for _ in range(10):
        w.push(imu())
    micropython.heap_lock()
    try:
        n = 0
        for _ in range(50):
            if w.push(imu()):
                n += 1
    finally:
        micropython.heap_unlock()
    assert n == 10
