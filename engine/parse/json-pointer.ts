/** RFC 6901 JSON pointers: the addresses diagnostics use to name a place in a document. */

/** Escape one segment (`~` -> `~0`, `/` -> `~1`). */
export function escapePointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** `['rules', 2, 'when']` -> `/rules/2/when`. The root is the empty string. */
export function joinPointer(segments: ReadonlyArray<string | number>): string {
  return segments.map((segment) => `/${escapePointerSegment(segment)}`).join('');
}

/** `/rules/2/when` -> `['rules', '2', 'when']`. */
export function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The pointer one level up; the root's parent is the root. */
export function parentPointer(pointer: string): string {
  const index = pointer.lastIndexOf('/');
  return index <= 0 ? '' : pointer.slice(0, index);
}
