// Lineage pictures, drawn at build time: a task's neighbourhood (two hops up and two down) and a
// small pipeline's whole DAG, laid out by Graphviz `dot` (WebAssembly, @hpcc-js/wasm-graphviz) into
// SVG that the page inlines, so nodes are links and the browser never lays out a graph (dbt
// docs' in-browser layout freezes at a few hundred models).
//
// Bounded: each ring of the neighbourhood keeps at most RING_LIMIT tasks (sorted by name) and
// says how many it left out, so a fan-in of 10,000 still draws a small picture. Deterministic:
// same graph in, same bytes out (dot is deterministic; the version comment is dropped).
import type { PipelineDoc } from './model.js';

export const RING_LIMIT = 12;
/** A pipeline with more tasks than this gets no whole-DAG picture (it would not be readable). */
export const DAG_PICTURE_LIMIT = 60;

type Dot = { dot(text: string): string };
let graphviz: Promise<Dot> | undefined;
const load = (): Promise<Dot> =>
  (graphviz ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load() as Promise<Dot>));

/** Node ids a link placeholder is made of: `cellar-task:<name>`; pages swap it for a real URL. */
export const LINK_PREFIX = 'cellar-task:';

export interface Neighbourhood {
  focus: string;
  nodes: string[];
  edges: [string, string][];
  /** Per direction, tasks within two hops that were left out of the picture. */
  hidden: { up: number; down: number };
}

/** The tasks within two hops of `focus`, each ring capped at RING_LIMIT. */
export function neighbourhood(p: PipelineDoc, focus: string, index = byName(p)): Neighbourhood {
  const ring = (start: string[], next: (n: string) => string[]) => {
    const all = [...new Set(start.flatMap(next))].filter((n) => n !== focus).sort();
    return { kept: all.slice(0, RING_LIMIT), hidden: Math.max(0, all.length - RING_LIMIT) };
  };
  const up = (n: string) => index.get(n)?.upstream ?? [];
  const down = (n: string) => index.get(n)?.downstream ?? [];
  const up1 = ring([focus], up);
  const up2 = ring(up1.kept, up);
  const down1 = ring([focus], down);
  const down2 = ring(down1.kept, down);
  const nodes = [...new Set([focus, ...up1.kept, ...up2.kept, ...down1.kept, ...down2.kept])];
  const set = new Set(nodes);
  const edges: [string, string][] = [];
  for (const n of nodes) for (const u of up(n)) if (set.has(u)) edges.push([u, n]);
  edges.sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
  return {
    focus,
    nodes: nodes.sort(),
    edges,
    hidden: { up: up1.hidden + up2.hidden, down: down1.hidden + down2.hidden },
  };
}

export function byName(p: PipelineDoc): Map<string, { upstream: string[]; downstream: string[] }> {
  return new Map(p.tasks.map((t) => [t.name, t]));
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/** DOT text of a graph; `focus` is highlighted, every node links to its task page. */
export function dotText(
  nodes: string[],
  edges: [string, string][],
  focus?: string,
  hidden?: { up: number; down: number },
): string {
  const lines = [
    'digraph lineage {',
    '  rankdir=LR; bgcolor="transparent"; nodesep=0.25; ranksep=0.4;',
    '  node [shape=box, style="rounded,filled", fillcolor="#f4f4f5", color="#71717a", fontname="Helvetica", fontsize=11, height=0.3];',
    '  edge [color="#71717a", arrowsize=0.6];',
  ];
  for (const n of nodes) {
    const attrs = [`URL=${quote(LINK_PREFIX + n)}`, `tooltip=${quote(`task ${n}`)}`];
    if (n === focus) attrs.push('fillcolor="#fde68a"', 'color="#b45309"', 'penwidth=1.5');
    lines.push(`  ${quote(n)} [${attrs.join(', ')}];`);
  }
  for (const [a, b] of edges) lines.push(`  ${quote(a)} -> ${quote(b)};`);
  if (hidden?.up)
    lines.push(
      `  "__up" [label=${quote(`+${hidden.up} more upstream`)}, style="dashed,rounded", fillcolor="none"];`,
    );
  if (hidden?.down)
    lines.push(
      `  "__down" [label=${quote(`+${hidden.down} more downstream`)}, style="dashed,rounded", fillcolor="none"];`,
    );
  lines.push('}');
  return lines.join('\n');
}

/** Lay out DOT text as an inline-ready `<svg>` (no XML prolog, no version comment). */
export async function renderSvg(dot: string): Promise<string> {
  const svg = (await load()).dot(dot);
  return svg
    .slice(svg.indexOf('<svg'))
    .replace(/<!--[\s\S]*?-->\n?/g, '')
    .replace(/<title>[^<]*<\/title>\n?/g, '')
    .trim();
}

/** Every task's lineage SVG and, for small pipelines, the whole DAG: name → svg (`''` key: the DAG). */
export async function drawPipeline(p: PipelineDoc): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const index = byName(p);
  for (const t of p.tasks) {
    const n = neighbourhood(p, t.name, index);
    out.set(t.name, await renderSvg(dotText(n.nodes, n.edges, t.name, n.hidden)));
  }
  if (p.tasks.length <= DAG_PICTURE_LIMIT) {
    const edges = p.tasks.flatMap((t) => t.upstream.map((u): [string, string] => [u, t.name]));
    out.set(
      '',
      await renderSvg(
        dotText(
          p.tasks.map((t) => t.name),
          edges,
        ),
      ),
    );
  }
  return out;
}
