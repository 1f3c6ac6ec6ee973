#!/usr/bin/env python3
# usage: python3 make_reference.py <this folder>   (Pillow 9.4, as Debian 12 python3-pil has it)
# Reference images for LanczosResizeTest: Pillow's Image.resize(..., LANCZOS) (A1111's "Just resize") of a test pattern
# computed by the same formula in the test. Run with Debian's python3-pil; the outputs are committed as PNGs.
import sys
from PIL import Image
W, H = 37, 29
def pattern(x, y, c):
    v = (x * 29 + y * 53 + c * 71 + (x * y) % 23 * 11) % 256
    if (x // 5 + y // 4 + c) % 3 == 0:  # hard edges: Lanczos' negative lobes overshoot and clip
        v = 255 if v > 127 else 0
    return v
im = Image.new("RGB", (W, H))
im.putdata([tuple(pattern(x, y, c) for c in range(3)) for y in range(H) for x in range(W)])
out = sys.argv[1]
for w, h in [(64, 48), (16, 24), (40, 8), (8, 64), (37, 16), (72, 29), (13, 11)]:
    im.resize((w, h), resample=Image.LANCZOS).save(f"{out}/{w}x{h}.png")
print(Image.__version__ if hasattr(Image, "__version__") else "ok")
