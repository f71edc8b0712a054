// The console's shell: the key prompt, the navigation, the workspace selector, and the view of the current route.

import "./style.css";
import {
  chooseWorkspace,
  currentWorkspace,
  describe,
  forgetKey,
  getJson,
  keepKey,
  storedKey,
  WORKSPACE_NAME,
  type ListOf,
  type Workspace,
} from "./api";
import { h, replace } from "./dom";
import { currentRoute, type Cleanup, type View } from "./router";
import { chatView } from "./views/chat";
import { graphView } from "./views/graph";
import { healthView } from "./views/health";
import { jobsView } from "./views/jobs";
import { sessionsView } from "./views/sessions";
import { workspacesView } from "./views/workspaces";

const VIEWS: { name: string; title: string; view: View }[] = [
  { name: "workspaces", title: "Workspaces", view: workspacesView },
  { name: "jobs", title: "Jobs", view: jobsView },
  { name: "graph", title: "Graph", view: graphView },
  { name: "chat", title: "Chat", view: chatView },
  { name: "sessions", title: "Sessions", view: sessionsView },
  { name: "health", title: "Health", view: healthView },
];

const app = document.getElementById("app") as HTMLElement;
const main = h("main", { id: "view" });
const known = h("datalist", { id: "workspace-names" });
const workspaceInput = h("input", {
  id: "workspace",
  list: "workspace-names",
  value: currentWorkspace(),
  spellcheck: "false",
  autocomplete: "off",
  "aria-label": "workspace",
  title: "the workspace the views show (X-Workspace)",
});
const navLinks = VIEWS.map(({ name, title }) => h("a", { href: `#/${name}`, "data-view": name }, title));
let stop: Cleanup | void;

function renderRoute(): void {
  if (stop) stop();
  stop = undefined;
  const route = currentRoute();
  const found = VIEWS.find((entry) => entry.name === route.name);
  if (!found) {
    window.location.replace("#/workspaces");
    return;
  }
  for (const anchor of navLinks) anchor.classList.toggle("current", anchor.dataset.view === found.name);
  main.replaceChildren();
  main.dataset.view = found.name;
  stop = found.view(main, route);
}

export async function refreshWorkspaceNames(): Promise<void> {
  try {
    const list = await getJson<ListOf<Workspace>>("/v1/workspaces", { workspace: false });
    replace(known, ...list.data.map((workspace) => h("option", { value: workspace.name })));
  } catch {
    // the selector still takes a typed name
  }
}

workspaceInput.addEventListener("change", () => {
  const name = workspaceInput.value.trim();
  workspaceInput.classList.toggle("invalid", !WORKSPACE_NAME.test(name));
  if (WORKSPACE_NAME.test(name)) chooseWorkspace(name);
});
window.addEventListener("sparkctl:workspace", () => {
  workspaceInput.value = currentWorkspace();
  if (!app.classList.contains("locked")) renderRoute();
});
window.addEventListener("sparkctl:workspaces-changed", () => void refreshWorkspaceNames());
window.addEventListener("sparkctl:unauthorized", (event) => {
  if (app.classList.contains("locked")) return;
  forgetKey();
  keyPrompt((event as CustomEvent<string>).detail);
});

const header = h(
  "header",
  null,
  h("span", { class: "brand" }, "sparkctl"),
  h("nav", null, navLinks),
  h("label", { class: "workspace" }, "workspace ", workspaceInput, known),
  h("button", { type: "button", class: "quiet", id: "forget-key", on: { click: () => (forgetKey(), keyPrompt()) } },
    "Forget key"),
);

function showConsole(): void {
  app.classList.remove("locked");
  replace(app, header, main);
  window.addEventListener("hashchange", renderRoute);
  void refreshWorkspaceNames();
  renderRoute();
}

/** Ask for the API key; kept in this tab's session storage until "Forget key" or the tab closes. */
function keyPrompt(reason?: string): void {
  if (stop) stop();
  stop = undefined;
  window.removeEventListener("hashchange", renderRoute);
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off", "aria-label": "API key" });
  const message = h("p", { class: "error", role: "alert" }, reason ?? "");
  const form = h(
    "form",
    {
      class: "key-prompt",
      on: {
        submit: async (event: SubmitEvent) => {
          event.preventDefault();
          keepKey(input.value.trim());
          try {
            await getJson("/v1/models", { workspace: false });
          } catch (error) {
            forgetKey();
            message.textContent = describe(error);
            return;
          }
          showConsole();
        },
      },
    },
    h("h1", null, "sparkctl console"),
    h("p", null, "The orchestrator's API key (SPARKCTL_API_KEYS). It stays in this tab's session storage only."),
    h("label", null, "API key ", input),
    h("button", { type: "submit" }, "Open the console"),
    h("p", { class: "hint" }, "Leave it empty when the orchestrator has no keys configured."),
    message,
  );
  app.classList.add("locked");
  replace(app, form);
  input.focus();
}

if (storedKey() === null) keyPrompt();
else showConsole();
