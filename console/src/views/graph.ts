// Graph explorer: search an entity, draw its neighbourhood with Cytoscape (node types in colour, edges labelled
// by relation), click a node for its source location and chunks, double-click to re-centre on it.

import cytoscape from "cytoscape";
import { ApiFailure, describe, getJson, type EntityDetail, type EntityHit, type Neighbourhood } from "../api";
import { errorLine, formatCount, h, replace } from "../dom";
import { go, link, type Cleanup, type Route } from "../router";

/** The colours of node types, in the order types are met; style.css has the same list as .type-0 … .type-9. */
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#8c8c8c"];
const PREFERRED = ["module", "class", "function", "method", "type", "document", "file", "variable", "concept"];
const CAPS = [50, 200, 500];
const DEFAULT_CAP = 200;
/** A small neighbourhood is not blown up past this zoom to fill the canvas. */
const MAX_FIT_ZOOM = 1.4;

export interface DrawnGraph {
  centre: string;
  nodes: () => { id: string; type: string; x: number; y: number }[];
  edges: () => { source: string; target: string; relation: string }[];
}

declare global {
  interface Window {
    /** A read-only view of the drawn graph (ids, types, on-screen positions), for tests and the curious. */
    sparkctlGraph?: Readonly<DrawnGraph>;
  }
}

function expose(cy: cytoscape.Core, centre: string): void {
  window.sparkctlGraph = Object.freeze({
    centre,
    nodes: () => cy.nodes().map((node) => {
      const at = node.renderedPosition();
      return { id: node.id(), type: String(node.data("type")), x: at.x, y: at.y };
    }),
    edges: () => cy.edges().map((edge) => ({ source: edge.source().id(), target: edge.target().id(),
      relation: String(edge.data("relation")) })),
  });
}

function typeIndex(type: string, order: string[]): number {
  const preferred = PREFERRED.indexOf(type.toLowerCase());
  if (preferred >= 0) return preferred;
  const seen = order.indexOf(type);
  return (PREFERRED.length + (seen < 0 ? order.length : seen)) % PALETTE.length;
}

/** Cytoscape adds a <style> element to the page unless one with this id exists; the CSP would refuse that one,
 * so a placeholder takes its place and style.css holds the rule it would have added. */
function keepCytoscapeFromAddingStyle(): void {
  const id = "__________cytoscape_stylesheet";
  if (!document.getElementById(id)) document.head.prepend(h("meta", { id, name: "cytoscape-style" }));
}

function location(file: string | null, start: number | null, end: number | null = null): string {
  if (!file) return "no source file";
  if (start === null) return file;
  return end !== null && end !== start ? `${file}:${start}-${end}` : `${file}:${start}`;
}

/** How many edges each node is from the centre: the layout puts each distance on its own ring. */
function hops(graph: Neighbourhood, centre: string): Map<string, number> {
  const next = new Map<string, string[]>();
  for (const edge of graph.edges) {
    next.set(edge.source, [...(next.get(edge.source) ?? []), edge.target]);
    next.set(edge.target, [...(next.get(edge.target) ?? []), edge.source]);
  }
  const distance = new Map([[centre, 0]]);
  const queue = [centre];
  for (let index = 0; index < queue.length; index++) {
    const here = queue[index];
    for (const there of next.get(here) ?? []) {
      if (!distance.has(there)) {
        distance.set(there, (distance.get(here) ?? 0) + 1);
        queue.push(there);
      }
    }
  }
  return distance;
}

