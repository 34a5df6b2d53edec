// `npm run icons` (node scripts/tray-icons.ts): draws the app's icons into resources/icons.
//
// - The tray icons, one per state of app/main/tray-model.ts, as tray-STATE.png (16 px) and
//   tray-STATE@2x.png (32 px, which Electron picks on high-DPI screens); macOS template images
//   (tray-STATETemplate.png); for Windows' notification area tray-STATE-win-dark.ico and
//   tray-STATE-win-light.ico (16 to 48 px each, for a dark or a light taskbar).
// - The application icon, the logo of the renderer's header (LogoIcon in
//   app/renderer/src/components/icons.tsx: a blue shield with a white mesh), as app/512x512.png and
//   app/256x256.png; electron-builder.yml's linux.icon names that folder, and the deb/rpm install them
//   into the hicolor theme.
//
// Drawn from shape functions with supersampling and written as PNG with node:zlib, so no image tool or
// package is needed. The output is committed; rerun after a change.

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

/**
 * Windows' notification area: the same shapes in colours for a dark taskbar (Windows' default) and
 * for a light one (Settings > Personalization > Colors, "Windows mode"): the grey ring lighter or
 * darker, amber and green deepened on a light taskbar, where the plain ones are faint.
 */
const WINDOWS_PALETTES: Record<'dark' | 'light', Record<'grey' | 'amber' | 'green' | 'red', Rgb>> = {
  dark: {
    grey: [0xb4, 0xbc, 0xc6],
    amber: [0xf0, 0xb4, 0x29],
    green: [0x3f, 0xbf, 0x62],
    red: [0xe5, 0x53, 0x4b],
  },
  light: {
    grey: [0x5f, 0x6b, 0x78],
    amber: [0xb8, 0x79, 0x0b],
    green: [0x2e, 0x8f, 0x47],
    red: [0xc9, 0x35, 0x35],
  },
};
/** The sizes each .ico holds: 16 px at 100 % scaling up to 48 px at 300 %. */
export const WINDOWS_ICO_SIZES = [16, 20, 24, 32, 40, 48] as const;

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

/** The tray icons in one Windows palette. */
export function windowsIcons(taskbar: 'dark' | 'light'): Record<string, Layer[]> {
  const palette = WINDOWS_PALETTES[taskbar];
  const swap = (color: Rgb): Rgb =>
    color === GREY
      ? palette.grey
      : color === AMBER
        ? palette.amber
        : color === GREEN
          ? palette.green
          : color === RED
            ? palette.red
            : color;
  return Object.fromEntries(
    Object.entries(ICONS).map(([state, layers]) => [
      state,
      layers.map((layer) => ({ shape: layer.shape, color: swap(layer.color) })),
    ]),
  );
}

// ---- the application icon: the header logo, drawn in its 32x32 viewBox ----

const BLUE: Rgb = [0x1b, 0x5b, 0xc4];
type Point = readonly [number, number];

/** The cubic Bézier from p0 to p3 as `steps` straight segments (its end points included). */
function cubic(p0: Point, p1: Point, p2: Point, p3: Point, steps = 32): Point[] {
  return Array.from({ length: steps + 1 }, (_, i) => {
    const t = i / steps;
    const u = 1 - t;
    const mix = (k: 0 | 1) =>
      u * u * u * p0[k] + 3 * u * u * t * p1[k] + 3 * u * t * t * p2[k] + t * t * t * p3[k];
    return [mix(0), mix(1)] as const;
  });
}

/** Even-odd point-in-polygon. */
const polygon = (points: readonly Point[]): Shape => {
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return (x, y) => {
    if (x < left || x > right || y < top || y > bottom) return false;
    let inside = false;
    for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
      const [xi, yi] = points[i]!;
      const [xj, yj] = points[j]!;
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  };
};

/** Within `width / 2` of any of the segments: a stroked polyline with round joins and caps. */
const strokes =
  (segments: ReadonlyArray<readonly [Point, Point]>, width: number): Shape =>
  (x, y) =>
    segments.some(([[ax, ay], [bx, by]]) => {
      const [dx, dy] = [bx - ax, by - ay];
      const t = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)));
      return Math.hypot(x - (ax + t * dx), y - (ay + t * dy)) <= width / 2;
    });

/** A shape given in the 32-unit viewBox, for the 0..1 coordinates render() samples. */
const inViewBox =
  (shape: Shape): Shape =>
  (x, y) =>
    shape(x * 32, y * 32);

/** M16 2 4 7v8c0 7.4 5.1 13.3 12 15 6.9-1.7 12-7.6 12-15V7L16 2Z */
const shield = polygon([
  [16, 2],
  [4, 7],
  ...cubic([4, 15], [4, 22.4], [9.1, 28.3], [16, 30]),
  ...cubic([16, 30], [22.9, 28.3], [28, 22.4], [28, 15]),
  [28, 7],
]);

/** M10.5 12.5 16 9.5l5.5 3v6L16 21.5l-5.5-3v-6Zm0 0L16 15.5m0 0 5.5-3M16 15.5v6, stroke 1.7 */
const hexagon: Point[] = [
  [10.5, 12.5],
  [16, 9.5],
  [21.5, 12.5],
  [21.5, 18.5],
  [16, 21.5],
  [10.5, 18.5],
];
const mesh = strokes(
  [
    ...hexagon.map((point, i) => [point, hexagon[(i + 1) % hexagon.length]!] as const),
    [
      [10.5, 12.5],
      [16, 15.5],
    ],
    [
      [16, 15.5],
      [21.5, 12.5],
    ],
    [
      [16, 15.5],
      [16, 21.5],
    ],
  ],
  1.7,
);

