"""What tests/timeline.test reads in rpcver's timeline, as a person would.

    timeline_check.py structure FILE.svg
        The SVG parsed (xml.etree): per method, each step line's values and
        steps, the marks, the bands' versions, the plot's rectangle; printed
        as JSON.
    timeline_check.py pixels FILE.png FILE.svg METHOD
        A screenshot of the SVG (headless Chromium) read back: how many
        pixels are not white, and how many times the negotiated line of
        METHOD steps, counted in pixels of its colour (#1f5fbf, used by
        nothing else in the plot): a column of the plot where that colour
        runs more than 4 pixels high is a riser, and adjacent risers are one
        step.  Printed as JSON.

Standard library only: the PNG is decoded here (8-bit RGB or RGBA, not
interlaced, the five filters), as Chromium writes its screenshots.
"""
import json
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"
NEGOTIATED = (0x1F, 0x5F, 0xBF)


def structure(path):
    root = ET.parse(path).getroot()
    out = {"root": root.tag, "width": root.get("width"),
           "height": root.get("height"), "methods": [],
           "scripts": len(root.findall(".//" + SVG + "script")),
           "text": " ".join("".join(t.itertext()) for t in root.iter(SVG + "text"))}
    for g in root.iter(SVG + "g"):
        if g.get("class") != "method":
            continue
        m = {"name": g.get("data-method"), "series": {}, "marks": {},
             "bands": [], "versions": []}
        for p in g.iter(SVG + "path"):
            cls = (p.get("class") or "").split()
            if cls[:1] == ["series"]:
                m["series"][cls[1]] = {"values": p.get("data-values"),
                                       "steps": int(p.get("data-steps"))}
            elif cls == ["band"]:
                m["bands"].append(p.get("data-version"))
        for e in g.iter():
            cls = (e.get("class") or "").split()
            if cls[:1] == ["mark"]:
                n = int(e.get("data-count", "1"))
                m["marks"][cls[1]] = m["marks"].get(cls[1], 0) + n
            if cls == ["plot"]:
                m["plot"] = [float(e.get(k)) for k in ("x", "y", "width", "height")]
            if cls == ["version"]:
                m["versions"].append(e.text)
        out["methods"].append(m)
    return out


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("not a PNG: " + path)
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise SystemExit("unsupported PNG: depth %d, colour type %d" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def near(px, colour, tol=14):
    return all(abs(px[k] - colour[k]) <= tol for k in range(3))


def pixels(png, svg, method):
    w, h, bpp, rows = read_png(png)
    nonwhite = sum(1 for r in rows for x in range(0, len(r), bpp)
                   if r[x] < 245 or r[x + 1] < 245 or r[x + 2] < 245)
    m = [m for m in structure(svg)["methods"] if m["name"] == method][0]
    x0, y0, pw, ph = m["plot"]
    risers, inside, columns = 0, False, 0
    for x in range(int(x0) + 2, int(x0 + pw) - 1):
        run = best = 0
        for y in range(int(y0), min(int(y0 + ph), h)):
            px = rows[y][x * bpp:x * bpp + 3]
            run = run + 1 if near(px, NEGOTIATED) else 0
            best = max(best, run)
        if best > 4:
            columns += 1
            if not inside:
                risers += 1
            inside = True
        else:
            inside = False
    line = sum(1 for y in range(int(y0), min(int(y0 + ph), h))
               for x in range(int(x0), int(x0 + pw))
               if near(rows[y][x * bpp:x * bpp + 3], NEGOTIATED))
    return {"width": w, "height": h, "nonwhite": nonwhite, "risers": risers,
            "riser_columns": columns, "negotiated_pixels": line}


if __name__ == "__main__":
    if sys.argv[1] == "structure":
        print(json.dumps(structure(sys.argv[2])))
    elif sys.argv[1] == "pixels":
        print(json.dumps(pixels(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        raise SystemExit("usage: timeline_check.py structure SVG | pixels PNG SVG METHOD")
