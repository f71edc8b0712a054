// Jobs: the workspace's jobs live from GET /v1/jobs/events, and one job's progress from GET /v1/jobs/{id}/events.
// Both are event streams read with fetch; nothing here polls.

import { currentWorkspace, type Job } from "../api";
import { errorLine, formatCount, formatTime, h, replace } from "../dom";
import { link, type Cleanup, type Route } from "../router";
import { follow, type StreamState } from "../sse";

const KEEP = 50;

export function jobsView(root: HTMLElement, route: Route): Cleanup {
  return route.parts[0] ? jobDetail(root, route.parts[0]) : jobList(root);
}

function streamLine(): { element: HTMLElement; update: (state: StreamState, detail: string) => void } {
  const element = h("p", { class: "stream muted", "data-state": "connecting" }, "connecting…");
  const words: Record<StreamState, string> = {
    connecting: "connecting…",
    open: "live",
    retrying: "reconnecting",
    ended: "finished",
    failed: "stopped",
  };
  return {
    element,
    update: (state, detail) => {
      element.dataset.state = state;
      element.textContent = detail ? `${words[state]}: ${detail}` : words[state];
    },
  };
}

/** What is settled of a job's files: indexed, unchanged or skipped, of files_total. */
function settled(job: Job): number {
  return job.files_done + job.files_unchanged + job.files_skipped;
}

function progressBar(job: Job): HTMLElement {
  const total = job.files_total;
  const finished = job.status === "completed";
  const bar = h("progress", { max: total || 1, value: finished ? total || 1 : Math.min(settled(job), total) });
  if (!total && !finished && job.status !== "failed") bar.removeAttribute("value");
  return bar;
}

function statusBadge(status: string): HTMLElement {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

function jobList(root: HTMLElement): Cleanup {
  const workspace = currentWorkspace();
  const jobs = new Map<string, Job>();
  const body = h("tbody");
  const empty = h("p", { class: "muted" }, "No job in this workspace yet.");
  const stream = streamLine();

  const draw = (): void => {
    const newest = [...jobs.values()].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, KEEP);
    empty.hidden = newest.length > 0;
    replace(
      body,
      newest.map((job) =>
        h(
          "tr",
          { "data-job": job.id },
          h("td", null, h("a", { href: link("jobs", [job.id]) }, job.source)),
          h("td", null, job.kind),
          h("td", null, statusBadge(job.status)),
          h("td", null, progressBar(job)),
          h("td", { class: "num" }, `${formatCount(job.files_done + job.files_unchanged)}/${formatCount(job.files_total)}`),
          h("td", { class: "num" }, formatCount(job.entities)),
          h("td", { class: "num" }, formatCount(Math.max(0, job.attempts - 1))),
          h("td", null, formatTime(job.created_at)),
        ),
      ),
    );
  };

  root.append(
    h("h1", null, "Jobs in ", h("code", null, workspace)),
    stream.element,
    h(
      "table",
      { id: "jobs" },
      h("thead", null, h("tr", null,
        ["source", "kind", "status", "progress", "files", "entities", "retries", "created"].map((t) => h("th", null, t)))),
      body,
    ),
    empty,
  );
  draw();
  return follow(
    "/v1/jobs/events",
    {
      onEvent: (event) => {
        if (event.event !== "job") return;
        const job = JSON.parse(event.data) as Job;
        jobs.set(job.id, job);
        draw();
      },
      onState: stream.update,
    },
    { workspace },
  );
}

function counters(job: Job): HTMLElement {
  const rows: [string, string][] = [
    ["files", formatCount(job.files_total)],
    ["indexed", formatCount(job.files_done)],
    ["unchanged", formatCount(job.files_unchanged)],
    ["skipped", formatCount(job.files_skipped)],
    ["deleted", formatCount(job.files_deleted)],
    ["entities", formatCount(job.entities)],
    ["relations", formatCount(job.relations)],
    ["chunks", formatCount(job.chunks)],
    ["attempts", formatCount(job.attempts)],
    ["retries", formatCount(Math.max(0, job.attempts - 1))],
  ];
  return h("dl", { class: "counters" }, rows.map(([name, value]) => h("div", { "data-counter": name }, h("dt", null, name), h("dd", null, value))));
}

function skippedTables(job: Job): HTMLElement[] {
  const parts: HTMLElement[] = [];
  const reasons = Object.entries(job.skipped ?? {});
  if (reasons.length) {
    parts.push(
      h("h2", null, "Skipped, by reason"),
      h("table", { class: "compact" },
        h("tbody", null, reasons.map(([reason, count]) => h("tr", null, h("td", null, reason), h("td", { class: "num" }, formatCount(count)))))),
    );
  }
  if (job.skipped_files?.length) {
    const more = job.files_skipped - job.skipped_files.length;
    parts.push(
      h("h2", null, "Skipped and failed files"),
      h("table", { class: "compact", id: "skipped-files" },
        h("thead", null, h("tr", null, h("th", null, "file"), h("th", null, "reason"))),
        h("tbody", null, job.skipped_files.map(([file, reason]) => h("tr", null, h("td", null, h("code", null, file)), h("td", null, reason))))),
      more > 0 ? h("p", { class: "muted" }, `and ${formatCount(more)} more not named`) : h("span"),
    );
  }
  return parts;
}

function jobDetail(root: HTMLElement, id: string): Cleanup {
  const stream = streamLine();
  const content = h("div", { id: "job", "data-job": id }, h("p", { class: "muted" }, "Waiting for the job's first event…"));
  root.append(h("p", null, h("a", { href: "#/jobs" }, "← all jobs")), stream.element, content);

  const draw = (job: Job): void => {
    content.dataset.status = job.status;
    const total = job.files_total;
    replace(
      content,
      h("h1", null, job.source, " ", statusBadge(job.status)),
      h("p", { class: "muted" }, `${job.kind} job ${job.id} in workspace ${job.workspace}`),
      h("div", { class: "progress" }, progressBar(job), h("span", null, total ? `${formatCount(settled(job))} of ${formatCount(total)} files` : "counting files…")),
      job.error ? errorLine(job.error) : null,
      counters(job),
      h("p", { class: "muted" },
        `created ${formatTime(job.created_at)} · started ${formatTime(job.started_at)} · finished ${formatTime(job.finished_at)}`),
      skippedTables(job),
    );
  };

  return follow(`/v1/jobs/${encodeURIComponent(id)}/events`, {
    onEvent: (event) => {
      if (event.event === "job") draw(JSON.parse(event.data) as Job);
      return event.event === "end";
    },
    onState: (state, detail) => {
      stream.update(state, detail);
      if (state === "failed") replace(content, errorLine(detail));
    },
  }, { workspace: false });
}
