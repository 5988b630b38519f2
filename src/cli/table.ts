/** Rows as aligned columns (two spaces apart, trailing blanks trimmed), under a header row when given. */
export function table(header: readonly string[] | null, rows: ReadonlyArray<readonly string[]>): string {
  const all = header === null ? rows : [header, ...rows];
  const widths = (all[0] ?? []).map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
