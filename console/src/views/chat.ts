// Chat: a model picker, answers streamed and rendered as sanitised Markdown, one session kept across turns, and
// under each answer its memory trace (GET /v1/chat/completions/{id}/trace): tiers, what they gave, the backend.

import { ApiFailure, currentWorkspace, describe, getJson, send, type Model, type SessionInfo, type Trace, type TraceItem, type TraceTier } from "../api";
import { errorLine, h, replace } from "../dom";
import { renderMarkdown } from "../markdown";
import { link, type Cleanup, type Route } from "../router";
import { readEvents } from "../sse";

const MODEL = "sparkctl.model";
const TRACE_TRIES = 6;
const ITEMS_SHOWN = 4;

function sessionKey(workspace: string): string {
  return `sparkctl.session.${workspace}`;
}

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const TIER_MEANING: Record<string, string> = {
  hit: "found something and it was used",
  miss: "asked, nothing relevant",
  skip: "not asked",
  timeout: "over its time budget, left out",
  down: "unreachable, left out",
  off: "turned off",
};

function itemView(item: TraceItem): HTMLElement {
  return h("li", { "data-kind": item.kind },
    h("span", { class: "kind" }, item.kind),
    " ",
    item.entity ? h("a", { href: link("graph", [], { entity: item.entity }), class: "entity" }, item.entity) : null,
    item.session ? h("a", { href: link("sessions", [item.session]), class: "session" }, item.session) : null,
    h("span", { class: "item-text" }, item.text));
}

function tierView(tier: TraceTier): HTMLElement {
  const ms = tier.ms === null ? "" : ` ${tier.ms.toFixed(1)} ms`;
  const shown = tier.items.slice(0, ITEMS_SHOWN);
  const rest = tier.items.slice(ITEMS_SHOWN);
  return h(
    "section",
    { class: "tier", "data-tier": tier.tier, "data-status": tier.status },
    h("h4", null, tier.tier, " ", h("span", { class: `status status-${tier.status}`, title: TIER_MEANING[tier.status] ?? "" }, tier.status), h("span", { class: "muted" }, ms)),
    tier.items.length ? h("ul", null, shown.map(itemView)) : h("p", { class: "muted" }, "contributed nothing"),
    rest.length ? h("details", { class: "more" }, h("summary", null, `${rest.length} more`), h("ul", null, rest.map(itemView))) : null,
  );
}

function traceView(trace: Trace): HTMLElement {
  const line = trace.tiers.map((tier) => `${tier.tier} ${tier.status}${tier.ms === null ? "" : ` ${Math.round(tier.ms)} ms`}`).join(" · ");
  return h(
    "details",
    { class: "trace", "data-completion": trace.id, open: true },
    h("summary", null, `memory: ${line} — answered by ${trace.backend}`),
    h("p", { class: "muted" }, `model ${trace.model} · backend ${trace.backend} · session ${trace.session}`),
    trace.tiers.map(tierView),
  );
}

async function fetchTrace(id: string): Promise<Trace> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await getJson<Trace>(`/v1/chat/completions/${encodeURIComponent(id)}/trace`);
    } catch (error) {
      if (!(error instanceof ApiFailure && error.status === 404) || attempt >= TRACE_TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 150 * attempt));
    }
  }
}

