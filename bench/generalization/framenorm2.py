# bench/generalization/framenorm2.py SLOW.ds OUT.ds [F]: per-frame
# normalisation of a 2-channel temporal dataset (slow-64x64.ds):
# each channel c of each frame -> clamp(128 + 32 (v - 128) / max(rms_c, F)),
# rms_c the root mean square of (v - 128) over the frame's pixels of that
# channel (its difference energy), F = 4 (2 gray levels: v = 128 + 2 diff).
# Removes the frame's difference energy, keeps its spatial structure.
# Screened in session 13 (docs/generalization.md; F = 4): not adopted.
# With a 4th argument "compress": v -> clamp(128 + (v - 128) min(1, F / rms_c)),
# only frames whose difference energy exceeds F are scaled down, none up
# (sensor noise of still scenes is left as it is).
# Python 3 standard library only; the output is written atomically.
import struct, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
F = float(sys.argv[3]) if len(sys.argv) > 3 else 4.0
compress = len(sys.argv) > 4 and sys.argv[4] == 'compress'
b = bytearray(open(src, 'rb').read())
n, h, w, c = struct.unpack_from('<4I', b, 16)
po = struct.unpack_from('<Q', b, 56)[0]
if c != 2:
    sys.exit('framenorm2.py: %s has %d channels, not the 2 of a temporal dataset' % (src, c))
sz = h * w * c
sq = [(v - 128) ** 2 for v in range(256)]
for i in range(n):
    base = po + i * sz
    px = bytes(b[base:base + sz])
    for ch in range(2):
        plane = px[ch::2]
        hist = [plane.count(v) for v in set(plane)]
        vals = list(set(plane))
        ms = sum(sq[v] * k for v, k in zip(vals, hist)) / len(plane)
        rms = ms ** 0.5
        g = min(1.0, F / rms) if compress and rms > 0 else 1.0 if compress else 32.0 / max(rms, F)
        tab = bytes(max(0, min(255, int(round(128 + g * (v - 128))))) for v in range(256))
        b[base + ch:base + sz:2] = plane.translate(tab)
pc = zlib.crc32(bytes(b[128:])) & 0xffffffff
struct.pack_into('<I', b, 40, pc)
struct.pack_into('<I', b, 124, zlib.crc32(bytes(b[0:124])) & 0xffffffff)
open(dst + '.tmp', 'wb').write(b)
import os; os.replace(dst + '.tmp', dst)
