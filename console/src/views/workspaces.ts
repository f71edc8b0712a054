// Workspaces: their stats, embedder and last ingest; a folder or archive dropped here becomes an ingest job;
// deleting one asks for its name to be typed.

import {
  chooseWorkspace,
  currentWorkspace,
  deleteJson,
  describe,
  getJson,
  send,
  WORKSPACE_NAME,
  type ListOf,
  type Workspace,
} from "../api";
import { errorLine, formatCount, formatTime, h, replace } from "../dom";
import { go, link } from "../router";
import { ARCHIVE, folderFromEntry, folderFromFiles, folderFromInput, zipFolder, type PickedFolder } from "../zip";

interface Upload {
  name: string;
  blob: Blob;
  filename: string;
}

export function workspacesView(root: HTMLElement): void {
  const table = h("div", { class: "table-wrap" }, h("p", { class: "muted" }, "Loading workspaces…"));
  const result = h("div", { class: "result" });

  const load = async (): Promise<void> => {
    try {
      const list = await getJson<ListOf<Workspace>>("/v1/workspaces", { workspace: false });
      replace(table, list.data.length ? workspaceTable(list.data, result, load) : emptyNote());
    } catch (error) {
      replace(table, errorLine(describe(error)));
    }
  };
  root.append(
    h("h1", null, "Workspaces"),
    table,
    result,
    uploadPanel(),
  );
  void load();
}

function emptyNote(): HTMLElement {
  return h("p", { class: "muted" }, "No workspace holds anything yet: ingest a codebase below.");
}

function embedderText(workspace: Workspace): string {
  return workspace.embedder ? `${workspace.embedder.name} (${workspace.embedder.dimensions} d)` : "—";
}

function lastIngest(workspace: Workspace): HTMLElement | string {
  const last = workspace.last_ingest;
  if (!last) return "—";
  return h(
    "a",
    { href: link("jobs", [last.job_id]), class: `status status-${last.state}` },
    `${last.state} · ${last.kind} · ${formatTime(last.finished_at ?? last.created_at)}`,
  );
}

function workspaceTable(workspaces: Workspace[], result: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const body = h("tbody");
  for (const workspace of workspaces) {
    const open = h(
      "button",
      { type: "button", class: "link", on: { click: () => (chooseWorkspace(workspace.name), go("#/graph")) } },
      workspace.name,
    );
    const row = h(
      "tr",
      { "data-workspace": workspace.name, class: workspace.name === currentWorkspace() ? "selected" : undefined },
      h("td", null, open),
      h("td", { class: "num" }, formatCount(workspace.files)),
      h("td", { class: "num" }, formatCount(workspace.entities)),
      h("td", { class: "num" }, formatCount(workspace.relations)),
      h("td", { class: "num" }, formatCount(workspace.chunks)),
      h("td", null, embedderText(workspace)),
      h("td", null, lastIngest(workspace)),
      h("td", null, deleteControl(workspace.name, result, reload)),
    );
    body.append(row);
  }
  return h(
    "table",
    { id: "workspaces" },
    h("thead", null, h("tr", null,
      ["workspace", "files", "entities", "relations", "chunks", "embedder", "last ingest", ""].map((t) => h("th", null, t)))),
    body,
  );
}

/** A delete button that opens a typed confirmation: the button only works once the name is typed exactly. */
function deleteControl(name: string, result: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const cell = h("div", { class: "confirm" });
  const ask = (): void => {
    const typed = h("input", { type: "text", placeholder: name, "aria-label": `type ${name} to confirm`, spellcheck: "false" });
    const confirm = h("button", { type: "button", class: "danger", disabled: true }, "Delete");
    const cancel = h("button", { type: "button", class: "quiet", on: { click: () => replace(cell, opener) } }, "Cancel");
    typed.addEventListener("input", () => (confirm.disabled = typed.value !== name));
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        const done = await deleteJson<{ files: number; sessions: number }>(`/v1/workspaces/${encodeURIComponent(name)}`, {
          workspace: false,
        });
        replace(result, h("p", { class: "ok" }, `Deleted ${name}: ${done.files} files and ${done.sessions} sessions forgotten.`));
        window.dispatchEvent(new CustomEvent("sparkctl:workspaces-changed"));
        await reload();
      } catch (error) {
        replace(result, errorLine(describe(error)));
        confirm.disabled = false;
      }
    });
    replace(cell, h("span", null, "Type its name to delete graph, vectors, documents and sessions: "), typed, confirm, cancel);
    typed.focus();
  };
  const opener = h("button", { type: "button", class: "quiet danger-text", on: { click: ask } }, "Delete…");
  cell.append(opener);
  return cell;
}

