// Arrow-key movement in tab lists and list boxes (WAI-ARIA practices). Pure (no DOM).

/**
 * The index a key moves to among `count` items, or null when the key does not move. Horizontal
 * lists (tabs) use Left/Right and wrap; vertical ones (list boxes) use Up/Down and stop at the ends.
 */
export function moveIndex(
  key: string,
  index: number,
  count: number,
  orientation: 'horizontal' | 'vertical',
): number | null {
  if (count === 0) return null;
  const [back, forward] =
    orientation === 'horizontal' ? ['ArrowLeft', 'ArrowRight'] : ['ArrowUp', 'ArrowDown'];
  const wrap = orientation === 'horizontal';
  if (key === 'Home') return 0;
  if (key === 'End') return count - 1;
  if (key === forward) return wrap ? (index + 1) % count : Math.min(count - 1, index + 1);
  if (key === back) return wrap ? (index - 1 + count) % count : Math.max(0, index - 1);
  return null;
}