export function chatView(root: HTMLElement, route: Route): Cleanup {
  const workspace = currentWorkspace();
  const given = route.query.get("session");
  if (given) sessionStorage.setItem(sessionKey(workspace), given);
  const kept = sessionStorage.getItem(sessionKey(workspace));
  let session = kept ?? newSessionId();
  sessionStorage.setItem(sessionKey(workspace), session);
  const controller = new AbortController();

  const models = h("select", { id: "model", "aria-label": "model" });
  const sessionLabel = h("code", { id: "session-id" }, session);
  const transcript = h("div", { id: "transcript", "aria-live": "polite" });
  const input = h("textarea", { id: "prompt", rows: 3, placeholder: "Ask about this workspace… (Enter sends, Shift+Enter for a new line)" });
  const sendButton = h("button", { type: "submit", id: "send" }, "Send");
  const notice = h("div", { class: "notice" });

  const loadModels = async (): Promise<void> => {
    try {
      const list = await getJson<{ data: Model[] }>("/v1/models", { workspace: false });
      const saved = sessionStorage.getItem(MODEL);
      const chosen = list.data.find((m) => m.id === saved) ?? list.data[0];
      replace(models, list.data.map((m) =>
        h("option", { value: m.id, selected: m.id === chosen?.id ? true : undefined },
          m.model && m.model !== m.id ? `${m.id} (${m.model})` : m.id)));
    } catch (error) {
      replace(notice, errorLine(`Could not list the models: ${describe(error)}`));
    }
  };
  models.addEventListener("change", () => sessionStorage.setItem(MODEL, models.value));

  const loadHistory = async (): Promise<void> => {
    try {
      const info = await getJson<SessionInfo>(`/v1/sessions/${encodeURIComponent(session)}`, { signal: controller.signal });
      for (const message of info.messages ?? []) {
        transcript.append(message.role === "assistant"
          ? h("article", { class: "turn assistant" }, h("div", { class: "answer" }, renderMarkdown(message.content)))
          : h("article", { class: "turn user" }, h("p", null, message.content)));
      }
    } catch {
      // a new session has no history yet
    }
  };

  const ask = async (text: string): Promise<void> => {
    const answer = h("div", { class: "answer streaming" });
    const meta = h("div", { class: "answer-meta" });
    const turn = h("article", { class: "turn assistant" }, answer, meta);
    transcript.append(h("article", { class: "turn user" }, h("p", null, text)), turn);
    turn.scrollIntoView({ block: "end" });
    sendButton.disabled = true;
    let content = "";
    let completion: string | null = null;
    let pending = false;
    const paint = (): void => {
      pending = false;
      replace(answer, renderMarkdown(content));
    };
    try {
      const response = await send("POST", "/v1/chat/completions", {
        body: { model: models.value, messages: [{ role: "user", content: text }], stream: true },
        headers: { "X-Session-Id": session },
        signal: controller.signal,
        workspace,
      });
      completion = response.headers.get("X-Sparkctl-Completion-Id");
      for await (const event of readEvents(response, controller.signal)) {
        if (event.data === "[DONE]") break;
        const chunk = JSON.parse(event.data);
        if (chunk.error) throw new ApiFailure(502, String(chunk.error.message ?? "the answer failed"), chunk.error.code ?? null);
        completion = completion ?? chunk.id ?? null;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (typeof delta === "string" && delta) {
          content += delta;
          if (!pending) {
            pending = true;
            requestAnimationFrame(paint);
          }
        }
      }
      paint();
      answer.classList.remove("streaming");
      answer.dataset.done = "true";
      if (completion) {
        meta.append(h("p", { class: "muted" }, "Reading the memory trace…"));
        try {
          replace(meta, traceView(await fetchTrace(completion)));
        } catch (error) {
          replace(meta, errorLine(`No memory trace: ${describe(error)}`));
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      answer.classList.remove("streaming");
      meta.append(errorLine(describe(error)));
    } finally {
      sendButton.disabled = false;
    }
  };

  const form = h("form", { id: "chat-form", on: { submit: (event: SubmitEvent) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || sendButton.disabled) return;
    input.value = "";
    void ask(text);
  } } }, input, sendButton);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const fresh = h("button", { type: "button", class: "quiet", on: { click: () => {
    session = newSessionId();
    sessionStorage.setItem(sessionKey(workspace), session);
    sessionLabel.textContent = session;
    replace(transcript);
  } } }, "New session");

  root.append(
    h("h1", null, "Chat in ", h("code", null, workspace)),
    h("div", { class: "toolbar" }, h("label", null, "model ", models), h("span", null, "session ", sessionLabel), fresh),
    notice,
    transcript,
    form,
  );
  void loadModels();
  if (kept) void loadHistory();
  return () => controller.abort();
}
