// node scripts/tray-icons.ts: draws the tray icons into resources/icons, one per state of
// app/main/tray-model.ts, as tray-STATE.png (16 px) and tray-STATE@2x.png (32 px, which Electron picks
// on high-DPI screens). Drawn from distance functions with 4x4 supersampling and written as PNG with
// node:zlib, so no image tool or package is needed. The output is committed; rerun after a change.

import { mkdir, writeFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';

type Rgb = readonly [number, number, number];
/** Whether the point (x, y), in units of the icon's size (0..1), is inside the shape. */
type Shape = (x: number, y: number) => boolean;

interface Layer {
  shape: Shape;
  color: Rgb;
}

const GREY: Rgb = [0x8a, 0x93, 0x9e];
const AMBER: Rgb = [0xe8, 0xa3, 0x17];
const GREEN: Rgb = [0x2e, 0xa8, 0x4f];
const RED: Rgb = [0xd9, 0x3a, 0x3a];
const WHITE: Rgb = [0xff, 0xff, 0xff];

const distance = (x: number, y: number) => Math.hypot(x - 0.5, y - 0.5);
const disc =
  (radius: number): Shape =>
  (x, y) =>
    distance(x, y) <= radius;
const ring =
  (outer: number, inner: number): Shape =>
  (x, y) => {
    const d = distance(x, y);
    return d <= outer && d >= inner;
  };
const bar: Shape = (x, y) => Math.abs(y - 0.5) <= 0.09 && Math.abs(x - 0.5) <= 0.25;

/** Disconnected: a grey ring. Connecting: an amber ring with a dot. Connected: a green disc with a
 *  white dot. Error: a red disc with a white bar. Shape as well as colour, for colour-blind eyes. */
const ICONS: Record<string, Layer[]> = {
  disconnected: [{ shape: ring(0.47, 0.31), color: GREY }],
  connecting: [
    { shape: ring(0.47, 0.31), color: AMBER },
    { shape: disc(0.14), color: AMBER },
  ],
  connected: [
    { shape: disc(0.47), color: GREEN },
    { shape: disc(0.14), color: WHITE },
  ],
  error: [
    { shape: disc(0.47), color: RED },
    { shape: bar, color: WHITE },
  ],
};

const SAMPLES = 4;

/** RGBA pixels, painted layer over layer with the coverage of each pixel as its alpha. */
function render(layers: Layer[], size: number): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let [r, g, b, a] = [0, 0, 0, 0];
      for (const layer of layers) {
        let hits = 0;
        for (let sy = 0; sy < SAMPLES; sy++)
          for (let sx = 0; sx < SAMPLES; sx++)
            if (layer.shape((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size)) hits++;
        const coverage = hits / (SAMPLES * SAMPLES);
        // "Over" compositing, with colours kept unpremultiplied.
        const out = coverage + a * (1 - coverage);
        if (out === 0) continue;
        [r, g, b] = [0, 1, 2].map(
          (i) => (layer.color[i]! * coverage + [r, g, b][i]! * a * (1 - coverage)) / out,
        ) as [number, number, number];
        a = out;
      }
      pixels.set([Math.round(r), Math.round(g), Math.round(b), Math.round(a * 255)], (py * size + px) * 4);
    }
  }
  return pixels;
}

function chunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  typeAndData.copy(out, 4);
  out.writeUInt32BE(crc32(typeAndData), 8 + data.length);
  return out;
}

/** An 8-bit RGBA PNG: IHDR, one IDAT of unfiltered scanlines, IEND. */
export function encodePng(pixels: Buffer, size: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type RGBA, deflate, no filter method, no interlace
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) pixels.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function main(): Promise<void> {
  const dir = new URL('../resources/icons/', import.meta.url);
  await mkdir(dir, { recursive: true });
  for (const [state, layers] of Object.entries(ICONS)) {
    for (const [size, suffix] of [
      [16, ''],
      [32, '@2x'],
    ] as const) {
      const file = new URL(`tray-${state}${suffix}.png`, dir);
      await writeFile(file, encodePng(render(layers, size), size));
      console.log(file.pathname);
    }
  }
}

if (import.meta.main) await main();
