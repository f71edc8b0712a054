// Health: each service the orchestrator needs and each model server, from GET /ready (its 503 reports too).

import { describe, send, type Readiness } from "../api";
import { errorLine, h, replace } from "../dom";

export function healthView(root: HTMLElement): void {
  const content = h("div", { id: "health" }, h("p", { class: "muted" }, "Asking the orchestrator…"));
  const load = async (): Promise<void> => {
    try {
      const response = await send("GET", "/ready", { workspace: false, accept: [503] });
      const report = (await response.json()) as Readiness;
      replace(
        content,
        h("p", null, "orchestrator: ", h("span", { class: `status status-${report.status === "ready" ? "up" : "down"}`, id: "readiness" }, report.status)),
        report.error ? errorLine(report.error.message) : null,
        h("h2", null, "Services"),
        h("table", { id: "services", class: "compact" },
          h("tbody", null, Object.entries(report.services).map(([name, state]) =>
            h("tr", { "data-service": name }, h("td", null, name), h("td", null, h("span", { class: `status status-${state}` }, state)))))),
        h("h2", null, "Model servers"),
        report.models?.length
          ? h("table", { id: "model-servers" },
              h("thead", null, h("tr", null, ["server", "state", "models it lists", "context of the catalog's models", "error"].map((t) => h("th", null, t)))),
              h("tbody", null, report.models.map((server) => h("tr", null,
                h("td", null, h("code", null, server.url)),
                h("td", null, h("span", { class: `status status-${server.reachable ? "up" : "down"}` }, server.reachable ? "reachable" : "unreachable")),
                h("td", null, server.models.join(", ") || "—"),
                h("td", null, Object.entries(server.context).map(([model, context]) => `${model}: ${context ?? "?"}`).join(", ") || "—"),
                h("td", null, server.error ?? "")))))
          : h("p", { class: "muted" }, "No model server reported."),
      );
    } catch (error) {
      replace(content, errorLine(describe(error)));
    }
  };
  root.append(
    h("h1", null, "Health"),
    h("button", { type: "button", on: { click: () => void load() } }, "Check again"),
    content,
  );
  void load();
}
