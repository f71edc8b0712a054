// Hash routes: #/name/part?key=value. A view draws into its root and may return what stops it (streams, graphs).

export interface Route {
  name: string;
  parts: string[];
  query: URLSearchParams;
}

export type Cleanup = () => void;
export type View = (root: HTMLElement, route: Route) => Cleanup | void;

export function currentRoute(): Route {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?", 2);
  const [name = "", ...parts] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name, parts, query: new URLSearchParams(search) };
}

/** The hash of a route, each part encoded. */
export function link(name: string, parts: string[] = [], query: Record<string, string | number> = {}): string {
  const path = [name, ...parts].map(encodeURIComponent).join("/");
  const search = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return `#/${path}${search ? `?${search}` : ""}`;
}

export function go(hash: string): void {
  if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else window.location.hash = hash;
}