export const APP_ICON: Layer[] = [
  { shape: inViewBox(shield), color: BLUE },
  { shape: inViewBox(mesh), color: WHITE },
];
/** The sizes electron-builder installs (hicolor/NxN/apps); 512 is the largest it takes. */
export const APP_ICON_SIZES = [512, 256] as const;

/** RGBA pixels, painted layer over layer with the coverage of each pixel as its alpha. */
export function render(layers: Layer[], size: number, samples = 4): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let [r, g, b, a] = [0, 0, 0, 0];
      for (const layer of layers) {
        let hits = 0;
        for (let sy = 0; sy < samples; sy++)
          for (let sx = 0; sx < samples; sx++)
            if (layer.shape((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size)) hits++;
        const coverage = hits / (samples * samples);
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

/**
 * The macOS menu bar's template image of an icon (tray-STATEtemplate.png): black, its shape in the
 * alpha channel only (macOS tints it for light and dark menu bars), white layers cut out of it.
 */
export function renderTemplate(layers: Layer[], size: number, samples = 4): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  const isWhite = (layer: Layer) => layer.color.every((channel) => channel === 0xff);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let hits = 0;
      for (let sy = 0; sy < samples; sy++)
        for (let sx = 0; sx < samples; sx++) {
          const [x, y] = [(px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size];
          const inked = layers.some((layer) => !isWhite(layer) && layer.shape(x, y));
          if (inked && !layers.some((layer) => isWhite(layer) && layer.shape(x, y))) hits++;
        }
      pixels[(py * size + px) * 4 + 3] = Math.round((hits / (samples * samples)) * 255);
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

/**
 * A Windows .ico of RGBA images: ICONDIR, one ICONDIRENTRY per image, then each image as a 32-bit
 * DIB (BITMAPINFOHEADER with twice the height, BGRA rows bottom-up, then the 1-bit AND mask, set where
 * the pixel is fully transparent, for renderers that ignore alpha). DIBs rather than PNG entries: every
 * Windows icon loader reads them.
 */
export function encodeIco(images: ReadonlyArray<{ size: number; rgba: Buffer }>): Buffer {
  const header = Buffer.alloc(6 + 16 * images.length);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2); // type 1: icon
  header.writeUInt16LE(images.length, 4);
  const bodies: Buffer[] = [];
  let offset = header.length;
  images.forEach(({ size, rgba }, index) => {
    const maskStride = Math.ceil(size / 32) * 4;
    const info = Buffer.alloc(40);
    info.writeUInt32LE(40, 0);
    info.writeInt32LE(size, 4);
    info.writeInt32LE(size * 2, 8); // the XOR image and the AND mask
    info.writeUInt16LE(1, 12); // planes
    info.writeUInt16LE(32, 14); // bits per pixel
    info.writeUInt32LE(size * size * 4 + maskStride * size, 20);
    const pixels = Buffer.alloc(size * size * 4);
    const mask = Buffer.alloc(maskStride * size);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const from = (y * size + x) * 4;
        const row = size - 1 - y;
        const to = (row * size + x) * 4;
        pixels.set([rgba[from + 2]!, rgba[from + 1]!, rgba[from]!, rgba[from + 3]!], to);
        if (rgba[from + 3] === 0) mask[row * maskStride + (x >> 3)]! |= 0x80 >> (x & 7);
      }
    const body = Buffer.concat([info, pixels, mask]);
    const entry = 6 + 16 * index;
    header.writeUInt8(size >= 256 ? 0 : size, entry);
    header.writeUInt8(size >= 256 ? 0 : size, entry + 1);
    header.writeUInt8(0, entry + 2); // no palette
    header.writeUInt8(0, entry + 3);
    header.writeUInt16LE(1, entry + 4); // planes
    header.writeUInt16LE(32, entry + 6); // bits per pixel
    header.writeUInt32LE(body.length, entry + 8);
    header.writeUInt32LE(offset, entry + 12);
    offset += body.length;
    bodies.push(body);
  });
  return Buffer.concat([header, ...bodies]);
}

async function main(): Promise<void> {
  const dir = new URL('../resources/icons/', import.meta.url);
  await mkdir(new URL('app/', dir), { recursive: true });
  for (const size of APP_ICON_SIZES) {
    const file = new URL(`app/${size}x${size}.png`, dir);
    await writeFile(file, encodePng(render(APP_ICON, size), size));
    console.log(file.pathname);
  }
  for (const [state, layers] of Object.entries(ICONS)) {
    for (const [size, suffix] of [
      [16, ''],
      [32, '@2x'],
    ] as const) {
      const file = new URL(`tray-${state}${suffix}.png`, dir);
      await writeFile(file, encodePng(render(layers, size), size));
      console.log(file.pathname);
      // macOS: Electron makes a file whose name ends in "Template" a template image.
      const template = new URL(`tray-${state}Template${suffix}.png`, dir);
      await writeFile(template, encodePng(renderTemplate(layers, size), size));
      console.log(template.pathname);
    }
  }
  // Windows: tray-STATE-win-dark.ico and tray-STATE-win-light.ico (app/main/tray-icon-file.ts).
  for (const taskbar of ['dark', 'light'] as const)
    for (const [state, layers] of Object.entries(windowsIcons(taskbar))) {
      const file = new URL(`tray-${state}-win-${taskbar}.ico`, dir);
      const images = WINDOWS_ICO_SIZES.map((size) => ({ size, rgba: render(layers, size) }));
      await writeFile(file, encodeIco(images));
      console.log(file.pathname);
    }
}

if (import.meta.main) await main();
