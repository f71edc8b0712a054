// The orchestrator's API as the console uses it: the key and workspace of this browser tab, OpenAI-shaped errors
// turned into ApiFailure, and the shapes of what the routes answer.

const KEY = "sparkctl.key";
const WORKSPACE = "sparkctl.workspace";
export const WORKSPACE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function keepKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}

export function currentWorkspace(): string {
  return sessionStorage.getItem(WORKSPACE) || "default";
}

export function chooseWorkspace(name: string): void {
  sessionStorage.setItem(WORKSPACE, name);
  window.dispatchEvent(new CustomEvent("sparkctl:workspace", { detail: name }));
}

export interface RequestOptions {
  body?: BodyInit | object;
  /** The X-Workspace header: the chosen workspace by default, another by name, or none with false. */
  workspace?: string | false;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses besides 2xx whose response is returned rather than thrown (/ready's 503 has a report too). */
  accept?: number[];
}

function headersFor(options: RequestOptions): Headers {
  const headers = new Headers(options.headers);
  const key = storedKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const workspace = options.workspace === undefined ? currentWorkspace() : options.workspace;
  if (workspace) headers.set("X-Workspace", workspace);
  return headers;
}

async function failure(response: Response): Promise<ApiFailure> {
  let message = `${response.status} ${response.statusText}`;
  let code: string | null = null;
  try {
    const body = await response.json();
    if (body && typeof body === "object" && body.error) {
      message = String(body.error.message ?? message);
      code = body.error.code ? String(body.error.code) : null;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    }
  } catch {
    // a body that is not JSON: the status line says what there is to say
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("sparkctl:unauthorized", { detail: message }));
  return new ApiFailure(response.status, message, code);
}

/** The response of a request, or an ApiFailure when the server refused it or could not be reached. */
export async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers = headersFor(options);
  let body: BodyInit | undefined;
  if (options.body instanceof FormData || options.body instanceof Blob || typeof options.body === "string") {
    body = options.body;
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers.set("Content-Type", "application/json");
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body, signal: options.signal, cache: "no-store" });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiFailure(0, `the orchestrator could not be reached (${String(error)})`, "unreachable");
  }
  if (!response.ok && !options.accept?.includes(response.status)) throw await failure(response);
  return response;
}

export async function getJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await send("GET", path, options)).json() as Promise<T>;
}

export async function deleteJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await send("DELETE", path, options)).json() as Promise<T>;
}

export function describe(error: unknown): string {
  if (error instanceof ApiFailure) return error.code ? `${error.message} (${error.code})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

export interface ListOf<T> {
  object?: string;
  data: T[];
}

export interface LastIngest {
  job_id: string;
  state: string;
  kind: string;
  finished_at: string | null;
  created_at: string;
}

export interface Workspace {
  name: string;
  files: number;
  entities: number;
  relations: number;
  chunks: number;
  embedder: { name: string; dimensions: number } | null;
  last_ingest: LastIngest | null;
}

export interface Job {
  id: string;
  workspace: string;
  kind: string;
  source: string;
  status: string;
  attempts: number;
  error: string | null;
  files_total: number;
  files_done: number;
  files_unchanged: number;
  files_skipped: number;
  files_deleted: number;
  skipped: Record<string, number>;
  skipped_files: [string, string][];
  entities: number;
  relations: number;
  chunks: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface EntityHit {
  id: string;
  name: string;
  type: string;
  file: string | null;
}

export interface GraphNode {
  id: string;
  label: string;
  type: string;
  file: string | null;
  line: number | null;
  degree: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  relation: string;
}

export interface Neighbourhood {
  nodes: GraphNode[];
  edges: GraphEdge[];
  truncated: boolean;
  total_nodes: number;
  total_edges: number;
}

export interface EntityDetail {
  id: string;
  name: string;
  type: string;
  description: string;
  file: string | null;
  line_start: number | null;
  line_end: number | null;
  chunks: { id: string; file: string | null; text: string; truncated?: boolean }[];
  truncated?: boolean;
}

export interface TraceItem {
  kind: string;
  text: string;
  entity: string | null;
  session: string | null;
}

export interface TraceTier {
  tier: string;
  status: string;
  ms: number | null;
  items: TraceItem[];
}

export interface Trace {
  id: string;
  session: string;
  workspace: string;
  model: string;
  backend: string;
  created: number;
  tiers: TraceTier[];
}

export interface Model {
  id: string;
  role?: string;
  model?: string;
  backend?: string;
  context?: number | null;
}

export interface SessionInfo {
  id: string;
  workspace: string;
  user_turns: number;
  summary: string | null;
  created_at: string;
  updated_at: string;
  messages?: { role: string; content: string }[];
}

export interface ModelServer {
  url: string;
  reachable: boolean;
  models: string[];
  context: Record<string, number | null>;
  error: string | null;
}

export interface Readiness {
  status: string;
  services: Record<string, string>;
  models?: ModelServer[];
  error?: { message: string };
}
