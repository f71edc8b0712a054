// Sessions: the workspace's chat sessions, one session's messages, and deleting one from every memory tier.

import { currentWorkspace, deleteJson, describe, getJson, type SessionInfo } from "../api";
import { errorLine, formatCount, formatTime, h, replace } from "../dom";
import { renderMarkdown } from "../markdown";
import { go, link, type Route } from "../router";

export function sessionsView(root: HTMLElement, route: Route): void {
  if (route.parts[0]) sessionDetail(root, route.parts[0]);
  else sessionList(root);
}

/** A delete button that asks once more before it deletes. */
function deleteButton(id: string, workspace: string, done: () => void, report: HTMLElement): HTMLElement {
  const button = h("button", { type: "button", class: "quiet danger-text" }, "Delete…");
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = "Delete from every tier?";
      button.classList.add("danger");
      return;
    }
    button.disabled = true;
    try {
      await deleteJson(`/v1/sessions/${encodeURIComponent(id)}`, { workspace });
      done();
    } catch (error) {
      replace(report, errorLine(describe(error)));
      button.disabled = false;
    }
  });
  return button;
}

function sessionList(root: HTMLElement): void {
  const workspace = currentWorkspace();
  const report = h("div");
  const table = h("div", null, h("p", { class: "muted" }, "Loading sessions…"));
  const load = async (): Promise<void> => {
    try {
      const list = await getJson<{ data: SessionInfo[] }>("/v1/sessions?limit=200", { workspace });
      if (!list.data.length) {
        replace(table, h("p", { class: "muted" }, "No chat session in this workspace yet."));
        return;
      }
      replace(table, h("table", { id: "sessions" },
        h("thead", null, h("tr", null, ["session", "turns", "updated", "summary", ""].map((t) => h("th", null, t)))),
        h("tbody", null, list.data.map((session) => h("tr", { "data-session": session.id },
          h("td", null, h("a", { href: link("sessions", [session.id]) }, session.id)),
          h("td", { class: "num" }, formatCount(session.user_turns)),
          h("td", null, formatTime(session.updated_at)),
          h("td", { class: "summary" }, session.summary ?? ""),
          h("td", null, deleteButton(session.id, workspace, () => void load(), report)))))));
    } catch (error) {
      replace(table, errorLine(describe(error)));
    }
  };
  root.append(h("h1", null, "Sessions in ", h("code", null, workspace)), report, table);
  void load();
}

function sessionDetail(root: HTMLElement, id: string): void {
  const workspace = currentWorkspace();
  const report = h("div");
  const content = h("div", null, h("p", { class: "muted" }, "Loading the session…"));
  root.append(h("p", null, h("a", { href: "#/sessions" }, "← all sessions")), h("h1", null, "Session ", h("code", null, id)), report, content);
  void (async () => {
    try {
      const info = await getJson<SessionInfo>(`/v1/sessions/${encodeURIComponent(id)}`, { workspace });
      replace(
        content,
        h("p", { class: "muted" }, `${formatCount(info.user_turns)} turns · started ${formatTime(info.created_at)} · last ${formatTime(info.updated_at)}`),
        h("div", { class: "toolbar" },
          h("a", { href: link("chat", [], { session: id }), class: "button" }, "Continue in chat"),
          deleteButton(id, workspace, () => go("#/sessions"), report)),
        info.summary ? h("section", { class: "panel" }, h("h2", null, "Summary"), h("p", null, info.summary)) : null,
        h("div", { id: "messages" }, (info.messages ?? []).map((message) =>
          h("article", { class: `turn ${message.role === "assistant" ? "assistant" : "user"}` },
            h("p", { class: "role muted" }, message.role),
            message.role === "assistant" ? h("div", { class: "answer" }, renderMarkdown(message.content)) : h("p", null, message.content)))),
      );
    } catch (error) {
      replace(content, errorLine(describe(error)));
    }
  })();
}