function uploadPanel(): HTMLElement {
  const name = h("input", { id: "ingest-workspace", value: currentWorkspace(), spellcheck: "false", "aria-label": "workspace name" });
  const prose = h("input", { type: "checkbox", id: "ingest-prose", checked: true });
  const reindex = h("input", { type: "checkbox", id: "ingest-reindex" });
  const status = h("div", { id: "ingest-status", role: "status" });
  const folderInput = h("input", { type: "file", id: "folder-input", webkitdirectory: true, multiple: true });
  const archiveInput = h("input", {
    type: "file",
    id: "archive-input",
    accept: ".zip,.tar,.tgz,.tar.gz,.tar.bz2,.tar.xz",
  });
  const drop = h(
    "div",
    { class: "drop", id: "drop-zone", tabindex: "0" },
    h("strong", null, "Drop a folder or an archive here"),
    h("span", { class: "muted" }, " (zip, tar, tar.gz, tar.bz2, tar.xz; a folder is zipped in the browser)"),
  );

  const workspaceName = (): string | null => {
    const value = name.value.trim();
    if (WORKSPACE_NAME.test(value)) return value;
    replace(status, errorLine("A workspace name is 1 to 64 letters, digits, _ or -."));
    return null;
  };

  const submit = async (upload: Upload): Promise<void> => {
    const workspace = workspaceName();
    if (!workspace) return;
    replace(status, h("p", { class: "muted" }, `Uploading ${upload.filename} (${formatCount(upload.blob.size)} bytes)…`));
    const form = new FormData();
    form.append("file", upload.blob, upload.filename);
    form.append("name", upload.name);
    form.append("prose", prose.checked ? "true" : "false");
    form.append("reindex", reindex.checked ? "true" : "false");
    try {
      const response = await send("POST", "/v1/codebase/ingest", { body: form, workspace });
      const queued = (await response.json()) as { jobs: { id: string }[] };
      window.dispatchEvent(new CustomEvent("sparkctl:workspaces-changed"));
      chooseWorkspace(workspace);
      go(link("jobs", [queued.jobs[0].id]));
    } catch (error) {
      replace(status, errorLine(`The orchestrator refused the upload: ${describe(error)}`));
    }
  };

  const submitFolder = async (folder: PickedFolder): Promise<void> => {
    if (!workspaceName()) return;
    if (!folder.files.length) {
      replace(status, errorLine(`${folder.name} holds no file to ingest.`));
      return;
    }
    const line = h("p", { class: "muted" }, `Zipping ${folder.name}…`);
    replace(
      status,
      line,
      folder.skipped.length ? h("p", { class: "muted" }, `Left out: ${folder.skipped.join(", ")}`) : null,
    );
    try {
      const blob = await zipFolder(folder, (done, total) => (line.textContent = `Zipping ${folder.name}: ${done} of ${total} files`));
      await submit({ name: folder.name, blob, filename: `${folder.name}.zip` });
    } catch (error) {
      replace(status, errorLine(`Could not zip ${folder.name}: ${describe(error)}`));
    }
  };

  const submitArchive = (file: File): Promise<void> =>
    submit({ name: file.name.replace(ARCHIVE, "") || "codebase", blob: file, filename: file.name });

  folderInput.addEventListener("change", () => {
    if (folderInput.files?.length) void submitFolder(folderFromInput(folderInput.files));
    folderInput.value = "";
  });
  archiveInput.addEventListener("change", () => {
    const file = archiveInput.files?.[0];
    if (file) void submitArchive(file);
    archiveInput.value = "";
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const transfer = event.dataTransfer;
    if (!transfer) return;
    const entries = Array.from(transfer.items)
      .map((item) => item.webkitGetAsEntry())
      .filter((entry): entry is FileSystemEntry => entry !== null);
    const files = Array.from(transfer.files);
    const folder = entries.find((entry) => entry.isDirectory) as FileSystemDirectoryEntry | undefined;
    if (folder) void folderFromEntry(folder).then(submitFolder, (error) => replace(status, errorLine(describe(error))));
    else if (files.length === 1 && ARCHIVE.test(files[0].name)) void submitArchive(files[0]);
    else if (files.length) void folderFromFiles(name.value.trim() || "files", files).then(submitFolder);
  });

  return h(
    "section",
    { class: "panel", id: "ingest" },
    h("h2", null, "Ingest a codebase"),
    h("label", null, "into workspace ", name),
    drop,
    h(
      "div",
      { class: "pickers" },
      h("label", { class: "button" }, "Choose a folder…", folderInput),
      h("label", { class: "button" }, "Choose an archive…", archiveInput),
    ),
    h(
      "div",
      { class: "options" },
      h("label", null, prose, " extract documents with the model (Markdown, PDF, text)"),
      h("label", null, reindex, " clear the workspace first and index anew"),
    ),
    status,
  );
}
