import { type SecondPoint } from './stats.js';

/**
 * An SVG of one run's concurrent phase over time: latency percentiles (top) and completed sagas per
 * second (bottom). Hand-drawn, so the bench needs no charting dependency.
 */
export function chartSvg(title: string, points: SecondPoint[]): string {
  const width = 900;
  const panel = 220;
  const margin = { left: 70, right: 20, top: 40, gap: 50 };
  const plotWidth = width - margin.left - margin.right;
  const height = margin.top + panel * 2 + margin.gap + 40;
  const seconds = Math.max(1, points.length);
  const x = (second: number) => margin.left + (second / seconds) * plotWidth;
  const finite = (v: number) => Number.isFinite(v);
  const maxLatency = Math.max(1, ...points.map((p) => p.p99).filter(finite));
  const maxRate = Math.max(1, ...points.map((p) => p.completed));
  const yLatency = (v: number) => margin.top + panel - (v / maxLatency) * panel;
  const rateTop = margin.top + panel + margin.gap;
  const yRate = (v: number) => rateTop + panel - (v / maxRate) * panel;

  const line = (key: 'p50' | 'p95' | 'p99', color: string) => {
    const path = points
      .filter((p) => finite(p[key]))
      .map((p, i) => `${i ? 'L' : 'M'}${x(p.second + 0.5).toFixed(1)},${yLatency(p[key]).toFixed(1)}`)
      .join(' ');
    return `<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`;
  };
  const bars = points
    .map((p) => {
      const top = yRate(p.completed);
      return `<rect x="${x(p.second).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, plotWidth / seconds - 1).toFixed(1)}" height="${(rateTop + panel - top).toFixed(1)}" fill="#4c78a8"/>`;
    })
    .join('');
  const axis = (top: number, max: number, unit: string) =>
    [0, 0.5, 1]
      .map((f) => {
        const y = top + panel - f * panel;
        return `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y}" y2="${y}" stroke="#ddd"/>` +
          `<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${Math.round(max * f)} ${unit}</text>`;
      })
      .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="${margin.left}" y="20" font-size="14">${escapeXml(title)}</text>
${axis(margin.top, maxLatency, 'ms')}${line('p50', '#2a9d8f')}${line('p95', '#e9c46a')}${line('p99', '#e76f51')}
<text x="${width - margin.right}" y="${margin.top - 6}" text-anchor="end">POST→terminal latency: <tspan fill="#2a9d8f">p50</tspan> <tspan fill="#e9c46a">p95</tspan> <tspan fill="#e76f51">p99</tspan></text>
${axis(rateTop, maxRate, '/s')}${bars}
<text x="${width - margin.right}" y="${rateTop - 6}" text-anchor="end">sagas completed per second</text>
<text x="${margin.left + plotWidth / 2}" y="${height - 10}" text-anchor="middle">seconds into the phase</text>
</svg>
`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
