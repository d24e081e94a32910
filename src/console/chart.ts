import type { DailyCount } from '../modules/audit/activity.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Colour-blind-safe palette (Okabe-Ito); each series is also named in the legend and the table.
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000'];

/**
 * A server-rendered SVG: allowed accesses per day stacked by agency, denials as a separate
 * hatched bar beside them. The page also has the same numbers as a table (the accessible form).
 */
export function activityChart(rows: DailyCount[], days: string[]): { svg: string; agencies: { name: string; colour: string }[] } {
  const agencies = [...new Set(rows.map((r) => r.agency))].sort();
  const colour = new Map(agencies.map((a, i) => [a, COLOURS[i % COLOURS.length]!]));
  const allowed = (d: string, a: string) => rows.filter((r) => r.day === d && r.agency === a && r.decision === 'allow').reduce((s, r) => s + r.n, 0);
  const denied = (d: string) => rows.filter((r) => r.day === d && r.decision === 'deny').reduce((s, r) => s + r.n, 0);
  const max = Math.max(
    1,
    ...days.map((d) =>
      Math.max(
        agencies.reduce((s, a) => s + allowed(d, a), 0),
        denied(d),
      ),
    ),
  );
  const W = 900,
    H = 260,
    left = 40,
    bottom = 30,
    slot = (W - left) / days.length,
    bar = Math.max(2, slot / 2 - 2);
  const y = (v: number) => ((H - bottom) * v) / max;
  const parts: string[] = [];
  days.forEach((d, i) => {
    const x = left + i * slot;
    let stack = 0;
    for (const a of agencies) {
      const v = allowed(d, a);
      if (!v) continue;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${(H - bottom - y(stack + v)).toFixed(1)}" width="${bar.toFixed(1)}" height="${y(v).toFixed(1)}" fill="${colour.get(a)}"><title>${esc(d)}: ${v} allowed, ${esc(a)}</title></rect>`,
      );
      stack += v;
    }
    const dv = denied(d);
    if (dv)
      parts.push(
        `<rect x="${(x + bar + 1).toFixed(1)}" y="${(H - bottom - y(dv)).toFixed(1)}" width="${bar.toFixed(1)}" height="${y(dv).toFixed(1)}" fill="url(#denied)" stroke="#b50909"><title>${esc(d)}: ${dv} denied</title></rect>`,
      );
    if (i % 5 === 0 || i === days.length - 1) parts.push(`<text x="${x.toFixed(1)}" y="${H - 10}" font-size="11">${esc(d.slice(5))}</text>`);
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title" class="console-chart">
<title id="chart-title">Accesses per day over the last ${days.length} days, allowed by agency, denials beside them (highest day: ${max})</title>
<defs><pattern id="denied" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b50909" stroke-width="3"/></pattern></defs>
<line x1="${left}" y1="${H - bottom}" x2="${W}" y2="${H - bottom}" stroke="#1b1b1b"/>
<text x="0" y="12" font-size="11">${max}</text><text x="0" y="${H - bottom}" font-size="11">0</text>
${parts.join('\n')}
</svg>`;
  return { svg, agencies: agencies.map((name) => ({ name, colour: colour.get(name)! })) };
}
