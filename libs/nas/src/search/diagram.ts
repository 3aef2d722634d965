// Cell diagrams as SVG, in the style of the DARTS plots and the RelativeNAS paper's figure 1: the
// two cell inputs c_{k-2} and c_{k-1}, the intermediate nodes, the output c_{k}, and one arrow per
// edge labelled with its op. Each edge can be marked with where it came from when a student moved
// towards its teacher: kept from before, taken over from the teacher, or neither. Dagre lays the
// graph out; this file only draws what dagre placed.
import dagre from '@dagrejs/dagre';
import { CELL_TYPES, type CellType, type Edge, type Genotype } from '../genotype';

/** Where an edge of a genotype came from in the last student move. */
export type EdgeOrigin = 'kept' | 'teacher' | 'moved';

export type EdgeOrigins = Record<CellType, EdgeOrigin[]>;

const STYLE: Record<EdgeOrigin | 'plain', { stroke: string; dash: string; legend: string }> = {
  plain: { stroke: '#444444', dash: '', legend: '' },
  kept: { stroke: '#1f77b4', dash: '', legend: 'kept by the student' },
  teacher: { stroke: '#d62728', dash: '', legend: 'taken over from the teacher' },
  moved: { stroke: '#7f7f7f', dash: '5,3', legend: 'neither (moved elsewhere)' },
};

function sameEdge(a: Edge | undefined, b: Edge | undefined): boolean {
  return a !== undefined && b !== undefined && a[0] === b[0] && a[1] === b[1];
}

/**
 * Marks each edge of `after` (a student after its move): 'kept' when the student had the same
 * edge before, else 'teacher' when its teacher has it, else 'moved'.
 */
export function edgeOrigins(before: Genotype, teacher: Genotype, after: Genotype): EdgeOrigins {
  const mark = (cell: CellType): EdgeOrigin[] =>
    after[cell].map((edge, e) =>
      sameEdge(edge, before[cell][e]) ? 'kept' : sameEdge(edge, teacher[cell][e]) ? 'teacher' : 'moved',
    );
  return { normal: mark('normal'), reduce: mark('reduce') };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const FONT = 12;
const CHAR_WIDTH = 7;
const NODE_HEIGHT = 28;

function textWidth(text: string): number {
  return text.length * CHAR_WIDTH + 16;
}

function stateName(state: number): string {
  return state === 0 ? 'c_{k-2}' : state === 1 ? 'c_{k-1}' : String(state - 2);
}

interface Panel {
  svg: string;
  width: number;
  height: number;
}

interface EdgeLabelData {
  text: string;
  origin: EdgeOrigin | 'plain';
  width: number;
  height: number;
  labelpos: 'c';
  points?: { x: number; y: number }[];
  x?: number;
  y?: number;
}

interface NodeLabelData {
  text: string;
  kind: 'input' | 'node' | 'output';
  width: number;
  height: number;
  x?: number;
  y?: number;
}

/** One cell laid out by dagre, drawn at the origin. */
function cellPanel(
  edges: readonly Edge[],
  concat: readonly number[],
  origins: EdgeOrigin[] | undefined,
): Panel {
  const g = new dagre.graphlib.Graph<Record<string, unknown>, NodeLabelData, EdgeLabelData>({
    multigraph: true,
  });
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 60, edgesep: 8, marginx: 8, marginy: 8 });
  const steps = edges.length / 2;
  const addNode = (id: string, text: string, kind: NodeLabelData['kind']): void => {
    g.setNode(id, { text, kind, width: textWidth(text), height: NODE_HEIGHT });
  };
  addNode('s0', stateName(0), 'input');
  addNode('s1', stateName(1), 'input');
  for (let j = 0; j < steps; j++) addNode(`s${j + 2}`, stateName(j + 2), 'node');
  addNode('out', 'c_{k}', 'output');
  edges.forEach(([op, input], e) => {
    const origin = origins?.[e] ?? 'plain';
    g.setEdge(
      `s${input}`,
      `s${(e >> 1) + 2}`,
      { text: op, origin, width: textWidth(op), height: FONT + 4, labelpos: 'c' },
      `e${e}`,
    );
  });
  for (const state of concat) {
    g.setEdge(
      `s${state}`,
      'out',
      { text: '', origin: 'plain', width: 0, height: 0, labelpos: 'c' },
      `c${state}`,
    );
  }
  dagre.layout(g);

  const parts: string[] = [];
  for (const id of g.edges()) {
    const label = g.edge(id);
    const style = STYLE[label.origin];
    const points = label.points ?? [];
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const dash = style.dash === '' ? '' : ` stroke-dasharray="${style.dash}"`;
    const marker = label.origin === 'plain' ? 'arrow-plain' : `arrow-${label.origin}`;
    parts.push(
      `<path d="${d}" fill="none" stroke="${style.stroke}" stroke-width="1.6"${dash} marker-end="url(#${marker})"/>`,
    );
    if (label.text !== '' && label.x !== undefined && label.y !== undefined) {
      // A white box under the op name keeps it legible where arrows cross.
      parts.push(
        `<rect x="${(label.x - label.width / 2 + 4).toFixed(1)}" y="${(label.y - label.height / 2).toFixed(1)}" ` +
          `width="${label.width - 8}" height="${label.height}" fill="white" fill-opacity="0.85"/>`,
      );
      parts.push(
        `<text x="${label.x.toFixed(1)}" y="${(label.y + FONT / 3).toFixed(1)}" text-anchor="middle" ` +
          `fill="${style.stroke}">${escapeXml(label.text)}</text>`,
      );
    }
  }
  const fills: Record<NodeLabelData['kind'], string> = {
    input: '#a1d99b',
    node: '#9ecae1',
    output: '#fdd0a2',
  };
  for (const id of g.nodes()) {
    const n = g.node(id);
    const x = (n.x ?? 0) - n.width / 2;
    const y = (n.y ?? 0) - n.height / 2;
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${n.width}" height="${n.height}" rx="6" ` +
        `fill="${fills[n.kind]}" stroke="#333333"/>`,
      `<text x="${(n.x ?? 0).toFixed(1)}" y="${((n.y ?? 0) + FONT / 3).toFixed(1)}" text-anchor="middle">${escapeXml(n.text)}</text>`,
    );
  }
  const graph = g.graph() as { width?: number; height?: number };
  return { svg: parts.join('\n'), width: Math.ceil(graph.width ?? 0), height: Math.ceil(graph.height ?? 0) };
}

