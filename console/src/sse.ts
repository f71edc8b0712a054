// Server-sent events read with fetch() and a stream reader (EventSource cannot send the Authorization header),
// and `follow`, which keeps a stream open: it reconnects with back-off until told to stop.

import { ApiFailure, describe, send, type RequestOptions } from "./api";

export interface ServerEvent {
  event: string;
  data: string;
}

/** The events of a text/event-stream response, as they arrive; comments (keep-alives) are left out. */
export async function* readEvents(response: Response, signal?: AbortSignal): AsyncGenerator<ServerEvent> {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", stop, { once: true });
  let buffer = "";
  let event = "message";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (data.length) yield { event, data: data.join("\n") };
          event = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = text;
          else if (field === "data") data.push(text);
        }
      }
    }
    if (data.length) yield { event, data: data.join("\n") };
  } finally {
    signal?.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}

export type StreamState = "connecting" | "open" | "retrying" | "ended" | "failed";

export interface FollowHandlers {
  /** Called for each event; return true when the stream has said all it will (no reconnect after it closes). */
  onEvent: (event: ServerEvent) => boolean | void;
  onState?: (state: StreamState, detail: string) => void;
}

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const FINAL_STATUSES = new Set([400, 401, 403, 404]);

/** Follow an event stream until stop() is called, an event says it is over, or the server refuses it for good. */
export function follow(path: string, handlers: FollowHandlers, options: RequestOptions = {}): () => void {
  const controller = new AbortController();
  let attempt = 0;
  const state = (value: StreamState, detail = "") => handlers.onState?.(value, detail);

  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      state("connecting");
      let over = false;
      try {
        const response = await send("GET", path, { ...options, signal: controller.signal });
        state("open");
        attempt = 0;
        for await (const event of readEvents(response, controller.signal)) {
          if (handlers.onEvent(event)) over = true;
        }
        if (over) {
          state("ended");
          return;
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiFailure && FINAL_STATUSES.has(error.status)) {
          state("failed", describe(error));
          return;
        }
        if (over) {
          state("ended");
          return;
        }
      }
      if (controller.signal.aborted) return;
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      state("retrying", `the stream closed; reconnecting in ${Math.round(delay / 1000)} s`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        controller.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
  };
  void run();
  return () => controller.abort();
}
