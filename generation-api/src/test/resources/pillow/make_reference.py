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

# A1111's img2img resize_mode 1 ("Crop and resize") and 2 ("Resize and fill"), as modules/images.py does them with Pillow
# (its fill bands call resize without a filter: Pillow's default, bicubic)
def crop_and_resize(im, width, height):
    ratio, src_ratio = width / height, im.width / im.height
    src_w = width if ratio > src_ratio else im.width * height // im.height
    src_h = height if ratio <= src_ratio else im.height * width // im.width
    res = Image.new("RGB", (width, height))
    res.paste(im.resize((src_w, src_h), resample=Image.LANCZOS), box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res

def resize_and_fill(im, width, height):
    ratio, src_ratio = width / height, im.width / im.height
    src_w = width if ratio < src_ratio else im.width * height // im.height
    src_h = height if ratio >= src_ratio else im.height * width // im.width
    resized = im.resize((src_w, src_h), resample=Image.LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    if ratio < src_ratio:
        fill = height // 2 - src_h // 2
        if fill > 0:
            res.paste(resized.resize((width, fill), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(resized.resize((width, fill), box=(0, resized.height, width, resized.height)), box=(0, fill + src_h))
    elif ratio > src_ratio:
        fill = width // 2 - src_w // 2
        if fill > 0:
            res.paste(resized.resize((fill, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(resized.resize((fill, height), box=(resized.width, 0, resized.width, height)), box=(fill + src_w, 0))
    return res

for w, h in [(64, 32), (24, 64), (74, 58), (40, 40)]:
    crop_and_resize(im, w, h).save(f"{out}/crop-{w}x{h}.png")
for w, h in [(64, 32), (24, 64), (33, 64), (74, 58), (40, 40)]:
    resize_and_fill(im, w, h).save(f"{out}/fill-{w}x{h}.png")

# A1111's images.flatten of an RGBA image onto its img2img background colour (PngTest): Pillow's alpha_composite
rgba = Image.new("RGBA", (16, 16))
rgba.putdata([((x * 37 + y * 11) % 256, (x * 5 + y * 71) % 256, (x * y * 3) % 256, (x * 16 + y) % 256 if y < 15 else 255)
              for y in range(16) for x in range(16)])
rgba.save(f"{out}/rgba.png")
for name, bg in [("white", "#ffffff"), ("teal", "#20a0c0")]:
    background = Image.new("RGBA", rgba.size, bg)
    background.alpha_composite(rgba)
    background.convert("RGB").save(f"{out}/flat-{name}.png")

# A1111's inpainting steps with Pillow (InpaintMaskTest): create_binary_mask of an RGB and of an RGBA mask, the
# latent mask (the pixel mask resized to the latent's size with Pillow's default filter, then rounded), and
# apply_overlay of the init image through mask_for_overlay (the mask doubled) onto a decoded image
from PIL import ImageOps
colours = Image.new("RGB", (16, 16))
colours.putdata([((x * 53 + y * 7) % 256, (x * 11 + y * 29) % 256, (x * y * 5) % 256) for y in range(16) for x in range(16)])
colours.save(f"{out}/mask-rgb.png")
colours.convert("L").point(lambda v: 255 if v > 128 else 0).convert("RGB").save(f"{out}/mask-rgb-binary.png")
rgba.split()[-1].convert("L").point(lambda v: 255 if v > 128 else 0).convert("RGB").save(f"{out}/mask-rgba-binary.png")
pixels = Image.new("L", (64, 48))
pixels.putdata([min(255, max(0, (x - 20) * 9 + (y - 24) * 4)) for y in range(48) for x in range(64)])
pixels.save(f"{out}/mask-pixels.png")
latent = pixels.convert("RGB").resize((8, 6))
latent.point(lambda v: 255 if v / 255 >= 0.5 else 0).save(f"{out}/mask-latent.png")
init = Image.new("RGB", (64, 48))
init.putdata([((x * 4) % 256, (y * 5) % 256, (x * y) % 256) for y in range(48) for x in range(64)])
init.save(f"{out}/overlay-init.png")
decoded = Image.new("RGB", (64, 48))
decoded.putdata([((x * 7 + 100) % 256, (y * 3 + 50) % 256, (x + y * 2) % 256) for y in range(48) for x in range(64)])
decoded.save(f"{out}/overlay-decoded.png")
for_overlay = pixels.point(lambda v: min(255, 2 * v))
masked = Image.new("RGBa", init.size)
masked.paste(init.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(for_overlay.convert("L")))
result = decoded.convert("RGBA")
result.alpha_composite(masked.convert("RGBA"))
result.convert("RGB").save(f"{out}/overlay-result.png")

# Transparency kept in a tRNS chunk (PngTest): a palette image (as pngquant writes), a grey and an RGB one with a
# transparent colour; the expected alpha is Pillow's, after convert("RGBA")
pal = Image.new("P", (16, 8))
pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
pal.putdata([(x // 4) for y in range(8) for x in range(16)])
pal.save(f"{out}/trns-palette.png", transparency=bytes([0, 128, 255, 0]))
grey = Image.new("L", (16, 8))
grey.putdata([(x * 16) for y in range(8) for x in range(16)])
grey.save(f"{out}/trns-grey.png", transparency=64)
rgbt = Image.new("RGB", (16, 8))
rgbt.putdata([((x * 16), 7, 9) for y in range(8) for x in range(16)])
rgbt.save(f"{out}/trns-rgb.png", transparency=(48, 7, 9))
for name in ["palette", "grey", "rgb"]:
    Image.open(f"{out}/trns-{name}.png").convert("RGBA").split()[-1].save(f"{out}/trns-{name}-alpha.png")