export interface DiagramOptions {
  /** A title line over the diagram (e.g. the generation and the validation loss). */
  title?: string;
  /** Edge origins to colour by; without them edges are drawn plain and there is no legend. */
  origins?: EdgeOrigins;
}

/** Both cells of a genotype as one standalone SVG document. */
export function genotypeSvg(genotype: Genotype, options: DiagramOptions = {}): string {
  const panels = CELL_TYPES.map((cell) => ({
    cell,
    panel: cellPanel(
      genotype[cell],
      cell === 'normal' ? genotype.normalConcat : genotype.reduceConcat,
      options.origins?.[cell],
    ),
  }));
  const margin = 12;
  const heading = FONT + 10;
  let y = margin;
  const body: string[] = [];
  if (options.title !== undefined) {
    body.push(`<text x="${margin}" y="${y + FONT}" font-weight="bold">${escapeXml(options.title)}</text>`);
    y += heading;
  }
  let width = 0;
  for (const { cell, panel } of panels) {
    body.push(`<text x="${margin}" y="${y + FONT}" font-style="italic">${cell} cell</text>`);
    y += heading;
    body.push(`<g transform="translate(${margin},${y})">\n${panel.svg}\n</g>`);
    y += panel.height + margin;
    width = Math.max(width, panel.width);
  }
  if (options.origins !== undefined) {
    let x = margin;
    for (const origin of ['kept', 'teacher', 'moved'] as const) {
      const s = STYLE[origin];
      const dash = s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
      body.push(
        `<line x1="${x}" y1="${y + 6}" x2="${x + 24}" y2="${y + 6}" stroke="${s.stroke}" stroke-width="2"${dash}/>`,
        `<text x="${x + 30}" y="${y + 10}">${escapeXml(s.legend)}</text>`,
      );
      x += 40 + textWidth(s.legend);
    }
    width = Math.max(width, x);
    y += heading;
  }
  const markers = (['plain', 'kept', 'teacher', 'moved'] as const)
    .map(
      (m) =>
        `<marker id="arrow-${m}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" ` +
        `orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${STYLE[m].stroke}"/></marker>`,
    )
    .join('');
  const w = width + 2 * margin;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${y}" viewBox="0 0 ${w} ${y}" ` +
    `font-family="Helvetica, Arial, sans-serif" font-size="${FONT}">\n<defs>${markers}</defs>\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`
  );
}
