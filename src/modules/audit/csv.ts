// RFC 4180 CSV for compliance exports, as the access-log export writes it: quoted where needed,
// CRLF rows, and a leading quote on any cell a spreadsheet would run as a formula.

export function csvCell(v: unknown): string {
  let s = v == null ? '' : typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: readonly unknown[][]): string {
  return [header.join(','), ...rows.map((r) => r.map(csvCell).join(','))].join('\r\n') + '\r\n';
}