export function graphView(root: HTMLElement, route: Route): Cleanup {
  const entity = route.query.get("entity");
  const depth = Math.min(3, Math.max(1, Number(route.query.get("depth") ?? 1) || 1));
  const query = h("input", { type: "search", id: "entity-search", placeholder: "an entity's name: module, class, function…",
    value: route.query.get("q") ?? "", spellcheck: "false", "aria-label": "entity name" });
  const asked = Math.round(Number(route.query.get("max") ?? DEFAULT_CAP));
  const cap = Number.isFinite(asked) ? Math.min(500, Math.max(1, asked)) : DEFAULT_CAP;
  const capSelect = h("select", { id: "max-nodes", "aria-label": "most nodes drawn" },
    [...new Set([...CAPS, cap])].sort((a, b) => a - b).map((value) =>
      h("option", { value, selected: value === cap ? true : undefined }, `≤ ${value} nodes`)));
  const where = (id: string): string => link("graph", [], { entity: id, depth: depthSelect.value, max: capSelect.value });
  const depthSelect = h("select", { id: "depth", "aria-label": "depth" },
    [1, 2, 3].map((value) => h("option", { value, selected: value === depth ? true : undefined }, `depth ${value}`)));
  const results = h("ul", { class: "results", id: "entity-results" });
  const status = h("p", { id: "graph-status", role: "status", class: "muted" });
  const legend = h("ul", { class: "legend", id: "legend" });
  const canvas = h("div", { id: "graph-canvas", "data-nodes": "0", "data-edges": "0" });
  const panel = h("aside", { id: "node-panel", class: "panel" }, h("p", { class: "muted" }, "Click a node for its source and text; double-click to centre on it."));
  let cy: cytoscape.Core | null = null;

  const search = async (text: string): Promise<void> => {
    replace(results);
    if (!text.trim()) return;
    try {
      const found = await getJson<{ data: EntityHit[] }>(`/v1/graph/entities?q=${encodeURIComponent(text.trim())}&limit=20`);
      if (!found.data.length) {
        replace(results, h("li", { class: "muted" }, `No entity's name contains “${text.trim()}”.`));
        return;
      }
      replace(
        results,
        found.data.map((hit) =>
          h("li", null,
            h("a", { href: where(hit.id), "data-entity": hit.id }, hit.name),
            h("span", { class: "muted" }, ` ${hit.type}`, hit.file ? ` · ${hit.file}` : "")),
        ),
      );
    } catch (error) {
      replace(results, h("li", null, errorLine(describe(error))));
    }
  };

  const showNode = async (id: string, fallback: { file: string | null; line: number | null; type: string; label: string }): Promise<void> => {
    replace(panel,
      h("h2", null, fallback.label),
      h("p", { class: "muted" }, fallback.type, " · ", location(fallback.file, fallback.line)),
      h("p", { class: "muted" }, "Loading…"));
    try {
      const detail = await getJson<EntityDetail>(`/v1/graph/entities/${encodeURIComponent(id)}`);
      replace(
        panel,
        h("h2", null, detail.name),
        h("p", { class: "where" }, h("span", { class: "type-name" }, detail.type), " · ",
          h("code", { id: "node-location" }, location(detail.file, detail.line_start, detail.line_end))),
        h("p", null, h("a", { href: where(detail.id) }, "Centre the graph here")),
        detail.description ? h("pre", { class: "description" }, detail.description) : null,
        detail.chunks.length ? h("h3", null, `Chunks (${detail.chunks.length})`) : h("p", { class: "muted" }, "No chunk text stored."),
        detail.chunks.map((chunk) =>
          h("figure", { class: "chunk" },
            h("figcaption", { class: "muted" }, chunk.file ?? chunk.id),
            h("pre", null, chunk.text),
            chunk.truncated ? h("p", { class: "muted" }, "(cut short)") : null)),
        detail.truncated ? h("p", { class: "muted" }, "Chunk texts are cut short.") : null,
      );
    } catch (error) {
      panel.append(errorLine(describe(error)));
    }
  };

  const draw = (graph: Neighbourhood, centre: string): void => {
    keepCytoscapeFromAddingStyle();
    const types: string[] = [];
    for (const node of graph.nodes) if (!types.includes(node.type)) types.push(node.type);
    const colour = (type: string) => PALETTE[typeIndex(type, types)];
    const distance = hops(graph, centre);
    const seen = getComputedStyle(canvas);
    const ink = seen.color;
    const paper = seen.backgroundColor;
    const muted = getComputedStyle(status).color;
    const rings = Math.max(0, ...distance.values()) + 1;
    cy?.destroy();
    cy = cytoscape({
      container: canvas,
      elements: [
        ...graph.nodes.map((node) => ({
          group: "nodes" as const,
          data: { ...node, colour: colour(node.type), size: 18 + Math.min(node.degree, 30) },
          classes: node.id === centre ? "centre" : "",
        })),
        ...graph.edges.map((edge) => ({ group: "edges" as const, data: { ...edge } })),
      ],
      style: [
        { selector: "node", style: { "background-color": "data(colour)", label: "data(label)", width: "data(size)",
          height: "data(size)", "font-size": 11, color: ink, "text-valign": "bottom", "text-margin-y": 4,
          "text-max-width": "160px", "text-wrap": "ellipsis", "text-background-color": paper,
          "text-background-opacity": 0.8, "text-background-padding": "1px" } },
        { selector: "node.centre", style: { "border-width": 4, "border-color": ink, "font-weight": "bold" } },
        { selector: "node:selected", style: { "border-width": 4, "border-color": "#e15759" } },
        { selector: "edge", style: { width: 1.2, "line-color": "#9a9aa2", "target-arrow-color": "#9a9aa2",
          "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(relation)", "font-size": 9,
          color: muted, "text-rotation": "autorotate", "text-background-color": paper, "text-background-opacity": 0.8,
          "text-background-padding": "1px" } },
      ],
      layout: {
        name: "concentric",
        animate: false,
        concentric: (node: cytoscape.NodeSingular) => rings - (distance.get(node.id()) ?? rings),
        levelWidth: () => 1,
        minNodeSpacing: 48,
        spacingFactor: 1.3,
        avoidOverlap: true,
      },
      minZoom: 0.1,
      maxZoom: 4,
    });
    if (cy.zoom() > MAX_FIT_ZOOM) {
      cy.zoom(MAX_FIT_ZOOM);
      cy.center();
    }
    canvas.dataset.nodes = String(cy.nodes().length);
    canvas.dataset.edges = String(cy.edges().length);
    canvas.dataset.centre = centre;
    expose(cy, centre);
    cy.on("tap", "node", (event) => {
      const data = event.target.data();
      void showNode(data.id, { file: data.file, line: data.line, type: data.type, label: data.label });
    });
    cy.on("dbltap", "node", (event) => go(where(event.target.id())));
    status.textContent = graph.truncated
      ? `showing ${formatCount(graph.nodes.length)} of ${formatCount(graph.total_nodes)} nodes (and ${formatCount(graph.edges.length)} of ${formatCount(graph.total_edges)} edges): the neighbourhood was cut at ${cap} nodes`
      : `showing ${formatCount(graph.nodes.length)} nodes and ${formatCount(graph.edges.length)} edges`;
    replace(legend, types.map((type) =>
      h("li", { "data-type": type }, h("span", { class: `swatch type-${typeIndex(type, types)}` }), `${type} (${graph.nodes.filter((n) => n.type === type).length})`)));
  };

  const open = async (id: string): Promise<void> => {
    status.textContent = "Loading the neighbourhood…";
    try {
      const graph = await getJson<Neighbourhood>(
        `/v1/graph/neighbourhood?entity=${encodeURIComponent(id)}&depth=${depth}&max_nodes=${cap}`,
      );
      draw(graph, id);
      const centre = graph.nodes.find((node) => node.id === id);
      if (centre) void showNode(centre.id, centre);
    } catch (error) {
      if (error instanceof ApiFailure && error.code === "entity_not_found") {
        status.textContent = `No entity ${id} here; entities whose name contains it:`;
        query.value = id;
        void search(id);
      } else {
        status.textContent = "";
        status.append(errorLine(describe(error)));
      }
    }
  };

  const form = h("form", { class: "search", on: { submit: (event: SubmitEvent) => {
    event.preventDefault();
    void search(query.value);
  } } }, query, depthSelect, capSelect, h("button", { type: "submit" }, "Search"));
  for (const select of [depthSelect, capSelect]) {
    select.addEventListener("change", () => {
      if (entity) go(where(entity));
    });
  }

  root.append(
    h("h1", null, "Graph"),
    form,
    results,
    status,
    h("div", { class: "graph-layout" }, h("div", { class: "graph-main" }, canvas, legend), panel),
  );
  if (entity) void open(entity);
  else if (query.value) void search(query.value);
  return () => {
    cy?.destroy();
    window.sparkctlGraph = undefined;
  };
}
