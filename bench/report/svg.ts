import type { BenchResults, RatioColumn, RatioResult, RowResult, ScenarioResult } from "../harness/results.js";
import { formatRatio } from "./format.js";

/** One bar of the chart. */
interface Bar {
  readonly label: string;
  readonly ratio: RatioResult;
  readonly subject: boolean;
  readonly column: RatioColumn;
}

interface Section {
  readonly title: string;
  readonly bars: Bar[];
  readonly target?: RatioColumn["target"];
}

const WIDTH = 980;
const LABEL_WIDTH = 380;
const PLOT_LEFT = LABEL_WIDTH + 20;
const PLOT_WIDTH = WIDTH - PLOT_LEFT - 90;
const ROW_HEIGHT = 20;
const SECTION_GAP = 34;
const TOP = 92;

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function sections(scenarios: readonly ScenarioResult[]): Section[] {
  const result: Section[] = [];
  for (const scenario of scenarios) {
    if (scenario.status !== "ok") continue;
    for (const column of scenario.ratioColumns.filter((c) => c.chart)) {
      const bars: Bar[] = [];
      for (const row of scenario.rows) {
        const bar = barFor(row, column);
        if (bar !== null) bars.push(bar);
      }
      if (bars.length === 0) continue;
      const better = scenario.metrics[column.metric]?.better === "higher" ? "higher is better" : "lower is better";
      const name = scenario.title.replace(/:.*$/, "");
      result.push({
        title: `${name} — ${column.header} (${better})`,
        bars,
        ...(column.target ? { target: column.target } : {}),
      });
    }
  }
  return result;
}

function barFor(row: RowResult, column: RatioColumn): Bar | null {
  const against = column.against[row.transport];
  if (row.status !== "ok" || against === undefined || against === row.id) return null;
  const ratio = row.ratios.find((r) => r.metric === column.metric && r.against === against);
  if (ratio === undefined || !Number.isFinite(ratio.median)) return null;
  return { label: row.label, ratio, subject: row.subject, column };
}

/**
 * A horizontal bar chart of the ratios (median bar, min–max whisker), one section per charted
 * ratio, with the line at 1 (the baseline) and the issue's target as a dashed line. Plain SVG,
 * written by hand: no charting dependency.
 */
export function renderSvg(results: BenchResults): string {
  const all = sections(results.scenarios);
  const highest = Math.max(
    2,
    ...all.flatMap((s) => s.bars.map((b) => b.ratio.max)),
    ...all.map((s) => s.target?.bound ?? 0),
  );
  const xMax = Math.min(8, Math.ceil(highest * 2) / 2);
  const step = xMax > 4 ? 1 : 0.5;
  const x = (ratio: number): number => PLOT_LEFT + (Math.max(0, Math.min(ratio, xMax)) / xMax) * PLOT_WIDTH;
  const height = TOP + all.reduce((sum, s) => sum + SECTION_GAP + s.bars.length * ROW_HEIGHT, 0) + 30;
  const out: string[] = [];
  const { meta } = results;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">repod-rx against its baselines: ratios (median bar, min–max whisker)</text>`,
    `<text x="16" y="44" fill="#444">${escape(`${meta.date.slice(0, 10)} · Node ${meta.node} · ${meta.cpu} × ${meta.cores} cores · ${meta.platform} · load ${meta.loadAverage.start[0]!.toFixed(1)}${meta.quick ? " · quick mode" : ""}`)}</text>`,
    `<text x="16" y="62" fill="#444">Baseline = 1 (raw node:net / raw ws with the same msgpack codec, or the switch loop). Dashed red line: the issue's target.</text>`,
  );
  for (let tick = 0; tick <= xMax + 1e-9; tick += step) {
    const tx = x(tick);
    out.push(
      `<line x1="${tx}" y1="${TOP - 12}" x2="${tx}" y2="${height - 24}" stroke="${tick === 1 ? "#333" : "#e2e2e2"}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${TOP - 16}" text-anchor="middle" fill="#555">${tick}×</text>`,
    );
  }
  let y = TOP;
  for (const section of all) {
    y += SECTION_GAP;
    out.push(`<text x="16" y="${y - 10}" font-weight="bold">${escape(section.title)}</text>`);
    const top = y;
    for (const bar of section.bars) {
      const { median, min, max } = bar.ratio;
      const cy = y + ROW_HEIGHT / 2;
      const met =
        section.target === undefined || !bar.subject
          ? null
          : section.target.op === "<="
            ? median <= section.target.bound
            : median >= section.target.bound;
      const fill = !bar.subject ? "#a0aec0" : met === null ? "#3182ce" : met ? "#38a169" : "#dd6b20";
      out.push(
        `<text x="${LABEL_WIDTH}" y="${cy + 4}" text-anchor="end">${escape(bar.label)}</text>`,
        `<rect x="${PLOT_LEFT}" y="${y + 3}" width="${Math.max(1, x(median) - PLOT_LEFT)}" height="${ROW_HEIGHT - 6}" fill="${fill}"/>`,
        `<line x1="${x(min)}" y1="${cy}" x2="${x(max)}" y2="${cy}" stroke="#1a202c"/>`,
        `<line x1="${x(min)}" y1="${cy - 4}" x2="${x(min)}" y2="${cy + 4}" stroke="#1a202c"/>`,
        `<line x1="${x(max)}" y1="${cy - 4}" x2="${x(max)}" y2="${cy + 4}" stroke="#1a202c"/>`,
        `<text x="${x(Math.max(median, max)) + 6}" y="${cy + 4}" fill="#1a202c">${formatRatio(median)}×${median > xMax ? " (off scale)" : ""}</text>`,
      );
      y += ROW_HEIGHT;
    }
    if (section.target !== undefined) {
      const tx = x(section.target.bound);
      out.push(
        `<line x1="${tx}" y1="${top}" x2="${tx}" y2="${y}" stroke="#e53e3e" stroke-width="2" stroke-dasharray="5,3"/>`,
        `<text x="${PLOT_LEFT + PLOT_WIDTH + 80}" y="${top - 10}" text-anchor="end" fill="#e53e3e">target ${section.target.op === "<=" ? "≤" : "≥"} ${section.target.bound}</text>`,
      );
    }
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
