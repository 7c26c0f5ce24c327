"""MPU-6050 accelerometer + gyroscope over I2C, as a uformer sensor.

    from machine import I2C, Pin
    imu = MPU6050(I2C(0, scl=Pin(5), sda=Pin(4), freq=400000), rate_hz=100)
    sample = imu()        # [ax, ay, az, gx, gy, gz]

Works with machine.I2C / SoftI2C and CircuitPython's busio.I2C (via compat.I2CDevice).

units="raw" (default) returns the signed 16-bit counts in a reused list: no allocation per
sample, and Window.push stores small ints without allocating either. units="si" returns
g and degrees/second in a reused array('f'). Train on recordings made in the same units.
Register map: InvenSense MPU-6000/MPU-6050 Register Map and Descriptions, rev 4.2.
"""
from .compat import I2CDevice, const, sleep_ms, zeros

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_XOUT_H = const(0x3B)
_PWR_MGMT_1 = const(0x6B)
_WHO_AM_I = const(0x75)

_DEVICE_RESET = const(0x80)
_CLKSEL_PLL_XGYRO = const(0x01)  # more stable than the internal 8 MHz oscillator

# Full-scale range -> (register value, counts per unit)
ACCEL_RANGES = {2: (0, 16384), 4: (1, 8192), 8: (2, 4096), 16: (3, 2048)}  # g
GYRO_RANGES = {250: (0, 131.0), 500: (1, 65.5), 1000: (2, 32.8), 2000: (3, 16.4)}  # deg/s
WHO_AM_I_IDS = (0x68,)


def _s16(b, i):
    v = (b[i] << 8) | b[i + 1]
    return v - 65536 if v & 0x8000 else v


class MPU6050:
    def __init__(self, i2c, addr=0x68, accel_range=4, gyro_range=500, rate_hz=100, dlpf=3,
                 channels="ag", units="raw"):
        if accel_range not in ACCEL_RANGES:
            raise ValueError("accel_range %r g: choose one of %s" % (accel_range, sorted(ACCEL_RANGES)))
        if gyro_range not in GYRO_RANGES:
            raise ValueError("gyro_range %r dps: choose one of %s" % (gyro_range, sorted(GYRO_RANGES)))
        if not 0 <= dlpf <= 6:
            raise ValueError("dlpf %r: the digital low-pass setting is 0..6" % (dlpf,))
        if channels not in ("a", "g", "ag"):
            raise ValueError("channels %r: 'a' (accel), 'g' (gyro) or 'ag'" % (channels,))
        if units not in ("raw", "si"):
            raise ValueError("units %r: 'raw' or 'si'" % (units,))
        # The gyro output rate is 1 kHz with the low-pass filter on (dlpf 1..6), 8 kHz off.
        base = 8000 if dlpf == 0 else 1000
        if not 4 <= rate_hz <= base:
            raise ValueError("rate_hz %r: the MPU-6050 samples at %d/(1+div) Hz, so 4..%d" % (
                rate_hz, base, base))
        self.dev = I2CDevice(i2c, addr)
        self._b1 = bytearray(1)
        self.dev.read_into(_WHO_AM_I, self._b1)
        if self._b1[0] not in WHO_AM_I_IDS:
            raise OSError("no MPU-6050 at I2C address 0x%02x: WHO_AM_I reads 0x%02x, expected 0x68"
                          % (addr, self._b1[0]))
        self._write(_PWR_MGMT_1, _DEVICE_RESET)
        sleep_ms(100)  # the reset takes up to 100 ms (register map, PWR_MGMT_1)
        self._write(_PWR_MGMT_1, _CLKSEL_PLL_XGYRO)
        self._write(_CONFIG, dlpf)
        div = base // rate_hz - 1
        self._write(_SMPLRT_DIV, div)
        self.rate_hz = base // (1 + div)
        a_reg, a_lsb = ACCEL_RANGES[accel_range]
        g_reg, g_lsb = GYRO_RANGES[gyro_range]
        self._write(_ACCEL_CONFIG, a_reg << 3)
        self._write(_GYRO_CONFIG, g_reg << 3)
        self.accel_scale = 1.0 / a_lsb  # g per count
        self.gyro_scale = 1.0 / g_lsb  # deg/s per count
        self.channels = channels
        self.units = units
        # offsets into the 14-byte burst (accel xyz, temperature, gyro xyz) per channel
        offs = []
        if "a" in channels:
            offs += [0, 2, 4]
        if "g" in channels:
            offs += [8, 10, 12]
        self._offs = offs
        self.names = [n for n, o in zip(("ax", "ay", "az", "gx", "gy", "gz"), (0, 2, 4, 8, 10, 12))
                      if o in offs]
        self._buf = bytearray(14)
        n = len(offs)
        self.sample = [0] * n if units == "raw" else zeros("f", n)
        self._scales = [self.accel_scale if o < 8 else self.gyro_scale for o in offs]

    def _write(self, reg, value):
        self._b1[0] = value
        self.dev.write(reg, self._b1)

    def __call__(self):
        b = self._buf
        self.dev.read_into(_ACCEL_XOUT_H, b)
        out = self.sample
        offs = self._offs
        if self.units == "raw":
            for i in range(len(offs)):
                out[i] = _s16(b, offs[i])
        else:
            sc = self._scales
            for i in range(len(offs)):
                out[i] = _s16(b, offs[i]) * sc[i]
        return out

    def temperature(self):
        """Die temperature in degrees Celsius (register map: count / 340 + 36.53)."""
        self.dev.read_into(_ACCEL_XOUT_H, self._buf)
        return _s16(self._buf, 6) / 340.0 + 36.53
