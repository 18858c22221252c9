/** @file Text tables for the CLI (numbers are formatted by src-shared/format.ts, shared with the renderer). */

/** Left-aligned columns; `rule` draws dashes under the first row, as wide as each column. */
export function table(rows: readonly (readonly string[])[], opts: { rule?: boolean } = {}): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  const lines = rows.map(line);
  if (opts.rule) lines.splice(1, 0, line(widths.map((w) => '-'.repeat(w))));
  return lines.join('\n');
}
