"""What a user would otherwise write for `reef prep`: Pillow, one process.
usage: /usr/bin/python3 pil_prep.py LISTFILE   (one image path per line)
Per image: open, draft('L', (32, 32)) (DCT-domain downscale), convert('L'),
resize((32, 32), Image.BOX); pixels collected in one bytearray.
Prints: frames seconds frames_per_second frames_per_cpu_second (the loop
only; CPU time is this process's user + system time)."""
import sys
import time

from PIL import Image


def main():
    paths = [p for p in open(sys.argv[1]).read().split("\n") if p]
    out = bytearray(len(paths) * 32 * 32)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            im.draft("L", (32, 32))
            small = im.convert("L").resize((32, 32), Image.BOX)
            out[i * 1024:(i + 1) * 1024] = small.tobytes()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(f"{len(paths)} {seconds:.4f} {len(paths) / seconds:.1f} {len(paths) / cpu:.1f}")


main()
